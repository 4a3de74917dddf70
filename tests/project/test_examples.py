"""The scripts in examples/ run from start to end (as ``python examples/NAME.py``)."""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _run(name, monkeypatch, capsys, *args):
    path = EXAMPLES / name
    monkeypatch.setattr(sys, "argv", [str(path), *map(str, args)])
    runpy.run_path(str(path), run_name="__main__")
    return capsys.readouterr()


def test_every_example_is_tested():
    assert sorted(p.name for p in EXAMPLES.glob("*.py")) == [
        "estimators_pipeline.py", "parameter_estimation.py", "verbagg_glmm.py"]


def test_parameter_estimation(monkeypatch, capsys, tmp_path):
    pytest.importorskip("matplotlib")
    png = tmp_path / "plots" / "convergence.png"
    out = _run("parameter_estimation.py", monkeypatch, capsys, png).out
    assert png.is_file() and png.stat().st_size > 0
    assert f"convergence plot written to {png}" in out
    for expected in ("yield ~ 1 + (1|batch)", "reaction ~ 1 + days + (1 + days|subj)",
                     "Optimizer:                LN_BOBYQA", "Optimizer:                LN_NELDERMEAD", "Return code:              FTOL_REACHED",
                     "ReMat('plate', S=1, nlev=24", "BlkDiag", "issingular(fm2): False", "issingular: True"):
        assert expected in out, expected
    import matplotlib

    assert matplotlib.get_backend().lower() == "agg"


def test_parameter_estimation_default_plot_path(monkeypatch, capsys, tmp_path):
    pytest.importorskip("matplotlib")
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", None)  # re-read TMPDIR
    out = _run("parameter_estimation.py", monkeypatch, capsys).out
    written = list(tmp_path.glob("sklmixed-*/convergence.png"))
    assert len(written) == 1 and written[0].stat().st_size > 0
    assert str(written[0]) in out


def test_verbagg_glmm(monkeypatch, capsys):
    out = _run("verbagg_glmm.py", monkeypatch, capsys).out
    assert "--- fast fit (θ only; β in PIRLS)" in out and "--- full fit (β and θ)" in out
    assert out.count("Generalized Linear Mixed Model fit by maximum likelihood (nAGQ = 1)") == 2
    assert "(nAGQ = 9)" in out
    assert "Laplace deviance 8151.4" in out and "versus 8151.58" in out


def test_estimators_pipeline(monkeypatch, capsys):
    out = _run("estimators_pipeline.py", monkeypatch, capsys).out
    assert "routing + GridSearchCV" in out and "[] (no random effects)" in out

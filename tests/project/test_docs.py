"""The documentation builds offline without warnings, and the user guide's code runs."""

from __future__ import annotations

import contextlib
import io
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
PAGES = sorted([DOCS / "index.rst", *(DOCS / "guide").glob("*.rst")])
API_OBJECTS = [
    "sklmixed.LinearMixedModel", "sklmixed.GeneralizedLinearMixedModel", "sklmixed.OptSummary",
    "sklmixed.likelihood_ratio_test", "sklmixed.LinearMixedRegressor", "sklmixed.GeneralizedMixedClassifier",
    "sklmixed.GeneralizedMixedRegressor", "sklmixed.datasets.load_dataset", "sklmixed.datasets.list_datasets",
    "sklmixed.plotting.plot_convergence", "sklmixed.plotting.caterpillar", "sklmixed.plotting.shrinkage",
    "sklmixed.formula.validate_formula",
    "sklmixed.simulate", "sklmixed.parametric_bootstrap", "sklmixed.profile", "sklmixed.confint",
    "sklmixed.predict_interval", "sklmixed.repca", "sklmixed.BlockDescription", "sklmixed.plotting.zeta_plot",
    "sklmixed.metrics.get_scorer", "sklmixed.metrics.make_scorer", "sklmixed.metrics.objective_scorer",
    "sklmixed.feature_selection.SelectFromMixedModel",
]
FIGURES = ["convergence.png", "caterpillar.png", "shrinkage.png", "shrinkage_dyestuff.png", "zeta.png",
           "bootstrap.png"]


def _python_blocks(page: Path) -> list[str]:
    """The ``.. code-block:: python`` blocks of a page, dedented."""
    blocks, lines = [], page.read_text(encoding="utf-8").splitlines()
    i = 0
    while i < len(lines):
        match = re.match(r"^(\s*)\.\. code-block:: python\s*$", lines[i])
        i += 1
        if not match:
            continue
        indent = len(match.group(1))
        body = []
        while i < len(lines) and (not lines[i].strip() or len(lines[i]) - len(lines[i].lstrip()) > indent):
            body.append(lines[i])
            i += 1
        text = "\n".join(body).strip("\n")
        width = min(len(ln) - len(ln.lstrip()) for ln in text.splitlines() if ln.strip())
        blocks.append("\n".join(ln[width:] for ln in text.splitlines()))
    return blocks


def test_sphinx_build_without_warnings(tmp_path):
    pytest.importorskip("sphinx")
    pytest.importorskip("numpydoc")
    pytest.importorskip("matplotlib")
    src, out = tmp_path / "docs", tmp_path / "html"
    shutil.copytree(DOCS, src, ignore=shutil.ignore_patterns("_build", "generated", "__pycache__"))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
           "MPLBACKEND": "Agg"}
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html", str(src),
                           str(out)], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
    seconds = time.perf_counter() - start
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "WARNING" not in proc.stderr and "ERROR" not in proc.stderr, proc.stderr
    assert seconds < 120
    assert (out / "index.html").is_file()
    for name in ("formulas", "summary", "optimizer", "singular", "glmm", "inference", "estimators", "outofcore",
                 "plotting"):
        assert (out / "guide" / f"{name}.html").is_file(), name
    for name in API_OBJECTS:
        page = out / "api" / "generated" / f"{name}.html"
        assert page.is_file(), name
    for name in FIGURES:
        image = out / "_images" / name
        assert image.is_file() and image.stat().st_size > 0, name
    api = (out / "api" / "generated" / "sklmixed.LinearMixedModel.html").read_text(encoding="utf-8")
    for member in ("fit", "refit", "condvar", "ranef", "coef_table", "var_components", "predict"):
        assert f'id="sklmixed.LinearMixedModel.{member}"' in api, member
    summary = (out / "guide" / "summary.html").read_text(encoding="utf-8")
    assert "Variance components:" in summary  # the printed output generated at build time
    estimators = (out / "guide" / "estimators.html").read_text(encoding="utf-8")
    assert "silent trap" in estimators and "GroupKFold" in estimators and "group_columns" in estimators
    assert "tqdm" in (out / "guide" / "optimizer.html").read_text(encoding="utf-8")


def test_build_is_offline_and_uses_only_sphinx_and_numpydoc():
    conf = (DOCS / "conf.py").read_text(encoding="utf-8")
    extensions = re.search(r"extensions = \[(.*?)\]", conf, flags=re.S).group(1)
    assert sorted(re.findall(r'"([^"]+)"', extensions)) == [
        "numpydoc", "sphinx.ext.autodoc", "sphinx.ext.autosummary", "sphinx.ext.mathjax"]
    assert "sphinx.ext.intersphinx" not in conf and "intersphinx_mapping" not in conf
    assert 'html_theme = "alabaster"' in conf
    makefile = (DOCS / "Makefile").read_text(encoding="utf-8")
    assert re.search(r"^html:", makefile, flags=re.M) and "-W" in makefile


def test_api_reference_lists_every_object():
    api = (DOCS / "api.rst").read_text(encoding="utf-8")
    listed = []
    module = None
    for line in api.splitlines():
        if line.startswith(".. currentmodule::"):
            module = line.split("::")[1].strip()
        elif re.match(r"^   [A-Za-z_]\w*$", line):
            listed.append(f"{module}.{line.strip()}")
    assert sorted(listed) == sorted(API_OBJECTS)


@pytest.mark.parametrize("page", PAGES, ids=[p.stem for p in PAGES])
def test_guide_code_runs(page, tmp_path, monkeypatch):
    """Each page's Python blocks run in order, in one namespace, printing nothing to the terminal."""
    blocks = _python_blocks(page)
    assert blocks, f"{page.name} has no Python code"
    if any("dask" in b for b in blocks):
        pytest.importorskip("dask.dataframe")
        pytest.importorskip("distributed")
    if any("matplotlib" in b or "sklmixed.plotting" in b for b in blocks):
        matplotlib = pytest.importorskip("matplotlib")
        matplotlib.use("Agg")
    monkeypatch.chdir(tmp_path)
    namespace = {"__name__": "__docs__"}
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        for k, block in enumerate(blocks):
            exec(compile(block, f"{page.name} block {k + 1}", "exec"), namespace)
    if "matplotlib.pyplot" in sys.modules:
        sys.modules["matplotlib.pyplot"].close("all")

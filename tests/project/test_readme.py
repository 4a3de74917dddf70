"""README.md: the Quick start commands, and the code examples actually run."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[2] / "README.md"
TEXT = README.read_text(encoding="utf-8")


def _section(title: str) -> str:
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", TEXT, flags=re.M | re.S)
    assert match, f"README has no '## {title}' section"
    return match.group(1)


def _blocks(text: str, lang: str) -> list[str]:
    return re.findall(rf"^```{lang}\n(.*?)^```", text, flags=re.M | re.S)


PYTHON_BLOCKS = _blocks(TEXT, "python")


def test_quick_start_has_exactly_the_two_commands():
    (commands,) = _blocks(_section("Quick start"), "bash")
    assert commands.splitlines() == ['pip install . && python -m sklmixed', 'pip install ".[test]" && pytest']


def test_two_short_examples():
    assert len(PYTHON_BLOCKS) == 2
    formula, estimators = PYTHON_BLOCKS
    assert "LinearMixedModel(" in formula and "LinearMixedRegressor(" in estimators
    for block in PYTHON_BLOCKS:
        assert len(block.strip().splitlines()) <= 25


@pytest.mark.parametrize("index", range(len(PYTHON_BLOCKS)), ids=["formula", "estimators"])
def test_example_runs(index, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(PYTHON_BLOCKS[index], f"README.md python block {index + 1}", "exec"), {"__name__": "__readme__"})
    assert out.getvalue().strip()


def test_feature_table_is_honest():
    table = _section("Features compared")
    header = next(line for line in table.splitlines() if line.startswith("| |"))
    for peer in ("sklmixed", "MixedModels.jl", "lme4", "statsmodels", "mixedlm"):
        assert peer in header
    rows = {line.split("|")[1].strip(): line for line in table.splitlines()
            if line.startswith("| ") and "---" not in line}
    lacking = ["Satterthwaite", "nonlinear"]
    for what in lacking:
        (row,) = [line for name, line in rows.items() if what in name]
        assert row.split("|")[2].strip().startswith("—"), f"sklmixed should be listed as lacking {what}"
    # the rows listed as present name functions that exist
    import sklmixed
    from sklmixed.glm.families import FAMILIES

    present = {"profile-likelihood": sklmixed.profile, "parametric bootstrap": sklmixed.parametric_bootstrap,
               "simulate": sklmixed.simulate, "rePCA": sklmixed.repca, "intervals of predictions": sklmixed.predict_interval}
    for what, function in present.items():
        (row,) = [line for name, line in rows.items() if what in name]
        assert row.split("|")[2].strip().startswith("yes") and callable(function), what
    (row,) = [line for name, line in rows.items() if "Gamma" in name]
    assert row.split("|")[2].strip().startswith("yes")
    assert {"gamma", "inverse_gaussian", "negative_binomial"} <= set(FAMILIES)


def test_benchmarks_section_links_the_table():
    assert "[docs/benchmarks.md](docs/benchmarks.md)" in _section("Benchmarks")

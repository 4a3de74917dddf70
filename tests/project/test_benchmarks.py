"""The benchmark command's table: ratios, objective differences and evaluation counts.

The timings themselves are measured by ``python -m benchmarks`` (never in the test suite);
these tests check what it computes from them.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the benchmarks package sits beside sklmixed
from benchmarks import run  # noqa: E402


def _row(model, sklmixed, **peers):
    tools = {"sklmixed": dict(zip(("median", "objective", "feval"), sklmixed))}
    for name, values in peers.items():
        tools[name.replace("_", "-")] = values if isinstance(values, dict) else dict(
            zip(("median", "objective", "feval"), values))
    return {"model": model, "formula": "y ~ 1 + (1|g)", "tools": tools}


def _cells(text, model):
    line = next(ln for ln in text.splitlines() if ln.startswith(f"| {model} |"))
    return [c.strip() for c in line.strip("|").split("|")]


def test_table_ratio_objective_and_evaluations():
    results = [
        _row("sleepstudy", (0.004, 1751.9393444646, 57), lme4=(0.05, 1751.9393444647, 57),
             mixedlm=(0.008, 1751.9393444632, 18)),
        _row("verbagg full", (0.7, 8151.3997197, "37+56"), lme4=(2.5, 8151.4004905, 199),
             mixedlm=(1.2, 8151.3997197, 214)),
    ]
    text = run.markdown(results, ["lme4", "mixedlm"], ["statsmodels is not installed: skipped"], rounds=5)
    head = next(ln for ln in text.splitlines() if ln.startswith("| model |"))
    assert [c.strip() for c in head.strip("|").split("|")] == [
        "model", "sklmixed", "lme4", "mixedlm", "ratio", "objective (sklmixed)", "rel. Δobjective vs best peer",
        "evals", "design evals"]
    cells = _cells(text, "sleepstudy")
    assert cells[1:4] == ["4.0 ms", "50.0 ms", "8.0 ms"]
    assert cells[4] == "0.50"  # over the fastest peer, mixedlm
    assert float(cells[6]) == pytest.approx((1751.9393444646 - 1751.9393444632) / 1751.9393444632, rel=1e-2)
    assert cells[7] == "57 / 57 / 18" and cells[8] == "57"
    cells = _cells(text, "verbagg full")
    assert cells[1:3] == ["700.0 ms", "2.50 s"] and cells[7] == "37+56 / 199 / 214" and cells[8] == "—"
    assert "- statsmodels is not installed: skipped" in text


def test_table_marks_failing_and_missing_peers():
    results = [_row("dyestuff", (0.002, 327.327, 22), lme4={"error": "RuntimeError: boom"})]
    text = run.markdown(results, ["lme4", "mixedlm"], [], rounds=3)
    cells = _cells(text, "dyestuff")
    assert cells[2:4] == ["fails", "—"]
    assert cells[4] == "nan" and cells[6] == "—"


def test_every_benchmark_model_has_its_design_count_or_none():
    labels = [label for label, *_ in run.MODELS]
    assert set(run.DESIGN_EVALS) <= set(labels)
    assert run.DESIGN_EVALS["sleepstudy"] == 57 and run.DESIGN_EVALS["insteval 1"] == 82

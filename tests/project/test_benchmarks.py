"""The benchmark command's table: ratios, objective differences and evaluation counts.

The timings themselves are measured by ``python -m benchmarks`` (never in the test suite);
these tests check what it computes from them.
"""

from __future__ import annotations

import json
import re
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


def test_construction_rows_have_no_objective_and_new_models_are_listed():
    results = [_row("insteval 2, construction", (0.4, None, None), lme4=(0.9, None, None), mixedlm=(0.5, None, None))]
    cells = _cells(run.markdown(results, ["lme4", "mixedlm"], [], rounds=5), "insteval 2, construction")
    assert cells[1:4] == ["400.0 ms", "900.0 ms", "500.0 ms"] and cells[4] == "0.80"
    assert cells[5:8] == ["—", "—", "—"]
    labels = {label: options for label, _, _, _, options in run.MODELS}
    assert labels["insteval 2, construction"] == {"construct": True}
    assert labels["verbagg full, interactions"] == {"fast": False} and run.MAX_ROUNDS["verbagg full, interactions"] < 5
    assert run.fit_peer("statsmodels", "unused.csv", "y ~ 1 + (1|g)", "gaussian", {"construct": True}) is None


def test_contended_table_compares_with_quiet_and_the_fastest_peer():
    from benchmarks import contended

    quiet = [_row("sleepstudy", (0.004, 1751.9, 57), lme4=(0.05, 1751.9, 57))]
    loaded = [_row("sleepstudy", (0.005, 1751.9, 57), lme4=(0.08, 1751.9, 57), mixedlm={"error": "boom"})]
    text = contended.markdown(quiet, loaded, ["lme4", "mixedlm"], processes=2, rounds=3)
    cells = _cells(text, "sleepstudy")
    assert cells == ["sleepstudy", "5.0 ms", "1.25", "80.0 ms", "fails", "0.06"]
    assert "2 CPU-bound processes" in text and "Threads and reproducibility" in text


def test_busy_processes_run_inside_and_are_gone_after():
    from benchmarks import contended

    with contended.busy(2) as procs:
        assert len(procs) == 2 and all(p.poll() is None for p in procs)
    assert all(p.poll() is not None for p in procs)


def test_earlier_results_are_read_in_every_format(tmp_path):
    rows = [_row("dyestuff", (0.002, 327.327, 22))]
    for name, text in [("new.json", json.dumps({"quiet": rows, "contended": rows, "scaling": []})),
                       ("list.json", json.dumps(rows)), ("lines.txt", "noise\n" + json.dumps(rows[0]) + "\n")]:
        (tmp_path / name).write_text(text)
        quiet, loaded = run._read_results(tmp_path / name)
        assert quiet == rows and loaded == (rows if name == "new.json" else None)


def test_scaling_rows_split_the_evaluation():
    from benchmarks.scaling import table_row

    row = {"design": "MovieLens-like", "formula": "r ~ 1 + (1|u) + (1|m)", "n": 1_000_209, "levels": [6040, 3706],
           "construct": 3.2, "total": 15.5, "feval": 24, "per_eval": 0.5, "update": 0.3, "factor": 0.15,
           "rest": 0.05, "peak_mb": 1058.4, "loaded": {"total": 31.0}}
    cells = [c.strip() for c in re.split(r"(?<!\\)\|", table_row(row).strip("|"))]  # escaped bars stay
    assert cells[0] == r"MovieLens-like `r ~ 1 + (1\|u) + (1\|m)`"
    assert cells[1:] == ["1,000,209", "6,040 × 3,706", "3.20 s", "15.50 s", "31.0 s", "24", "500.0 ms",
                         "300.0 ms", "150.0 ms", "50.0 ms", "1058 MB"]
    assert "fails: MemoryError" in table_row({"design": "x", "formula": "y ~ 1", "error": "MemoryError"})


def test_synthetic_movielens_has_its_shape_and_skew():
    from benchmarks.synthetic import d3_like, ml1m_like

    df = ml1m_like(seed=3, nusers=400, nmovies=150, nratings=12_000)
    assert len(df) == 12_000 and df["user"].nunique() == 400 and df["movie"].nunique() == 150
    assert not df.duplicated(["user", "movie"]).any()  # a movie is rated once by a user
    assert set(df["rating"].unique()) <= {1.0, 2.0, 3.0, 4.0, 5.0}
    activity, popularity = df["user"].value_counts(), df["movie"].value_counts()
    assert activity.min() >= 20 and activity.max() > 3 * activity.median()
    assert popularity.max() > 3 * popularity.median()
    again = ml1m_like(seed=3, nusers=400, nmovies=150, nratings=12_000)
    assert df.equals(again)
    d3 = d3_like(n=5_000, levels=(300, 20, 6))
    assert d3.shape == (5_000, 5) and d3["u"].between(0, 29).all()
    assert [d3[c].nunique() for c in "ghi"] == [300, 20, 6]

"""Scaling study: synthetic crossed and vector-valued designs from 10^4 to 10^6 observations, the
MovieLens-like and d3-like designs of MixedModels.jl's benchmarks, and a MovieLens ten times larger.

Each point runs in its own process so that its peak memory is its own. Per evaluation the
time of ``update_L`` is split by the steps of the factor's program
(:class:`sklmixed.linalg.update.Program`): *update* (Schur updates, rank updates and
products), *factor* (Cholesky factors of the diagonal blocks and of the dense tail) and *rest*
(scaling by λ, the divisions, and the objective around the factor).
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

#: (label, formula, n, levels of g, levels of h)
POINTS = [
    ("crossed", "y ~ 1 + x + (1|g) + (1|h)", 10_000, 100, 10),
    ("crossed", "y ~ 1 + x + (1|g) + (1|h)", 100_000, 1_000, 100),
    ("crossed", "y ~ 1 + x + (1|g) + (1|h)", 300_000, 3_000, 300),
    ("crossed", "y ~ 1 + x + (1|g) + (1|h)", 1_000_000, 10_000, 1_000),
    ("vector", "y ~ 1 + x + (1 + x|g)", 10_000, 100, 0),
    ("vector", "y ~ 1 + x + (1 + x|g)", 100_000, 1_000, 0),
    ("vector", "y ~ 1 + x + (1 + x|g)", 1_000_000, 10_000, 0),
]

ML1M = "rating ~ 1 + (1|user) + (1|movie)"
D3 = "y ~ 1 + u + (1+u|g) + (1+u|h) + (1+u|i)"
#: the designs of MixedModels.jl's large benchmarks (benchmarks/synthetic.py): (label, formula, generator
#: call, also under load, start of θ or None for the default)
LARGE = [
    ("MovieLens-like (ml1m)", ML1M, "ml1m_like()", True, None),
    ("d3-like", D3, "d3_like()", False, None),
    ("d3-like, slopes' λ started at 1/rms(u)", D3, "d3_like()", False, "[1, 0, 1 / np.sqrt(np.mean(df['u'] ** 2))] * 3"),
]
#: the 10x MovieLens-like design (skipped with ``--no-large``): 60,400 users x 10,000 movies, 10 M ratings
HUGE = ("MovieLens-like x10", ML1M, "ml1m_like(scale=10)", False, None)

#: bundled-data fits whose peak memory is reported: (label, dataset, formula)
DATASET_POINTS = [
    ("insteval 1", "insteval", "y ~ 1 + service + (1|s) + (1|d) + (1|dept)"),
    ("insteval 2", "insteval", "y ~ 1 + service*dept + (1|s) + (1|d)"),
]

#: where the next order of magnitude (100 M ratings) has to come from
PLAN = """### The next order of magnitude

The MovieLens-like designs above are dominated by the block of the smaller factor (movies),
which fills in completely: 3,706 x 3,706 for ml1m, 10,000 x 10,000 for ten times more data.
Its update costs the sum over users of (ratings of the user)² / 2 products (2.2e8 for ml1m,
2.4e9 at 10x): `linalg/sparse_syrk.py` does the dense part of it (the most active users, the
most popular movies) by BLAS and keeps at most `Thresholds.split_pairs` (12 M) products as
precomputed sparse coefficients; the rest goes to BLAS, which at 10x is most of it. Its
Cholesky factor costs n³/3 (3.3e11 flops at 10x). At 100 M ratings (MovieLens 32M: 200,000
users x 87,000 movies) a dense movie block would need 60 GB: the step is a change of method,
in this order:

1. **A sparse factor of the movie block.** Popular movies are rated by almost every user,
   rare ones by a handful: ordered by popularity, the filled block is a dense core plus
   sparse rows. A supernodal sparse Cholesky (CHOLMOD's, through scikit-sparse) of the whole
   random-effects system with a fill-reducing ordering keeps the dense part to that core.
   scikit-sparse is not a wheel on PyPI (it builds against a system SuiteSparse), so it can
   only be an optional extra, with the present dense tail as the fallback.
2. **A compiled sparse update.** The Σ c² / 2 products are done in NumPy as a sparse matrix
   times a vector of per-user weights, 20 bytes of storage a product; a compiled loop (as
   MixedModels.jl's) needs none, at a nanosecond a product. With the fixed dependencies
   that means Cython or a C extension in sklmixed itself.
3. **Half the memory of the dense block.** `A`'s dense tail is a full copy although a scalar
   term's diagonal block of `A` is diagonal, and `L` is stored square although only its lower
   triangle is used: a diagonal for the one and RFP storage (LAPACK's `dpftrf`) for the other
   halve what the 10x fit needs for its factor.
4. **Fewer evaluations.** Every evaluation refactors the block; BOBYQA needs 20 to 40 of them
   for two variances from lme4's start. The gradient of the profiled deviance would let a
   quasi-Newton method stop in a handful, at the cost of one solve with the factor per
   parameter and evaluation.
5. **All the cores.** The split update and the halved Cholesky factor already divide their
   work into fixed pieces; more pieces for more cores change nothing in the results.

The d3-like design is another matter: each evaluation is cheap (its filled block is 344 x 344;
the update of it from the 4,726 levels of `g` is a dense product), but BOBYQA needs about
2,000 evaluations for its nine parameters from lme4's and MixedModels' start, λ = I, because
the slopes' λ end near 0.06 while the covariate `u` runs to 29. Started with each slope's λ
at 1 / rms(u) the same fit took 886 evaluations to the same optimum (objective within 4e-11).
That start is not the default, because it leaves lme4's path (every other model's count of
evaluations would change); `fit(start=...)` takes it.
"""

_CHILD = r"""
import json, resource, statistics, sys, time, warnings
import numpy as np, pandas as pd
warnings.simplefilter("ignore")
from sklmixed import LinearMixedModel, load_dataset
from sklmixed.optim.threads import blas_limit
formula, kind, spec, start = sys.argv[1], sys.argv[2], json.loads(sys.argv[3]), sys.argv[4]
if kind == "dataset":
    df = load_dataset(spec)
elif kind == "synthetic":
    from benchmarks import synthetic
    df = eval("synthetic." + spec)
else:
    n, ng, nh = spec
    rng = np.random.default_rng(n + ng)
    df = pd.DataFrame({"x": rng.normal(size=n), "g": rng.integers(0, ng, n)})
    y = 1 + 0.5 * df["x"] + (rng.normal(size=ng) * 0.6)[df["g"]] + (rng.normal(size=ng) * 0.2)[df["g"]] * df["x"]
    if nh:
        df["h"] = rng.integers(0, nh, n)
        y = y + (rng.normal(size=nh) * 0.3)[df["h"]]
    df["y"] = y + rng.normal(size=n)
def hwm():  # this process's peak resident memory in MB (ru_maxrss also counts the parent's)
    try:
        with open("/proc/self/status") as fh:
            return next(int(l.split()[1]) for l in fh if l.startswith("VmHWM")) / 1024
    except (OSError, StopIteration):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
base = hwm()
t0 = time.perf_counter()
m = LinearMixedModel(formula, df)
built = time.perf_counter()
m.fit(progress=False, **({"start": eval(start)} if start else {}))
total = time.perf_counter() - t0
f, theta = m._factor, m.theta
prog = f._program
rounds = []
with blas_limit():
    for _ in range(5):
        t = time.perf_counter(); m.objective_at(theta); whole = time.perf_counter() - t
        f.install_theta(theta)
        parts = {"update": 0.0, "factor": 0.0}
        for step, op in zip(prog.steps, prog.ops):
            t = time.perf_counter(); op(); dt = time.perf_counter() - t
            if step in parts:
                parts[step] += dt
        t = time.perf_counter(); prog.fixed(); parts["factor"] += time.perf_counter() - t
        rounds.append((whole, parts["update"], parts["factor"]))
whole, update, factor = (statistics.median(r[i] for r in rounds) for i in range(3))
print(json.dumps({"total": total, "construct": built - t0, "per_eval": whole, "update": update, "factor": factor,
                  "rest": max(0.0, whole - update - factor), "feval": m.optsum.feval, "peak_mb": hwm(),
                  "data_mb": base, "objective": m.objective, "n": m.nobs,
                  "levels": [r.nlev for r in m.reterms]}))
"""


def run_point(formula, kind, spec, load=0, start=None):
    """One fit in a fresh process (beside ``load`` busy processes; from θ ``start``, a Python expression
    of the data ``df``): its numbers, or ``{"error": ...}``."""
    from benchmarks.contended import busy

    args = [sys.executable, "-c", _CHILD, formula, kind, json.dumps(spec), start or ""]
    with busy(load) if load else contextlib.nullcontext():
        out = subprocess.run(args, capture_output=True, text=True, cwd=ROOT, timeout=7200)
    if out.returncode != 0:
        return {"error": (out.stderr.strip().splitlines() or ["no output"])[-1]}
    return json.loads(out.stdout.strip().splitlines()[-1])


def _ms(t):
    return f"{t * 1e3:.1f} ms" if t < 10 else f"{t:.1f} s"


def table_row(row) -> str:
    """One design's line of the scaling table."""
    formula = row["formula"].replace("|", "\\|")  # a bar inside a table cell must be escaped, even in code
    name = f"{row['design']} `{formula}`"
    if "error" in row:
        return f"| {name} | | | fails: {row['error']} | | | | | | | | |"
    levels = " × ".join(f"{v:,}" for v in row["levels"])
    loaded = row.get("loaded", {})
    under = f"{loaded['total']:.1f} s" if "total" in loaded else "—"
    return (f"| {name} | {row['n']:,} | {levels} | {row['construct']:.2f} s | {row['total']:.2f} s | {under} | "
            f"{row['feval']} | {_ms(row['per_eval'])} | {_ms(row['update'])} | {_ms(row['factor'])} | "
            f"{_ms(row['rest'])} | {row['peak_mb']:.0f} MB |")


def scaling_study(outdir: Path, large: bool = False, load: int = 2):
    """The scaling section of ``docs/benchmarks.md`` and its rows."""
    rows = []
    for label, formula, n, ng, nh in POINTS:
        res = run_point(formula, "simulated", [n, ng, nh])
        rows.append({"design": label, "formula": formula, "n": n, "levels": [ng, nh] if nh else [ng], **res})
        print(json.dumps(rows[-1]), flush=True)
    for label, formula, call, also_loaded, start in LARGE + ([HUGE] if large else []):
        res = run_point(formula, "synthetic", call, start=start)
        row = {"design": label, "formula": formula, **res}
        if also_loaded and "error" not in res:
            row["loaded"] = run_point(formula, "synthetic", call, load=load, start=start)
        rows.append(row)
        print(json.dumps(row), flush=True)
    lines = ["## Scaling", "",
             "Synthetic data; every point in a fresh process. *per eval* is the median time of one objective "
             "evaluation at the optimum, split into the *update* of the blocks from the columns left of them "
             "(Schur and rank updates, products), the *factor*isations of the diagonal blocks (the dense tail's "
             "Cholesky factor) and the *rest* (scaling by λ, divisions, the objective); *peak* is the process's "
             "maximum resident memory (data included). In the crossed designs the block of the smaller "
             "grouping factor fills in and is dense: its update from the larger factor and its factorisation "
             "grow much faster than n. The vector-valued design stays block diagonal: its cost grows with n. "
             "The MovieLens-like and d3-like designs are `benchmarks/synthetic.py`'s look-alikes of "
             "MixedModels.jl's ml1m and d3 (same numbers of levels and observations); *under load* is the same "
             f"fit beside {load} CPU-bound processes.", "",
             "| design | n | levels | construction | fit (incl. construction) | under load | evals | per eval | "
             "update | factor | rest | peak memory |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    lines += [table_row(row) for row in rows]
    png = _plot([r for r in rows if r["design"] in ("crossed", "vector")], outdir)
    if png:
        lines += ["", f"![scaling]({png.name})", ""]
    lines += ["", "### Memory of the bundled large fits", "",
              "Each in a fresh process: *data* is the peak resident memory once the dataset is loaded (Python, "
              "NumPy, pandas and sklmixed imported), *peak* the peak after the fit.", "",
              "| model | fit time | evals | data | peak |", "|---|---|---|---|---|"]
    for label, dataset, formula in DATASET_POINTS:
        res = run_point(formula, "dataset", dataset)
        rows.append({"design": label, "formula": formula, **res})
        print(json.dumps(rows[-1]), flush=True)
        if "error" in res:
            lines.append(f"| {label} | fails: {res['error']} | | | |")
            continue
        lines.append(f"| {label} | {res['total']:.2f} s | {res['feval']} | {res['data_mb']:.0f} MB | "
                     f"{res['peak_mb']:.0f} MB |")
    return "\n".join(lines) + "\n\n" + PLAN, rows


def _plot(rows, outdir: Path):
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    fig, axes = plt.subplots(1, 3, figsize=(12.5, 3.6))
    for label in ("crossed", "vector"):
        pts = [r for r in rows if r["design"] == label and "error" not in r]
        if not pts:
            continue
        ns = [r["n"] for r in pts]
        axes[0].loglog(ns, [r["per_eval"] for r in pts], "o-", label=label)
        axes[1].loglog(ns, [r["total"] for r in pts], "o-", label=label)
        axes[2].semilogx(ns, [r["peak_mb"] for r in pts], "o-", label=label)
    xlabel = "observations (levels grow with them)"
    axes[0].set(xlabel=xlabel, ylabel="seconds", title="one objective evaluation")
    axes[1].set(xlabel=xlabel, ylabel="seconds", title="whole fit")
    axes[2].set(xlabel=xlabel, ylabel="MB", title="peak resident memory")
    for ax in axes:
        ax.legend()
    fig.tight_layout()
    outdir.mkdir(parents=True, exist_ok=True)
    path = outdir / "scaling.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


if __name__ == "__main__":
    print(scaling_study(ROOT / "docs", large="--no-large" not in sys.argv)[0])

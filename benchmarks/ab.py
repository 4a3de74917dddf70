"""A/B timing of two checkouts of sklmixed on the benchmark models, side by side.

``python -m benchmarks.ab OLD_TREE NEW_TREE [--rounds 5] [--models sleepstudy,insteval 1]`` fits
every model of :data:`benchmarks.run.MODELS` with each tree in turn, alternating trees within
every round (each fit in a fresh process with that tree first on ``sys.path``), and prints the
median time of each and their ratio. Use it to check that a change does not slow a model down:
a ratio above 1.10 on a quiet machine is a regression.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.run import MODELS  # noqa: E402

_CHILD = r"""
import json, sys, time, warnings
warnings.simplefilter("ignore")
sys.path.insert(0, sys.argv[1])
import sklmixed
from sklmixed import GeneralizedLinearMixedModel, LinearMixedModel, load_dataset
dataset, formula, family, options, repeats = json.loads(sys.argv[2])
data = load_dataset(dataset)
times = []
for _ in range(repeats):
    t0 = time.perf_counter()
    if family == "gaussian":
        m = LinearMixedModel(formula, data).fit(progress=False)
    else:
        m = GeneralizedLinearMixedModel(formula, data, family="bernoulli").fit(progress=False, **options)
    times.append(time.perf_counter() - t0)
assert sklmixed.__file__.startswith(sys.argv[1]), sklmixed.__file__
print(json.dumps({"time": min(times), "objective": float(m.objective), "feval": m.optsum.feval}))
"""


def _fit(tree: str, model, repeats: int) -> dict:
    _, dataset, formula, family, options = model
    out = subprocess.run([sys.executable, "-c", _CHILD, tree, json.dumps([dataset, formula, family, options, repeats])],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("old")
    parser.add_argument("new")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--models", default="", help="comma-separated labels (default: all)")
    args = parser.parse_args(argv)
    wanted = [m.strip() for m in args.models.split(",") if m.strip()]
    models = [m for m in MODELS if not wanted or m[0] in wanted]
    trees = {"old": str(Path(args.old).resolve()), "new": str(Path(args.new).resolve())}
    print("| model | old | new | new/old | objective old | objective new | evals old/new |")
    print("|---|---|---|---|---|---|---|")
    for model in models:
        repeats = 1 if model[0].startswith("insteval") or "full" in model[0] else 5
        results = {"old": [], "new": []}
        for r in range(args.rounds):
            for key in (("old", "new") if r % 2 == 0 else ("new", "old")):
                results[key].append(_fit(trees[key], model, repeats))
        med = {k: statistics.median(x["time"] for x in v) for k, v in results.items()}
        old, new = results["old"][-1], results["new"][-1]
        print(f"| {model[0]} | {med['old'] * 1e3:.1f} ms | {med['new'] * 1e3:.1f} ms | {med['new'] / med['old']:.2f} "
              f"| {old['objective']:.6f} | {new['objective']:.6f} | {old['feval']}/{new['feval']} |", flush=True)


if __name__ == "__main__":
    main()

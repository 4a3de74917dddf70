"""Speed of the parametric bootstrap per replicate against single fits, interleaved.

Usage: ``python -m benchmarks.inference [--rounds 5] [--n-boot 40]``. For each model the
rounds alternate: a bootstrap of ``n_boot`` replicates (refits from θ̂ with first steps of
θ̂/10), ``refit(y)`` of the same simulated responses from the default start (a warm model,
the factor kept), and fresh models built and fit on them. Medians per replicate are printed
with the mean number of objective evaluations, which, unlike the times, do not depend on
the load of the machine. Also the time of ``profile()`` and of its confidence intervals.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from sklmixed import LinearMixedModel, load_dataset, parametric_bootstrap, profile, simulate

MODELS = {"dyestuff": "yield ~ 1 + (1|batch)", "penicillin": "diameter ~ 1 + (1|plate) + (1|sample)",
          "sleepstudy": "reaction ~ 1 + days + (1 + days|subj)"}


def _per_replicate(model_name, rounds, n_boot):
    data = load_dataset(model_name)
    formula = MODELS[model_name]
    m = LinearMixedModel(formula, data).fit(progress=False)
    Y = simulate(m, n_boot, random_state=0)
    response = formula.split("~")[0].strip()
    times = {"bootstrap": [], "refit(y)": [], "fresh fit": []}
    evals = {"bootstrap": [], "refit(y)": [], "fresh fit": []}
    for r in range(rounds):
        start = time.perf_counter()
        boot = parametric_bootstrap(m, n_boot, random_state=r, progress=False)
        times["bootstrap"].append((time.perf_counter() - start) / n_boot)
        evals["bootstrap"].append(np.nan)  # the table keeps no evaluation counts: see refit(y, start=θ̂) below
        warm = LinearMixedModel(formula, data).fit(progress=False)
        start, fe = time.perf_counter(), []
        for y in Y:
            warm.refit(y, progress=False)
            fe.append(warm.optsum.feval)
        times["refit(y)"].append((time.perf_counter() - start) / n_boot)
        evals["refit(y)"].append(np.mean(fe))
        start, fe = time.perf_counter(), []
        for y in Y:
            fresh = LinearMixedModel(formula, data.assign(**{response: y})).fit(progress=False)
            fe.append(fresh.optsum.feval)
        times["fresh fit"].append((time.perf_counter() - start) / n_boot)
        evals["fresh fit"].append(np.mean(fe))
    step = 0.1 * np.maximum(np.abs(m.theta), 0.1)
    fe = []
    for y in Y:
        warm.refit(y, start=m.theta, initial_step=step, progress=False)
        fe.append(warm.optsum.feval)
    evals["bootstrap"] = [np.mean(fe)]
    assert boot.table["converged"].all()
    return {k: (statistics.median(v), np.nanmean(evals[k])) for k, v in times.items()}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--n-boot", type=int, default=40)
    args = parser.parse_args(argv)
    print("| model | bootstrap (per replicate) | refit(y), default start | fresh model + fit | profile + confint |")
    print("|---|---|---|---|---|")
    for name in MODELS:
        res = _per_replicate(name, args.rounds, args.n_boot)
        m = LinearMixedModel(MODELS[name], load_dataset(name)).fit(progress=False)
        start = time.perf_counter()
        profile(m).confint()
        prof = time.perf_counter() - start
        cells = [f"{t * 1e3:.2f} ms ({e:.0f} evals)" for t, e in res.values()]
        print(f"| {name} | " + " | ".join(cells) + f" | {prof:.2f} s |")


if __name__ == "__main__":
    main()

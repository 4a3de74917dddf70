"""Out-of-core fits from Dask DataFrames (issue 15): agreement with the fit in memory, and data larger than memory.

    python -m benchmarks.outofcore compare   # 10^6 rows in 8 partitions: the same model in memory and from Dask
    python -m benchmarks.outofcore big       # 10^8 rows, y ~ 1 + x + (1 + x|g) + (1|h), 10^4 x 100 levels
    python -m benchmarks.outofcore crossed   # 10^7 rows, y ~ 1 + x + (1|g) + (1|h), 10^5 x 10^3 levels
    python -m benchmarks.outofcore glmm      # 10^7 Bernoulli rows, fast fit, 10^4 x 100 levels

The data are generated per partition, seeded by the partition's number (every pass sees the
same rows), and never held whole. The runs use a ``distributed.LocalCluster`` of two worker
processes with one thread each (the machine's two cores) and a memory limit; the client's
peak memory is its process's maximum resident set, the workers' is sampled every half second.
Every run appends its record to ``benchmarks/outofcore_results.json``; the large runs show
their evaluations on stderr (tqdm).
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import sys
import threading
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sklmixed import GeneralizedLinearMixedModel, LinearMixedModel  # noqa: E402

RESULTS = ROOT / "benchmarks" / "outofcore_results.json"
#: (rows, partitions, levels of g, levels of h, random slope of x on g, Bernoulli response)
RUNS = {
    "compare": (1_000_000, 8, 2_000, 300, True, False),
    "big": (100_000_000, 100, 10_000, 100, True, False),
    "crossed": (10_000_000, 20, 100_000, 1_000, False, False),
    "glmm": (10_000_000, 20, 10_000, 100, False, True),
}


def partition(i, rows, ng, nh, slope, binary, seed=2026) -> pd.DataFrame:
    """Partition ``i``: ``rows`` rows of ``y ~ 1 + x + (1 [+ x]|g) + (1|h)``, the same on every call."""
    effects = np.random.default_rng(seed)  # the random effects, shared by every partition
    b0, b1, c = effects.normal(0, 0.8, ng), effects.normal(0, 0.3, ng), effects.normal(0, 0.5, nh)
    rng = np.random.default_rng([seed, i])
    g, h = rng.integers(0, ng, rows), rng.integers(0, nh, rows)
    x = rng.normal(size=rows)
    eta = 0.5 * x + b0[g] + c[h] + (b1[g] * x if slope else 0.0)
    y = (rng.random(rows) < 1 / (1 + np.exp(-eta))).astype(np.int8) if binary else 10 + eta + rng.normal(size=rows)
    return pd.DataFrame({"y": y, "x": x, "g": g, "h": h})


def formula(slope) -> str:
    return f"y ~ 1 + x + ({'1 + x' if slope else '1'}|g) + (1|h)"


def frame(rows, partitions, ng, nh, slope, binary):
    import dask.dataframe as dd

    size = rows // partitions
    return dd.from_map(partition, range(partitions), rows=size, ng=ng, nh=nh, slope=slope, binary=binary,
                       meta=partition(0, 0, ng, nh, slope, binary), enforce_metadata=False)


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class WorkerMemory:
    """The workers' resident memory, sampled every ``every`` seconds in a thread: the peak of each."""

    def __init__(self, client, every=0.5):
        self.client, self.every, self.peaks = client, every, {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    @staticmethod
    def _rss():
        import psutil

        return psutil.Process().memory_info().rss

    def _run(self):
        while not self._stop.is_set():
            try:
                for worker, rss in self.client.run(self._rss).items():
                    self.peaks[worker] = max(self.peaks.get(worker, 0), rss)
            except Exception:  # a worker restarting: the next sample tells
                pass
            self._stop.wait(self.every)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()

    def mb(self) -> list:
        return [round(v / 2**20) for v in self.peaks.values()]


def summary(model, seconds) -> dict:
    passes = model.passes.table()
    per = passes.groupby("name", sort=False)["seconds"].agg(["count", "median", "sum"]).round(3)
    return {"passes": int(len(passes)), "pass_seconds": per.reset_index().to_dict("records"),
            "fit_seconds": round(seconds, 2), "objective": float(model.objective), "theta": model.theta.tolist(),
            "beta": model.beta.tolist(), "evaluations": int(model.optsum.feval), "n": int(model.nobs),
            "levels": [int(r.nlev) for r in model.reterms], "level_pairs": _level_pairs(model)}


def _level_pairs(model) -> dict:
    """The distinct level pairs of every two grouping factors that occur in the data."""
    observed = model._factor.layout._a_source[1] or {}
    return {f"{model.reterms[i].name} x {model.reterms[j].name}": int(p.nnz) for (i, j), p in observed.items()}


def compare():
    """The same model fit in memory and from a Dask DataFrame of 8 partitions (on a LocalCluster)."""
    import dask.dataframe as dd
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            Client(cluster):
        return _compare(dd)


def _compare(dd):
    rows, parts, ng, nh, slope, binary = RUNS["compare"]
    data = pd.concat([partition(i, rows // parts, ng, nh, slope, binary) for i in range(parts)], ignore_index=True)
    out = {}
    for label, settings in (("default", {}), ("tight", {"ftol_rel": 1e-15, "ftol_abs": 0.0, "xtol_abs": 1e-12})):
        fits = {}
        for where, source in (("memory", data), ("dask", dd.from_pandas(data, npartitions=parts))):
            start = time.perf_counter()
            model = LinearMixedModel(formula(slope), source)
            for name, value in settings.items():
                setattr(model.optsum, name, value)
            model.fit(progress=False)
            fits[where] = (model, time.perf_counter() - start)
        mem, ooc = fits["memory"][0], fits["dask"][0]
        out[label] = {
            "seconds": {k: round(v[1], 2) for k, v in fits.items()},
            "passes": ooc.passes.table().round(3).to_dict("records"),
            "rel_objective": float((ooc.objective - mem.objective) / abs(mem.objective)),
            "max_abs_theta": float(np.max(np.abs(ooc.theta - mem.theta))),
            "max_rel_beta": float(np.max(np.abs(ooc.beta - mem.beta) / np.maximum(1.0, np.abs(mem.beta)))),
            "objective_at_same_theta": float((ooc.objective_at(mem.theta) - mem.objective) / abs(mem.objective)),
            "evaluations": [mem.optsum.feval, ooc.optsum.feval],
        }
    return {"rows": rows, "partitions": parts, "levels": [ng, nh], "formula": formula(slope), **out}


def large(name, memory_limit):
    """A fit of generated data on a LocalCluster of two worker processes."""
    from distributed import Client, LocalCluster

    rows, parts, ng, nh, slope, binary = RUNS[name]
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, memory_limit=memory_limit,
                      dashboard_address=None) as cluster, Client(cluster) as client, WorkerMemory(client) as workers:
        ddf = frame(rows, parts, ng, nh, slope, binary)
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if binary:
                model = GeneralizedLinearMixedModel(formula(slope), ddf).fit(fast=True, progress=True)
            else:
                model = LinearMixedModel(formula(slope), ddf).fit(progress=True)
        seconds = time.perf_counter() - start
        built = sum(s for n, s, _ in model.passes.entries)
    record = summary(model, seconds)
    record.update({"rows": rows, "partitions": parts, "formula": formula(slope), "pass_total_seconds": round(built, 2),
                   "client_peak_mb": round(peak_rss_mb()), "worker_peak_mb": workers.mb(),
                   "worker_memory_limit": memory_limit, "factor_mb": round(_factor_bytes(model) / 2**20, 1)})
    return record


def _factor_bytes(model) -> int:
    """The bytes of the factor's blocks (``A`` and ``L``): what the client holds besides Python itself."""
    total = 0
    for matrix in (model._factor.A, model._factor.L):
        for row in matrix:
            for blk in row:
                data = getattr(blk, "data", blk)
                total += getattr(data, "nbytes", 0) if data is not None else 0
    tail = model._factor.tail
    return total + (tail.A.nbytes + tail.L.nbytes if tail is not None else 0)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", choices=sorted(RUNS))
    parser.add_argument("--memory-limit", default="8GB", help="per worker (default 8GB)")
    args = parser.parse_args(argv)
    record = compare() if args.run == "compare" else large(args.run, args.memory_limit)
    record.update({"run": args.run, "date": time.strftime("%Y-%m-%d %H:%M"), "machine": platform.platform(),
                   "python": platform.python_version()})
    results = json.loads(RESULTS.read_text()) if RESULTS.is_file() else []
    results.append(record)
    RESULTS.write_text(json.dumps(results, indent=1) + "\n")
    print(json.dumps(record, indent=1))


if __name__ == "__main__":
    main()

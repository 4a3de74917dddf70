r"""A pass over the partitions: one function per partition, a tree reduction, one result.

Every out-of-core computation is a *pass*: a function maps each partition (a pandas
DataFrame, or arrays persisted in the workers' memory) to a small summary, and the summaries
are added pairwise, ``split_every`` at a time, in a tree whose root alone reaches the client.
What travels is therefore the summaries (their size depends on the numbers of levels and of
level pairs, never on the number of rows), and the client holds one of them at a time. The
function and the objects it needs are shipped once per pass, as one task of the graph.

Dask is imported when a pass runs, not before: ``import sklmixed`` works without it.
:class:`PassLog` records every pass with its wall time, for the model's ``passes`` report.

Examples
--------
>>> log = PassLog()
>>> log.record("levels", 1.5, 8)
>>> log.record("cross-products", 2.25, 8)
>>> len(log), log.seconds
(2, 3.75)
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import pandas as pd

__all__ = ["PassLog", "require_dask", "run_pass", "persist_pass", "tree_reduce", "partitions", "SPLIT_EVERY"]

#: how many summaries one reduction task adds (dask's own default for its tree reductions)
SPLIT_EVERY = 8


def require_dask():
    """``(dask, dask.dataframe)``, or an ``ImportError`` that says how to install them."""
    try:
        import dask
        import dask.dataframe as dd
    except ImportError as err:  # pragma: no cover - the test extras install dask
        raise ImportError("fitting a model to a Dask DataFrame needs dask[dataframe]: "
                          'pip install "sklmixed[dask]"') from err
    return dask, dd


@dataclass
class PassLog:
    """The passes over the data a model made: name, wall time in seconds and partitions of each."""

    entries: list = field(default_factory=list)

    def record(self, name: str, seconds: float, npartitions: int) -> None:
        self.entries.append((str(name), float(seconds), int(npartitions)))

    def __len__(self) -> int:
        return len(self.entries)

    @property
    def seconds(self) -> float:
        """Total wall time of the passes."""
        return float(sum(s for _, s, _ in self.entries))

    def table(self) -> pd.DataFrame:
        """One row per pass: ``name``, ``seconds``, ``partitions``."""
        return pd.DataFrame(self.entries, columns=["name", "seconds", "partitions"])

    def __repr__(self) -> str:
        return f"PassLog({len(self)} passes, {self.seconds:.3g} s)"


def partitions(data) -> list:
    """The partitions of a Dask DataFrame as a list of delayed pandas DataFrames."""
    return list(data.to_delayed())


def _apply(chunk, shared):
    chunk_fn, args = shared
    return chunk_fn(chunk, *args)


def _combine(combine, *parts):
    out = None
    for part in parts:
        if part is None:
            continue
        out = part if out is None else combine(out, part)
    return out


def tree_reduce(values: list, combine, split_every: int = SPLIT_EVERY):
    """The delayed sum (by ``combine``, in order) of delayed ``values``, ``split_every`` at a time.

    ``None`` stands for an empty partition and is skipped.
    """
    dask, _ = require_dask()
    if not values:
        return dask.delayed(None)
    level = list(values)
    while len(level) > 1:
        level = [dask.delayed(_combine, pure=False)(combine, *level[i:i + split_every])
                 for i in range(0, len(level), split_every)]
    return level[0]


def run_pass(log: PassLog, name: str, chunks: list, chunk_fn, combine, *shared, split_every: int = SPLIT_EVERY):
    """Map ``chunk_fn(chunk, *shared)`` over the delayed ``chunks``, reduce by ``combine``, compute.

    The ``shared`` objects become one task each (shipped once to every worker that needs them).
    """
    dask, _ = require_dask()
    start = time.perf_counter()
    shared = dask.delayed((chunk_fn, shared), pure=False, traverse=False)  # one task: every worker fetches it once
    mapped = [dask.delayed(_apply, pure=False)(chunk, shared) for chunk in chunks]
    (result,) = dask.compute(tree_reduce(mapped, combine, split_every), optimize_graph=False)
    log.record(name, time.perf_counter() - start, len(chunks))
    return result


def persist_pass(log: PassLog, name: str, chunks: list, chunk_fn, *shared) -> list:
    """Map ``chunk_fn(chunk, *shared)`` over ``chunks`` and keep the results in the workers' memory.

    Returns the persisted results (delayed objects) for later passes; waits until they are
    computed, so that the pass is timed (and a failing partition raises at the next pass).
    """
    dask, _ = require_dask()
    start = time.perf_counter()
    shared = dask.delayed((chunk_fn, shared), pure=False, traverse=False)
    persisted = list(dask.persist(*[dask.delayed(_apply, pure=False)(chunk, shared) for chunk in chunks]))
    try:
        from distributed import default_client, futures_of, wait

        default_client()
    except (ImportError, ValueError):  # no cluster: dask.persist computed them already
        pass
    else:
        wait(futures_of(persisted))
    log.record(name, time.perf_counter() - start, len(chunks))
    return persisted

"""The contended mode of ``python -m benchmarks``: every model again beside CPU-bound processes.

A fit on a laptop or in a search with ``n_jobs`` shares the cores with other busy processes.
:func:`busy` starts ``processes`` Python loops (``while True: pass``) and stops them, by
their process ids, when the block ends; :func:`markdown` tabulates the medians measured
beside them next to the quiet ones.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time

from benchmarks.table import fmt_time, peer_cells

__all__ = ["busy", "markdown", "THREADS"]

#: what the tables assume of threads, and when the bits of a fit can differ
THREADS = """### Threads and reproducibility

Inside every fit, and while a model is built, BLAS runs on one thread, whatever the size of
the blocks: a multithreaded OpenBLAS gains nothing on the small and medium blocks of these
models, and its workers spin against the other processes of a busy machine (a sleepstudy fit
took 1.3 s instead of 10 ms beside two busy processes). The limit is process-wide and counted:
fits that overlap in threads (a search with `n_jobs` on joblib's threading backend) share it,
and the last to leave restores the limits the first found, in whatever order they finish.

The few kernels worth more cores (the split Schur update of a large crossed scalar term, the
Cholesky factor of a dense block of order 1,500 or more, the independent blocks of a large
factor) cut their work into pieces fixed by the shape of the problem and share them between
the calling thread and a pool of workers: up to `SKLMIXED_NUM_THREADS` threads
(`sklmixed.optim.threads.use_threads(n)` in code), by default the cores the process may run
on. The pieces are the same whatever the number of threads and whatever the load, so a fit
gives the same bits on a quiet and on a busy machine and with any thread setting. Bits can
differ between machines and BLAS builds (another OpenBLAS kernel for another CPU), between
sklmixed versions, and when a change of the data moves a block across a storage threshold;
never because of the load or of the number of threads.
"""


@contextlib.contextmanager
def busy(processes: int = 2):
    """Run ``processes`` CPU-bound processes while the block runs."""
    procs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(processes)]
    try:
        time.sleep(0.5)  # let them reach the scheduler before the first fit
        yield procs
    finally:
        for p in procs:
            p.kill()
        for p in procs:
            p.wait()


def markdown(quiet, loaded, peers, processes, rounds) -> str:
    """The table of the contended run: each tool's median beside ``processes`` busy processes,
    sklmixed's over its quiet median, and sklmixed's over the fastest peer's under the same load."""
    quiet_sk = {row["model"]: row["tools"].get("sklmixed", {}).get("median") for row in quiet}
    lines = ["## Under load", "",
             f"The same fits with {processes} CPU-bound processes (`python -c \"while True: pass\"`) running beside "
             f"them, median of {rounds} rounds; every tool meets the same load. "
             "*× quiet* is sklmixed's median under load over its quiet median above (a single-threaded process "
             f"that shares 2 cores with {processes} busy ones gets about 2/3 of a core: 1.5 is what the "
             "scheduler alone costs); *ratio* is sklmixed's median over the fastest peer's under the same load.", ""]
    head = ["model", "sklmixed", "× quiet"] + list(peers) + ["ratio"]
    lines.append("| " + " | ".join(head) + " |")
    lines.append("|" + "---|" * len(head))
    for row in loaded:
        t = row["tools"]
        sk = t.get("sklmixed", {}).get("median")
        base = quiet_sk.get(row["model"])
        cells = [row["model"], fmt_time(sk) if sk else "—", f"{sk / base:.2f}" if sk and base else "—"]
        peer, peer_times, _ = peer_cells(t, peers)
        cells += peer
        cells.append(f"{sk / min(peer_times):.2f}" if sk and peer_times else "—")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n\n" + THREADS

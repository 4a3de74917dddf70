"""How many BLAS threads a fit may use: none of the cores other processes are busy with."""

from __future__ import annotations

import contextlib
import os

__all__ = ["blas_threads", "blas_limit"]

_CONTROLLER = None


#: below this order no dense block makes BLAS start threads: leave its settings alone
_THREADS_IRRELEVANT = 128


#: from this order on a second BLAS thread pays, if a core is free
_THREADS_PAY = 1000


def blas_threads(largest_dense: int):
    """How many BLAS threads a fit whose largest dense block has this order should use.

    Small blocks: leave BLAS alone (``None``). Medium blocks: one thread. Large blocks: the
    cores nobody else is using. A multithreaded BLAS competing with other busy processes
    spins: on a busy 2-core machine one 1128 x 1128 Cholesky took 1.6 s with two threads
    against 13 ms with one, while on an idle machine two threads take 9 ms.
    """
    if largest_dense < _THREADS_IRRELEVANT:
        return None
    if largest_dense < _THREADS_PAY:
        return 1
    return max(1, (os.cpu_count() or 1) - _other_runnable())


def _own_runnable() -> int:
    """Threads of this process that are running or runnable now (Linux; 1 elsewhere).

    BLAS worker threads spin for a while after each call: they show up as runnable in
    ``/proc/loadavg``, but they are this process's own, and the cores they hold are the
    ones a new BLAS call would use.
    """
    count = 0
    try:
        for tid in os.listdir("/proc/self/task"):
            try:
                with open(f"/proc/self/task/{tid}/stat") as fh:
                    # the state follows the parenthesised command name, which may hold spaces
                    count += fh.read().rsplit(")", 1)[1].split()[0] == "R"
            except (OSError, IndexError):
                continue
    except OSError:
        return 1
    return max(count, 1)


def _other_runnable() -> int:
    """Runnable tasks on the machine other than this process's (Linux), else the load average."""
    try:
        with open("/proc/loadavg") as fh:
            running = int(fh.read().split()[3].split("/")[0])
        return max(0, running - _own_runnable())
    except (OSError, ValueError, IndexError):
        try:
            return int(round(os.getloadavg()[0]))
        except (AttributeError, OSError):
            return os.cpu_count() or 1


def blas_limit(largest_dense: int):
    """A context limiting BLAS threads as :func:`blas_threads` says, for a whole fit."""
    threads = blas_threads(largest_dense)
    if threads is None:
        return contextlib.nullcontext()
    return _blas_controller().limit(limits=threads, user_api="blas")


def _blas_controller():
    """One threadpoolctl controller: finding the BLAS libraries costs milliseconds."""
    global _CONTROLLER
    if _CONTROLLER is None:
        from threadpoolctl import ThreadpoolController

        _CONTROLLER = ThreadpoolController()
    return _CONTROLLER

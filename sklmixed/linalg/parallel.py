r"""Threads in the factor: BLAS on one, and a fixed split of the large dense work over a few.

A multithreaded BLAS hurts a mixed model in two ways. Small and medium blocks (a 38 x 38
``dtrmm``, a 39-column ``X'WX``) gain nothing from threads, and when other processes keep the
cores busy the workers of OpenBLAS spin waiting for each other: a sleepstudy fit took 1.3 s
instead of 10 ms on a 2-core machine beside two busy processes. And a threaded BLAS may sum
in another order with another number of threads, so that results would depend on the load.

So while the factor works (:func:`one_blas_thread`, which every fit enters too) BLAS runs
on one thread, whatever the size of the blocks, and the few kernels worth running on several
cores (the Schur update and the Cholesky factor of a large dense block, :func:`parallel_map`)
cut their work into pieces fixed by the shape of the problem alone, which the caller and the
workers of one process-wide pool share. The pieces are the same with 1 thread or 8, so the
bits are too: a fit gives the same result on a quiet and on a busy machine, and with any
:func:`use_threads` setting. Waiting workers block instead of spinning, so a busy machine
slows a fit down no more than its share of the cores.

The BLAS limit is process-wide (BLAS has no other) and counted: fits that overlap in several
threads (a search with ``n_jobs`` on joblib's threading backend) share it, the first sets it
and the last to leave restores the limits it found, in whatever order they finish. A
``threadpoolctl`` limit entered by other code in another thread while a fit runs restores, on
its way out, what it found (one thread): process-wide settings cannot nest across threads.

Examples
--------
>>> from sklmixed.linalg.parallel import one_blas_thread, parallel_map, use_threads
>>> with one_blas_thread():
...     parallel_map([lambda: 1 + 1, lambda: 2 * 3])
[2, 6]
>>> with use_threads(1):
...     parallel_map([lambda: "serial"])
['serial']
"""

from __future__ import annotations

import contextlib
import contextvars
import os
import threading

__all__ = ["one_blas_thread", "num_threads", "use_threads", "workers", "parallel_map", "WORKERS_PAY"]

#: from this order on a dense block's work is split over the worker threads
WORKERS_PAY = 1500

_SETTING: contextvars.ContextVar[int | None] = contextvars.ContextVar("sklmixed_threads", default=None)


class _OneBlasThread:
    """The process-wide, counted limit of BLAS to one thread (a singleton: see :func:`one_blas_thread`)."""

    def __init__(self):
        self._lock = threading.Lock()
        self._depth = 0
        self._saved = []  # (library controller, threads it had) of the first entrant
        self._libraries = None
        self._local = threading.local()  # how deep the current thread is inside

    def _blas(self):
        """``(get, set)`` of the thread count of every BLAS library loaded, found once
        (threadpoolctl takes milliseconds to look)."""
        if self._libraries is None:
            from threadpoolctl import ThreadpoolController

            self._libraries = [_thread_count(lib) for lib in ThreadpoolController().lib_controllers
                               if lib.user_api == "blas"]
        return self._libraries

    def held(self) -> bool:
        """Whether the current thread is inside already (then entering again is not needed)."""
        return getattr(self._local, "depth", 0) > 0

    def __enter__(self):
        self._local.depth = getattr(self._local, "depth", 0) + 1
        with self._lock:
            if self._depth == 0:
                self._saved = [(set_threads, get_threads()) for get_threads, set_threads in self._blas()]
                for set_threads, threads in self._saved:
                    if threads != 1:
                        set_threads(1)
            self._depth += 1
        return self

    def __exit__(self, *exc):
        self._local.depth -= 1
        with self._lock:
            self._depth -= 1
            if self._depth == 0:
                for set_threads, threads in self._saved:
                    if threads != 1:
                        set_threads(threads)
                self._saved = []
        return False

    @property
    def depth(self) -> int:
        """How many fits are inside the limit now (all threads)."""
        return self._depth

    def _after_fork(self):
        # a fork inside a fit of another thread: the child has no such fit, and its lock may be held
        self._lock = threading.Lock()
        self._local = threading.local()
        saved, self._saved, self._depth = self._saved, [], 0
        for set_threads, threads in saved:
            if threads != 1:
                set_threads(threads)


def _thread_count(lib):
    """``(get, set)`` of a BLAS library's process-wide thread count.

    OpenBLAS's own functions, called directly: threadpoolctl lets only one thread of the
    process (the first to use it) change OpenBLAS's limit and silently ignores the others,
    which would leave a fit in a worker thread (joblib's threading backend) with a threaded
    BLAS. Other libraries through threadpoolctl.
    """
    if lib.internal_api == "openblas" and getattr(lib, "threading_layer", None) != "openmp":
        for prefix in ("", "scipy_"):
            for suffix in ("", "64_", "_64"):
                get = getattr(lib.dynlib, f"{prefix}openblas_get_num_threads{suffix}", None)
                put = getattr(lib.dynlib, f"{prefix}openblas_set_num_threads{suffix}", None)
                if get is not None and put is not None:
                    return get, put
    return (lambda: lib.num_threads), lib.set_num_threads


_ONE_BLAS_THREAD = _OneBlasThread()


def one_blas_thread():
    """A context with BLAS on one thread while inside, restored by the last to leave.

    Re-entrant and thread-safe (one process-wide counter); entering costs a few microseconds
    when nothing else is inside, and well under one nested.
    """
    return _ONE_BLAS_THREAD


def _usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _from_environment():
    value = os.environ.get("SKLMIXED_NUM_THREADS", "").strip()
    if not value:
        return None
    try:
        threads = int(value)
    except ValueError:
        raise ValueError(f"SKLMIXED_NUM_THREADS must be a positive integer, got {value!r}") from None
    if threads < 1:
        raise ValueError(f"SKLMIXED_NUM_THREADS must be a positive integer, got {value!r}")
    return threads


def num_threads() -> int:
    """Threads a large kernel may use: :func:`use_threads`, else ``SKLMIXED_NUM_THREADS``, else the
    cores this process may run on. Changes speed only, never results."""
    setting = _SETTING.get()
    if setting is None:
        setting = _from_environment()
    return setting if setting is not None else _usable_cores()


@contextlib.contextmanager
def use_threads(threads: int):
    """Let the large kernels of fits run inside use at most ``threads`` threads (1: all serial).

    Scoped to the current thread or task, like :func:`~sklmixed.linalg.symbolic.use_thresholds`.
    """
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise ValueError(f"threads must be a positive integer, got {threads!r}")
    token = _SETTING.set(threads)
    try:
        yield threads
    finally:
        _SETTING.reset(token)


def workers(order: int) -> int:
    """Threads worth using for the work on a dense block of this order: 1 below :data:`WORKERS_PAY`."""
    return 1 if order < WORKERS_PAY else max(1, num_threads())


class _Pool:
    """One pool of worker threads for the process, made when first needed (again after a fork)."""

    def __init__(self):
        self._lock = threading.Lock()
        self._executor = None
        self._pid = None
        self._size = 0

    def executor(self, size: int):
        with self._lock:
            if self._executor is None or self._pid != os.getpid() or self._size < size:
                from concurrent.futures import ThreadPoolExecutor

                old = self._executor if self._pid == os.getpid() else None
                self._executor = ThreadPoolExecutor(max_workers=size, thread_name_prefix="sklmixed")
                self._pid, self._size = os.getpid(), size
                if old is not None:
                    old.shutdown(wait=False)
            return self._executor


_POOL = _Pool()


def parallel_map(tasks, threads: int | None = None) -> list:
    """Run functions of no arguments, each once, on up to ``threads`` threads; their results in order.

    The caller and ``threads - 1`` workers of the pool take the tasks in turn; the caller
    keeps taking them until none is left (a pool busy with another fit's tasks delays
    nothing) and then waits (blocking, not spinning) for the ones still running.
    Tasks must not depend on one another or write to the same memory: whatever thread runs
    which, the results are the same. ``threads`` defaults to :func:`num_threads`.
    """
    tasks = list(tasks)
    threads = min(num_threads() if threads is None else threads, _usable_cores(), len(tasks))
    if threads <= 1:
        return [task() for task in tasks]
    results = [None] * len(tasks)
    errors = []
    taken = iter(range(len(tasks)))
    lock = threading.Lock()

    def runner():
        while True:
            with lock:
                index = next(taken, None)
            if index is None:
                return
            try:
                results[index] = tasks[index]()
            except BaseException as err:  # noqa: BLE001  re-raised in the caller, first by task order
                errors.append((index, err))

    pool = _POOL.executor(threads - 1)
    helpers = [pool.submit(runner) for _ in range(threads - 1)]
    runner()
    for helper in helpers:
        if not helper.cancel():  # a helper that never started (the pool was busy) is not waited for
            helper.result()
    if errors:
        raise min(errors, key=lambda e: e[0])[1]
    return results


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_ONE_BLAS_THREAD._after_fork)

"""The thread policy of a fit: BLAS on one thread, large dense kernels split over a few.

Every fit runs inside :func:`blas_limit`. Why, and how the large kernels use more cores
without making results depend on the load or the number of threads, is in
:mod:`sklmixed.linalg.parallel`; :func:`~sklmixed.linalg.parallel.use_threads` and the
environment variable ``SKLMIXED_NUM_THREADS`` cap the threads (speed only: the bits of a fit
are the same with any setting).

Examples
--------
>>> import threadpoolctl
>>> from sklmixed.optim.threads import blas_limit
>>> before = [lib["num_threads"] for lib in threadpoolctl.threadpool_info() if lib["user_api"] == "blas"]
>>> with blas_limit():
...     inside = {lib["num_threads"] for lib in threadpoolctl.threadpool_info() if lib["user_api"] == "blas"}
>>> inside <= {1}
True
>>> [lib["num_threads"] for lib in threadpoolctl.threadpool_info() if lib["user_api"] == "blas"] == before
True
"""

from __future__ import annotations

import functools

from ..linalg.parallel import num_threads, one_blas_thread, use_threads

__all__ = ["blas_limit", "blas_threads", "num_threads", "use_threads", "one_blas_thread_during"]


def blas_limit(largest_dense: int = 0):
    """The context a fit runs in: BLAS on one thread, whatever the size of its blocks.

    Re-entrant, thread-safe and counted process-wide (:func:`~sklmixed.linalg.parallel.one_blas_thread`):
    the last fit to leave restores the limits the first one found. ``largest_dense`` is the
    order of the largest dense block of the fit's factor, kept for callers that pass it.
    """
    return one_blas_thread()


def blas_threads(largest_dense: int = 0) -> int:
    """BLAS threads inside a fit: 1 for every block size (large blocks split their work instead)."""
    return 1


def one_blas_thread_during(function):
    """Decorate a function (a model's constructor, say) to run inside :func:`blas_limit`.

    Building a model multiplies tall matrices (the rank check of ``X``, ``X'WX``, the GLM
    that starts a GLMM): a threaded BLAS spins on them on a busy machine as it does in a fit.
    """
    @functools.wraps(function)
    def inside(*args, **kwargs):
        with one_blas_thread():
            return function(*args, **kwargs)
    return inside

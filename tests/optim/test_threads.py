"""The thread policy of a fit: BLAS on one thread inside, the limits found restored, by any
interleaving of fits in threads; large kernels split over workers with the same bits."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import threadpoolctl

from sklmixed import LinearMixedModel, load_dataset
from sklmixed.linalg import parallel
from sklmixed.optim import threads


def _blas_threads():
    return [lib["num_threads"] for lib in threadpoolctl.threadpool_info() if lib["user_api"] == "blas"]


@pytest.fixture
def two_blas_threads():
    """BLAS allowed two threads, as on a 2-core machine (whatever this one has)."""
    with threadpoolctl.threadpool_limits(limits=2, user_api="blas"):
        assert set(_blas_threads()) == {2}
        yield


def test_blas_runs_on_one_thread_inside_and_the_limits_are_restored(two_blas_threads):
    assert threads.blas_threads(10) == threads.blas_threads(5000) == 1
    with threads.blas_limit(38):
        assert set(_blas_threads()) == {1}
        with threads.blas_limit(5000):  # nested: still one, and leaving it keeps one
            assert set(_blas_threads()) == {1}
        assert set(_blas_threads()) == {1}
    assert set(_blas_threads()) == {2}


def test_overlapping_fits_in_threads_restore_in_any_order(two_blas_threads):
    """A enters, B enters, A leaves first: B still runs on one thread, and B's exit restores 2
    (threadpoolctl's own contexts would restore A's "2" under B, then B's "1" for good)."""
    a_in, b_in, a_out, seen = threading.Event(), threading.Event(), threading.Event(), {}

    def fit_a():
        with threads.blas_limit():
            a_in.set()
            b_in.wait(5)
        a_out.set()

    def fit_b():
        a_in.wait(5)
        with threads.blas_limit():
            b_in.set()
            a_out.wait(5)
            seen["b after a left"] = set(_blas_threads())

    workers = [threading.Thread(target=fit_a), threading.Thread(target=fit_b)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(10)
    assert seen["b after a left"] == {1}
    assert set(_blas_threads()) == {2}
    assert parallel.one_blas_thread().depth == 0


def test_concurrent_fits_agree_bit_for_bit_and_leave_the_limits(two_blas_threads):
    data = load_dataset("sleepstudy")
    formula = "reaction ~ 1 + days + (1 + days|subj)"
    alone = LinearMixedModel(formula, data).fit(progress=False)
    with ThreadPoolExecutor(4) as pool:
        fits = list(pool.map(lambda _: LinearMixedModel(formula, data).fit(progress=False), range(8)))
    for m in fits:
        assert m.objective == alone.objective
        np.testing.assert_array_equal(m.theta, alone.theta)
    assert set(_blas_threads()) == {2}


def test_factor_evaluations_outside_a_fit_use_one_blas_thread(two_blas_threads, monkeypatch):
    m = LinearMixedModel("reaction ~ 1 + days + (1 + days|subj)", load_dataset("sleepstudy"))
    seen = []
    program = m._factor._program
    monkeypatch.setattr(m._factor, "_program", type(program)(program.ops + (lambda: seen.append(set(_blas_threads())),),
                                                              program.fixed, program.refresh))
    m.objective_at(np.array([1.0, 0.0, 1.0]))
    assert seen == [{1}]
    assert set(_blas_threads()) == {2}


def test_parallel_map_keeps_the_order_and_raises_the_first_error():
    assert parallel.parallel_map([lambda i=i: i * i for i in range(7)], threads=2) == [i * i for i in range(7)]
    assert parallel.parallel_map([], threads=2) == []

    def boom(i):
        raise RuntimeError(f"task {i}")

    with pytest.raises(RuntimeError, match="task 1"):
        parallel.parallel_map([lambda: 0, lambda: boom(1), lambda: boom(2)], threads=2)


def test_thread_settings_are_validated_and_scoped(monkeypatch):
    for bad in (0, -1, 1.5, True, "2"):
        with pytest.raises(ValueError, match="positive integer"):
            with threads.use_threads(bad):
                pass
    with threads.use_threads(1):
        assert threads.num_threads() == 1 and parallel.workers(10**5) == 1
    assert parallel.workers(parallel.WORKERS_PAY - 1) == 1  # small blocks never split
    monkeypatch.setenv("SKLMIXED_NUM_THREADS", "3")
    assert threads.num_threads() == 3
    with threads.use_threads(2):  # the context wins over the environment
        assert threads.num_threads() == 2
    monkeypatch.setenv("SKLMIXED_NUM_THREADS", "many")
    with pytest.raises(ValueError, match="SKLMIXED_NUM_THREADS"):
        threads.num_threads()

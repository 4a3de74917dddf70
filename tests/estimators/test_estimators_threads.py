"""Concurrent fits: in threads (joblib's threading backend, ``n_jobs`` in searches) and in processes
they give the estimates of fits run one after the other, and leave the process's BLAS settings
as they found them.

The model has two crossed factors whose Cholesky factor has a dense block of order 143, so
every fit limits the BLAS threads while it runs (``sklmixed.optim.threads``).
"""

import contextlib
import threading

import numpy as np
import pandas as pd
import pytest
from joblib import parallel_backend
from sklearn.model_selection import GridSearchCV, KFold, cross_validate
from threadpoolctl import threadpool_info, threadpool_limits

import sklmixed.models.linear
from sklmixed import LinearMixedRegressor

GRID = {"optimizer": ["LN_BOBYQA", "LN_NELDERMEAD"], "reml": [False, True]}


@pytest.fixture(scope="module")
def crossed():
    rng = np.random.default_rng(1)
    n, na, nb = 2000, 200, 140
    a, b = rng.integers(0, na, n), rng.integers(0, nb, n)
    X = pd.DataFrame({"x": rng.normal(size=n), "a": a, "b": b})
    y = X["x"] + rng.normal(0, 1, na)[a] + rng.normal(0, 1, nb)[b] + rng.normal(size=n)
    return X, y


def _estimator():
    return LinearMixedRegressor(group_columns=["a", "b"], new_levels="population")


def _blas_limits():
    return [(info["filepath"], info["num_threads"]) for info in threadpool_info() if info["user_api"] == "blas"]


def test_the_model_limits_blas_threads(crossed):
    X, y = crossed
    assert _estimator().fit(X, y).model_._factor.largest_dense >= 128


def test_concurrent_search_in_threads_equals_sequential_search(crossed):
    """With one BLAS thread throughout, nothing but shared state could make the results differ."""
    X, y = crossed
    with threadpool_limits(limits=1, user_api="blas"):
        sequential = GridSearchCV(_estimator(), GRID, cv=KFold(3)).fit(X, y)
        with parallel_backend("threading", n_jobs=2):
            threaded = GridSearchCV(_estimator(), GRID, cv=KFold(3), n_jobs=2).fit(X, y)
    for key in [k for k in sequential.cv_results_ if k.startswith("split")]:
        np.testing.assert_array_equal(threaded.cv_results_[key], sequential.cv_results_[key], err_msg=key)
    np.testing.assert_array_equal(threaded.best_estimator_.theta_, sequential.best_estimator_.theta_)
    np.testing.assert_array_equal(threaded.predict(X), sequential.predict(X))


def test_concurrent_fits_in_processes_equal_sequential_fits(crossed):
    X, y = crossed
    one = cross_validate(_estimator(), X, y, cv=KFold(2), return_estimator=True)
    two = cross_validate(_estimator(), X, y, cv=KFold(2), return_estimator=True, n_jobs=2)
    np.testing.assert_array_equal(two["test_score"], one["test_score"])
    for a, b in zip(one["estimator"], two["estimator"]):  # these came back pickled: lean, and alike
        np.testing.assert_array_equal(a.theta_, b.theta_)
        np.testing.assert_array_equal(a.predict(X), b.predict(X))


@contextlib.contextmanager
def _overlapping_fits(monkeypatch):
    """Make two concurrent fits overlap as a search's fits do now and then: the first to take its BLAS limit
    gives it back first, while the second still holds its own (taken after the first one's)."""
    real = sklmixed.models.linear.blas_limit
    lock, order = threading.Lock(), []
    first_in, second_in, first_out = threading.Event(), threading.Event(), threading.Event()

    @contextlib.contextmanager
    def overlapping(largest_dense):
        with lock:
            k = len(order)
            order.append(k)
        if k == 1:
            first_in.wait(10)
        with real(largest_dense):
            if k == 0:
                first_in.set()
                second_in.wait(10)
            elif k == 1:
                second_in.set()
                first_out.wait(10)
            yield
        if k == 0:
            first_out.set()

    monkeypatch.setattr(sklmixed.models.linear, "blas_limit", overlapping)
    yield order


def test_concurrent_search_leaves_blas_limits_as_it_found_them(crossed, monkeypatch):
    X, y = crossed
    before = _blas_limits()
    with _overlapping_fits(monkeypatch) as order:
        with parallel_backend("threading", n_jobs=2):
            GridSearchCV(_estimator(), {"reml": [False, True]}, cv=[(np.arange(len(y)), np.arange(len(y)))],
                         n_jobs=2, refit=False).fit(X, y)
    assert len(order) == 2  # both fits took a limit
    assert _blas_limits() == before

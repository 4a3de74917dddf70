"""The BLAS-thread policy of a fit, with the machine's load mocked."""

from __future__ import annotations

import io


def test_blas_thread_policy(monkeypatch):
    from sklmixed.optim import threads as optimizer

    assert optimizer.blas_threads(10) is None  # tiny blocks: BLAS is left alone
    assert optimizer.blas_threads(500) == 1  # medium blocks: threads cost more than they give
    monkeypatch.setattr(optimizer, "_other_runnable", lambda: 0)
    assert optimizer.blas_threads(1500) == (optimizer.os.cpu_count() or 1)
    monkeypatch.setattr(optimizer, "_other_runnable", lambda: 64)
    assert optimizer.blas_threads(1500) == 1  # a busy machine: never oversubscribe


def test_own_blas_threads_do_not_count_as_load(monkeypatch):
    """A BLAS worker of this process spinning after a call is runnable, but not another's load."""

    from sklmixed.optim import threads as optimizer

    files = {
        "/proc/loadavg": "0.50 0.40 0.30 3/120 999\n",
        "/proc/self/task/10/stat": "10 (python) R 1 10 10 0 -1\n",
        "/proc/self/task/11/stat": "11 (blas worker (x)) R 1 10 10 0 -1\n",  # a name with spaces and parentheses
        "/proc/self/task/12/stat": "12 (python) S 1 10 10 0 -1\n",
    }
    monkeypatch.setattr(optimizer, "open", lambda path, *a, **k: io.StringIO(files[path]), raising=False)
    monkeypatch.setattr(optimizer.os, "listdir", lambda path: ["10", "11", "12"])
    assert optimizer._own_runnable() == 2
    assert optimizer._other_runnable() == 1  # 3 runnable on the machine, 2 of them ours
    files["/proc/loadavg"] = "0.50 0.40 0.30 2/120 999\n"
    assert optimizer._other_runnable() == 0
    monkeypatch.setattr(optimizer.os, "cpu_count", lambda: 2)
    assert optimizer.blas_threads(1500) == 2

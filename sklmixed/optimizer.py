"""Everything sklmixed needs from NLopt, and every NLopt quirk, in one place.

* NLopt has no default tolerances: all of them are set from the :class:`OptSummary`.
* The ``x`` handed to the objective is a reused buffer: it is copied before it is kept.
* The objective must return a Python ``float``; NaN and a failed Cholesky factor return
  the initial objective instead (BOBYQA's quadratic model breaks on ``inf``/NaN), so an
  optimiser can never end "converged" on a NaN.
* ``RoundoffLimited``, ``ForcedStop`` and run-time failures are exceptions in the Python
  bindings; they are caught and the best point seen so far is kept.
* Algorithms that ignore bounds (NEWUOA, PRAXIS) search freely; the result is rectified.
* An ``nlopt.opt`` cannot be pickled, so none outlives :func:`optimize`.
"""

from __future__ import annotations

import contextlib
import math
import os
import sys
import time
import warnings

import nlopt
import numpy as np

from .blocks import PosDefError
from .exceptions import ConvergenceWarning

__all__ = ["optimize", "derivative_free_algorithms", "check_algorithm", "blas_threads", "blas_limit"]

_RETURN_CODES = {
    nlopt.SUCCESS: "SUCCESS",
    nlopt.STOPVAL_REACHED: "STOPVAL_REACHED",
    nlopt.FTOL_REACHED: "FTOL_REACHED",
    nlopt.XTOL_REACHED: "XTOL_REACHED",
    nlopt.MAXEVAL_REACHED: "MAXEVAL_REACHED",
    nlopt.MAXTIME_REACHED: "MAXTIME_REACHED",
    nlopt.FAILURE: "FAILURE",
    nlopt.INVALID_ARGS: "INVALID_ARGS",
    nlopt.OUT_OF_MEMORY: "OUT_OF_MEMORY",
    nlopt.ROUNDOFF_LIMITED: "ROUNDOFF_LIMITED",
    nlopt.FORCED_STOP: "FORCED_STOP",
}
_SUCCESS = {"SUCCESS", "STOPVAL_REACHED", "FTOL_REACHED", "XTOL_REACHED"}
# algorithms that need a subsidiary optimiser are not usable on their own
_EXCLUDED = {"LN_AUGLAG", "LN_AUGLAG_EQ"}


def derivative_free_algorithms() -> list[str]:
    """Names of the local derivative-free NLopt algorithms sklmixed can use."""
    return sorted(n for n in dir(nlopt) if n.startswith("LN_") and n not in _EXCLUDED)


def check_algorithm(name) -> str:
    """Validate an optimizer name, returning it; a clear ``ValueError`` otherwise."""
    valid = derivative_free_algorithms()
    if not isinstance(name, str) or name not in valid:
        raise ValueError(f"unknown optimizer {name!r}; choose one of the derivative-free NLopt algorithms: {', '.join(valid)}")
    return name


class _Progress:
    """A tqdm counter of evaluations; shown after a second, or at once when asked."""

    def __init__(self, progress):
        self.bar = None
        if progress is False:
            return
        try:
            from tqdm.auto import tqdm
        except ImportError:  # pragma: no cover - tqdm is a dependency
            return
        if progress is None and not (hasattr(sys.stderr, "isatty") and sys.stderr.isatty()):
            return
        self.bar = tqdm(desc="Minimizing", unit=" evals", delay=0.0 if progress else 1.0, leave=False)

    def update(self, f):
        if self.bar is not None:
            self.bar.update(1)
            self.bar.set_postfix_str(f"objective: {f:.6g}", refresh=False)

    def close(self):
        if self.bar is not None:
            self.bar.close()


def optimize(objective, optsum, *, progress=None, fitlog=False, snap=True, rectify=None, blas_threads=None):
    """Minimise ``objective`` with NLopt, as the :class:`OptSummary` says.

    Parameters
    ----------
    objective : callable
        ``objective(x) -> float``; may raise :class:`PosDefError`.
    optsum : OptSummary
        Settings; on return it holds ``finitial``, ``feval``, ``final``, ``fmin``,
        ``returnvalue``, ``initial_step`` and (with ``fitlog``) the fit log.
    progress : bool or None
        ``None`` shows a counter on a terminal for fits longer than a second.
    fitlog : bool
        Keep every evaluated point and its objective in ``optsum.fitlog``.
    snap : bool
        Try setting parameters bounded at 0 that end below ``optsum.xtol_zero_abs`` to 0.
    rectify : callable, optional
        Maps a point found by an algorithm that ignores bounds into the feasible region
        without changing the objective.
    blas_threads : int, optional
        Limit BLAS to this many threads while optimising (``None``: no limit).

    Returns
    -------
    xmin : ndarray
    fmin : float
    """
    check_algorithm(optsum.optimizer)
    if blas_threads is None:
        return _optimize(objective, optsum, progress, fitlog, snap, rectify)
    with _blas_controller().limit(limits=blas_threads, user_api="blas"):
        return _optimize(objective, optsum, progress, fitlog, snap, rectify)


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


def _optimize(objective, optsum, progress, fitlog, snap, rectify):
    x0 = np.asarray(optsum.initial, dtype=float).copy()
    n = len(x0)
    lower = np.asarray(optsum.lowerbd, dtype=float)
    optsum.fitlog = []
    start = time.perf_counter()

    finitial = float(objective(x0.copy()))
    if not math.isfinite(finitial):
        raise FloatingPointError(f"the objective at the initial parameters {x0} is {finitial}")
    optsum.finitial = finitial

    opt = nlopt.opt(getattr(nlopt, optsum.optimizer), n)
    opt.set_lower_bounds(lower)
    opt.set_ftol_rel(float(optsum.ftol_rel))
    opt.set_ftol_abs(float(optsum.ftol_abs))
    opt.set_xtol_rel(float(optsum.xtol_rel))
    xtol_abs = np.atleast_1d(np.asarray(optsum.xtol_abs, dtype=float))
    if len(xtol_abs) == n:
        opt.set_xtol_abs(xtol_abs)
    if optsum.maxfeval is not None and optsum.maxfeval > 0:
        opt.set_maxeval(int(optsum.maxfeval))
    if optsum.maxtime is not None and optsum.maxtime > 0:
        opt.set_maxtime(float(optsum.maxtime))
    step = np.asarray(optsum.initial_step, dtype=float)
    if len(step) == n:
        opt.set_initial_step(step)
    else:
        optsum.initial_step = np.asarray(opt.get_initial_step(x0), dtype=float)

    best = {"x": x0.copy(), "f": finitial}
    bar = _Progress(progress)
    start_point = x0.tolist()
    log = optsum.fitlog.append if fitlog else None
    show = bar.update if bar.bar is not None else None
    failures = (PosDefError, FloatingPointError, np.linalg.LinAlgError)

    def f(x, grad):
        xc = x.copy()  # nlopt reuses its buffer
        if xc.tolist() == start_point:
            val = finitial
        else:
            try:
                val = float(objective(xc))
            except failures:
                val = finitial
            if not math.isfinite(val):
                val = finitial
        if val < best["f"]:
            best["x"], best["f"] = xc, val
        if log is not None:
            log((xc, val))
        if show is not None:
            show(val)
        return val

    opt.set_min_objective(f)
    try:
        xmin = np.asarray(opt.optimize(x0.copy()), dtype=float)
        fmin = float(opt.last_optimum_value())
        code = _RETURN_CODES.get(opt.last_optimize_result(), str(opt.last_optimize_result()))
    except nlopt.RoundoffLimited:
        xmin, fmin, code = best["x"], best["f"], "ROUNDOFF_LIMITED"
    except nlopt.ForcedStop:
        xmin, fmin, code = best["x"], best["f"], "FORCED_STOP"
    except ValueError as err:  # std::invalid_argument, often with an empty message
        raise ValueError(
            f"NLopt rejected the settings of {optsum.optimizer} (INVALID_ARGS){': ' + str(err) if str(err) else ''}; "
            "check lower bounds, tolerances and initial_step in optsum"
        ) from None
    except RuntimeError:
        xmin, fmin, code = best["x"], best["f"], "FAILURE"
    finally:
        bar.close()
    if best["f"] < fmin:  # never report a point worse than one already seen
        xmin, fmin = best["x"], best["f"]
    optsum.feval = int(opt.get_numevals())
    del opt

    if rectify is not None and np.any(xmin < lower):
        xmin = rectify(xmin)
    if snap:
        xmin, fmin = _snap_to_zero(objective, optsum, xmin, fmin, fitlog)
    optsum.final, optsum.fmin, optsum.returnvalue = xmin.copy(), fmin, code
    optsum.fit_time = time.perf_counter() - start
    if code not in _SUCCESS:
        warnings.warn(
            f"the optimizer {optsum.optimizer} stopped with return code {code} after {optsum.feval} "
            f"evaluations; the best parameters so far are kept (objective {fmin:.6f}). "
            "Raise optsum.maxfeval/maxtime or try another optimizer.",
            ConvergenceWarning,
            stacklevel=3,
        )
    return xmin, fmin


def _snap_to_zero(objective, optsum, xmin, fmin, fitlog):
    """Set parameters bounded at 0 that end up tiny to exactly 0, if that costs little."""
    lower = np.asarray(optsum.lowerbd)
    small = (lower == 0) & (xmin > 0) & (xmin < optsum.xtol_zero_abs)
    if not np.any(small):
        return xmin, fmin
    trial = xmin.copy()
    trial[small] = 0.0
    try:
        ftrial = float(objective(trial))
    except (PosDefError, FloatingPointError, np.linalg.LinAlgError):
        return xmin, fmin
    if math.isfinite(ftrial) and ftrial <= fmin + optsum.ftol_zero_abs:
        if fitlog:
            optsum.fitlog.append((trial.copy(), ftrial))
        return trial, ftrial
    return xmin, fmin

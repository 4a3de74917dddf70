"""The optimisation of a mixed model's objective, whatever the backend: start, guard, log, snap.

A backend is one module of :mod:`sklmixed.optim` named as ``OptSummary.backend`` that offers
``minimize(f, x0, optsum) -> (xmin, fmin, code, feval)``, ``algorithms()``,
``check_algorithm(name)`` and the set ``SUCCESS`` of its return codes meaning convergence;
:mod:`sklmixed.optim.nlopt` is the default. What every backend needs is here: the objective
at the start, a guard that turns failed evaluations into the initial objective, the fit log,
the progress counter, rectification, the snap of tiny variances to 0, and the warning when
the search did not converge.
"""

from __future__ import annotations

import importlib
import math
import re
import time
import warnings

import numpy as np

from ..exceptions import ConvergenceWarning, PosDefError
from .progress import Progress

__all__ = ["optimize", "backend", "check_algorithm"]

#: what a failed evaluation raises: a factor that is not positive definite, overflow, a singular solve
EVALUATION_FAILURES = (PosDefError, FloatingPointError, np.linalg.LinAlgError)


def backend(name: str = "nlopt"):
    """The backend module called ``name``; a ``ValueError`` for an unknown one."""
    if isinstance(name, str) and re.fullmatch(r"[a-z][a-z0-9_]*", name):
        try:
            module = importlib.import_module(f"{__package__}.{name}")
        except ImportError:
            module = None
        if module is not None and hasattr(module, "minimize"):
            return module
    raise ValueError(f"unknown optimizer backend {name!r}; sklmixed has 'nlopt'")


def check_algorithm(name, backend_name: str = "nlopt") -> str:
    """Validate an optimizer name for a backend, returning it; a clear ``ValueError`` otherwise."""
    return backend(backend_name).check_algorithm(name)


class _Guarded:
    """The objective as a backend sees it: a ``float`` always, the best point kept, each step logged.

    A failed or non-finite evaluation returns the initial objective (MixedModels.jl's rule,
    its issue #616): a derivative-free model of the objective breaks on ``inf``/NaN, and the
    search can never end "converged" on one. Failures are counted (``failures``, the first
    one's message in ``first_failure``): the caller warns, as the search then knows less of the
    objective than it believes.
    """

    def __init__(self, objective, x0, finitial, log, show):
        self.objective, self.finitial = objective, finitial
        self.start = x0.tolist()
        self.best_x, self.best_f = x0.copy(), finitial
        self.log, self.show = log, show
        self.failures, self.first_failure = 0, None

    def _failed(self, why: str) -> float:
        self.failures += 1
        if self.first_failure is None:
            self.first_failure = why
        return self.finitial

    def __call__(self, x):
        if x.tolist() == self.start:
            val = self.finitial
        else:
            try:
                val = float(self.objective(x))
            except EVALUATION_FAILURES as err:
                val = self._failed(f"{type(err).__name__}: {err}")
            if not math.isfinite(val):
                val = self._failed(f"the objective is {val}")
        if val < self.best_f:
            self.best_x, self.best_f = x, val
        if self.log is not None:
            self.log((x, val))
        if self.show is not None:
            self.show(val)
        return val


def optimize(objective, optsum, *, progress=None, fitlog=False, snap=True, rectify=None):
    """Minimise ``objective`` with the backend and settings of the :class:`OptSummary`.

    Parameters
    ----------
    objective : callable
        ``objective(x) -> float`` for a fresh array ``x`` (it may keep it); may raise
        :class:`~sklmixed.exceptions.PosDefError`.
    optsum : OptSummary
        Settings; on return it holds ``finitial``, ``feval``, ``final``, ``fmin``,
        ``returnvalue``, ``initial_step``, ``fit_time`` and (with ``fitlog``) the fit log.
    progress : bool or None
        ``None`` shows a counter on a terminal for fits longer than a second.
    fitlog : bool
        Keep every evaluated point and its objective in ``optsum.fitlog``.
    snap : bool
        Try setting parameters bounded at 0 that end below ``optsum.xtol_zero_abs`` to 0.
    rectify : callable, optional
        Maps a point found by an algorithm that ignores bounds into the feasible region
        without changing the objective.

    Returns
    -------
    xmin : ndarray
    fmin : float
    """
    engine = backend(optsum.backend)
    engine.check_algorithm(optsum.optimizer)
    x0 = np.asarray(optsum.initial, dtype=float).copy()
    lower = np.asarray(optsum.lowerbd, dtype=float)
    optsum.fitlog = []
    start = time.perf_counter()

    finitial = float(objective(x0.copy()))
    if not math.isfinite(finitial):
        raise FloatingPointError(f"the objective at the initial parameters {x0} is {finitial}")
    optsum.finitial = finitial

    bar = Progress(progress)
    f = _Guarded(objective, x0, finitial, optsum.fitlog.append if fitlog else None,
                 bar.update if bar.bar is not None else None)
    try:
        xmin, fmin, code, optsum.feval = engine.minimize(f, x0, optsum)
    finally:
        bar.close()
    if f.best_f < fmin:  # never report a point worse than one already seen
        xmin, fmin = f.best_x, f.best_f

    if rectify is not None and np.any(xmin < lower):
        xmin = rectify(xmin)
    if snap:
        xmin, fmin = _snap_to_zero(objective, optsum, xmin, fmin, fitlog)
    optsum.final, optsum.fmin, optsum.returnvalue = xmin.copy(), fmin, code
    optsum.fit_time = time.perf_counter() - start
    optsum.nfailed = f.failures
    if f.failures:
        warnings.warn(
            f"{f.failures} of {optsum.feval} evaluations of the objective failed and were given the "
            f"objective at the start ({f.first_failure}); the optimum found may be wrong. Check the "
            "data's scale and for separation, or try other starting values (optsum.nfailed counts them).",
            ConvergenceWarning,
            stacklevel=3,
        )
    if code not in engine.SUCCESS:
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
    except EVALUATION_FAILURES:
        return xmin, fmin
    if math.isfinite(ftrial) and ftrial <= fmin + optsum.ftol_zero_abs:
        if fitlog:
            optsum.fitlog.append((trial.copy(), ftrial))
        return trial, ftrial
    return xmin, fmin

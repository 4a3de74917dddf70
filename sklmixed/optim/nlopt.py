"""The NLopt backend: everything sklmixed needs from NLopt, and every NLopt quirk, in one place.

* NLopt has no default tolerances: all of them are set from the :class:`OptSummary`.
* The ``x`` handed to the objective is a reused buffer: it is copied before it is kept.
* The objective must return a Python ``float``; BOBYQA's quadratic model breaks on
  ``inf``/NaN, so the driver (:func:`sklmixed.optim.optimize`) hands NLopt the initial
  objective in their place, and for a failed Cholesky factor: an optimiser can never end
  "converged" on a NaN.
* ``RoundoffLimited``, ``ForcedStop`` and run-time failures are exceptions in the Python
  bindings; they are caught and the best point seen so far is kept.
* Invalid settings raise a ``ValueError`` (``std::invalid_argument``), often with an empty
  message; it is reworded to name the settings to check.
* Algorithms that ignore bounds (NEWUOA, PRAXIS) search freely; the driver rectifies the result.
* An ``nlopt.opt`` cannot be pickled, so none outlives :func:`minimize`.
* NLopt picks the initial steps when none are set; they are read back into ``optsum.initial_step``.
"""

from __future__ import annotations

import nlopt
import numpy as np

__all__ = ["minimize", "algorithms", "check_algorithm", "SUCCESS"]

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
#: return codes of a search that met its stopping criterion
SUCCESS = frozenset({"SUCCESS", "STOPVAL_REACHED", "FTOL_REACHED", "XTOL_REACHED"})
# algorithms that need a subsidiary optimiser are not usable on their own
_EXCLUDED = {"LN_AUGLAG", "LN_AUGLAG_EQ"}


def algorithms() -> list[str]:
    """Names of the local derivative-free NLopt algorithms sklmixed can use."""
    return sorted(n for n in dir(nlopt) if n.startswith("LN_") and n not in _EXCLUDED)


def check_algorithm(name) -> str:
    """Validate an optimizer name, returning it; a clear ``ValueError`` otherwise."""
    valid = algorithms()
    if not isinstance(name, str) or name not in valid:
        raise ValueError(f"unknown optimizer {name!r}; choose one of the derivative-free NLopt algorithms: "
                         f"{', '.join(valid)}")
    return name


def minimize(f, x0, optsum):
    """Minimise ``f`` from ``x0`` with the algorithm and settings of ``optsum``.

    ``f(x) -> float`` is the driver's guarded objective: it never raises for a failed
    evaluation and keeps the best point it has seen (``f.best``).

    Returns
    -------
    xmin : ndarray
    fmin : float
    code : str
        NLopt's return code, e.g. ``"FTOL_REACHED"``.
    feval : int
        Evaluations NLopt counted, the initial point included.
    """
    n = len(x0)
    opt = nlopt.opt(getattr(nlopt, optsum.optimizer), n)
    opt.set_lower_bounds(np.asarray(optsum.lowerbd, dtype=float))
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

    opt.set_min_objective(lambda x, grad: f(x.copy()))  # nlopt reuses its buffer
    try:
        xmin = np.asarray(opt.optimize(x0.copy()), dtype=float)
        fmin = float(opt.last_optimum_value())
        code = _RETURN_CODES.get(opt.last_optimize_result(), str(opt.last_optimize_result()))
    except nlopt.RoundoffLimited:
        xmin, fmin, code = f.best_x, f.best_f, "ROUNDOFF_LIMITED"
    except nlopt.ForcedStop:
        xmin, fmin, code = f.best_x, f.best_f, "FORCED_STOP"
    except ValueError as err:  # std::invalid_argument, often with an empty message
        raise ValueError(
            f"NLopt rejected the settings of {optsum.optimizer} (INVALID_ARGS){': ' + str(err) if str(err) else ''}; "
            "check lower bounds, tolerances and initial_step in optsum"
        ) from None
    except RuntimeError:
        xmin, fmin, code = f.best_x, f.best_f, "FAILURE"
    return xmin, fmin, code, int(opt.get_numevals())

"""The optimizer summary: settings going in, results coming out, and the fit log."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["OptSummary", "PIRLSSettings"]

#: the fields that are settings of the search (not its start, first steps or results)
SETTINGS = ("optimizer", "backend", "ftol_rel", "ftol_abs", "xtol_rel", "xtol_abs", "maxfeval", "maxtime",
            "xtol_zero_abs", "ftol_zero_abs", "nagq", "pirls")


def _fmt_vec(v) -> str:
    return "[" + ", ".join(_fmt_num(x) for x in np.asarray(v, dtype=float)) + "]"


def _fmt_num(x) -> str:
    x = float(x)
    if np.isinf(x):
        return "-Inf" if x < 0 else "Inf"
    if x == int(x) and abs(x) < 1e15 and not (x == 0 and np.signbit(x)):
        return f"{x:.1f}"
    r = repr(x)
    if "e" in r:
        mant, exp = r.split("e")
        return f"{mant if '.' in mant else mant + '.0'}e{int(exp)}"
    return r


@dataclass
class PIRLSSettings:
    """Settings of penalised iteratively reweighted least squares (GLMMs).

    Tighter than MixedModels.jl's defaults (10 iterations, 1e-5 on the Laplace value): with a
    non-canonical link PIRLS converges only linearly, and a mode found to 1e-5 lets the
    optimiser exploit the error; on verbagg (logit) the tighter settings cost nothing.

    Attributes
    ----------
    maxiter : int, default=25
        Most iterations of one PIRLS run.
    maxhalf : int, default=10
        Most step halvings in one iteration.
    atol : float, default=1e-7
        Absolute tolerance on the changes of the penalised deviance and of the Laplace value.
    """

    maxiter: int = 25
    maxhalf: int = 10
    atol: float = 1e-7

    def __post_init__(self):
        for name in ("maxiter", "maxhalf"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"pirls {name} must be a positive integer, got {value!r}")
        if isinstance(self.atol, bool) or not isinstance(self.atol, (int, float, np.floating)) or not self.atol > 0:
            raise ValueError(f"pirls atol must be a positive number, got {self.atol!r}")


@dataclass
class OptSummary:
    """Settings and results of the nonlinear optimisation of a mixed model.

    Input fields may be changed after a model is constructed and before it is fit, for
    example ``m.optsum.optimizer = "LN_NELDERMEAD"``.

    Attributes
    ----------
    initial : ndarray
        Starting parameter vector (θ; ``[β; θ]`` for a full GLMM fit).
    finitial : float
        Objective at ``initial``.
    lowerbd : ndarray
        Lower bounds (0 for diagonal elements of λ, ``-inf`` otherwise).
    optimizer : str, default="LN_BOBYQA"
        Name of a derivative-free NLopt algorithm.
    backend : str, default="nlopt"
    ftol_rel, ftol_abs, xtol_rel : float
        Relative and absolute tolerances (defaults 1e-12, 1e-8, 0).
    xtol_abs : ndarray
        Absolute tolerance on each parameter (default 1e-10).
    initial_step : ndarray
        Initial step of each parameter; empty means NLopt's own heuristic, which is
        recorded here after the fit.
    maxfeval : int, default=-1
        Maximum number of evaluations (-1: no limit).
    maxtime : float, default=-1.0
        Maximum time in seconds (-1: no limit).
    feval : int
        Number of objective evaluations (-1 before fitting).
    xtol_zero_abs, ftol_zero_abs : float
        A θ bounded at 0 and below ``xtol_zero_abs`` is set to 0 if the objective rises by
        no more than ``ftol_zero_abs``.
    final : ndarray
        Parameter vector at the optimum.
    fmin : float
        Objective at ``final``.
    returnvalue : str
        NLopt's return code, e.g. ``"FTOL_REACHED"``.
    fitlog : list of (ndarray, float)
        Every evaluated parameter vector with its objective, when fit with ``fitlog=True``.
    reml : bool
        Whether the REML criterion was optimised.
    nagq : int
        Number of adaptive Gauss-Hermite quadrature points (GLMM).
    fit_time : float
        Seconds spent in the optimiser.
    nfailed : int
        Evaluations that failed (a factor not positive definite, PIRLS unable to reduce the
        deviance, an overflow) and were given the initial objective; a warning says so.
    prefit : OptSummary or None
        The first stage of a two-stage fit (a full GLMM fit starts with the fast fit of θ);
        the fields above then describe the second stage.
    pirls : PIRLSSettings or None
        Settings of PIRLS for a GLMM (None for a linear mixed model); editable before a fit.
    """

    initial: np.ndarray
    lowerbd: np.ndarray
    finitial: float = np.inf
    optimizer: str = "LN_BOBYQA"
    backend: str = "nlopt"
    ftol_rel: float = 1e-12
    ftol_abs: float = 1e-8
    xtol_rel: float = 0.0
    xtol_abs: np.ndarray = None
    initial_step: np.ndarray = field(default_factory=lambda: np.zeros(0))
    maxfeval: int = -1
    maxtime: float = -1.0
    feval: int = -1
    xtol_zero_abs: float = 1e-3
    ftol_zero_abs: float = 1e-5
    final: np.ndarray = None
    fmin: float = np.inf
    returnvalue: str = "FAILURE"
    fitlog: list = field(default_factory=list)
    reml: bool = False
    nagq: int = 1
    fit_time: float = float("nan")
    nfailed: int = 0
    prefit: OptSummary | None = None
    pirls: PIRLSSettings | None = None

    def __post_init__(self):
        self.initial = np.asarray(self.initial, dtype=float).copy()
        self.lowerbd = np.asarray(self.lowerbd, dtype=float).copy()
        if self.xtol_abs is None:
            self.xtol_abs = np.full(len(self.initial), 1e-10)
        if self.final is None:
            self.final = self.initial.copy()

    @property
    def converged(self) -> bool:
        return self.returnvalue in ("SUCCESS", "FTOL_REACHED", "XTOL_REACHED", "STOPVAL_REACHED")

    def reset(self, initial, lowerbd=None) -> None:
        """Forget the results of a fit (the settings stay)."""
        self.initial = np.asarray(initial, dtype=float).copy()
        if lowerbd is not None:
            self.lowerbd = np.asarray(lowerbd, dtype=float).copy()
        self.finitial, self.fmin, self.feval, self.nfailed = np.inf, np.inf, -1, 0
        self.final = self.initial.copy()
        self.returnvalue = "FAILURE"
        self.fitlog = []
        self.initial_step = np.zeros(0)
        self.prefit = None

    def copy_settings(self, src: OptSummary) -> None:
        """Take the search settings of ``src`` (not its start, first steps or results)."""
        for name in SETTINGS:
            setattr(self, name, getattr(src, name))

    def fitlog_table(self):
        """The fit log as a DataFrame with columns ``iter``, ``objective``, ``theta``."""
        import pandas as pd

        return pd.DataFrame({
            "iter": np.arange(1, len(self.fitlog) + 1),
            "objective": [f for _, f in self.fitlog],
            "theta": [x for x, _ in self.fitlog],
        })

    def __str__(self) -> str:
        rows = [
            ("Initial parameter vector:", _fmt_vec(self.initial)),
            ("Initial objective value:", _fmt_num(self.finitial)),
            None,
            ("Backend:", self.backend),
            ("Optimizer:", self.optimizer),
            ("Lower bounds:", _fmt_vec(self.lowerbd)),
            ("ftol_rel:", _fmt_num(self.ftol_rel)),
            ("ftol_abs:", _fmt_num(self.ftol_abs)),
            ("xtol_rel:", _fmt_num(self.xtol_rel)),
            ("xtol_abs:", _fmt_vec(self.xtol_abs)),
            ("initial_step:", _fmt_vec(self.initial_step)),
            ("maxfeval:", str(int(self.maxfeval))),
            ("maxtime:", _fmt_num(self.maxtime)),
            None,
            ("Function evaluations:", str(self.feval)),
            ("xtol_zero_abs:", _fmt_num(self.xtol_zero_abs)),
            ("ftol_zero_abs:", _fmt_num(self.ftol_zero_abs)),
            ("Final parameter vector:", _fmt_vec(self.final)),
            ("Final objective value:", _fmt_num(self.fmin)),
            ("Return code:", self.returnvalue),
        ]
        if self.pirls is not None:
            rows[13:13] = [("PIRLS maxiter:", str(self.pirls.maxiter)), ("PIRLS maxhalf:", str(self.pirls.maxhalf)),
                           ("PIRLS atol:", _fmt_num(self.pirls.atol))]
        if self.prefit is not None:
            rows[:0] = [("Prefit (fast, θ only):", f"{self.prefit.feval} evaluations, objective "
                         f"{_fmt_num(self.prefit.fmin)}, θ = {_fmt_vec(self.prefit.final)}"), None]
        return "\n".join("" if r is None else f"{r[0]:<26}{r[1]}" for r in rows) + "\n"

    def __repr__(self) -> str:
        return (f"OptSummary(optimizer={self.optimizer!r}, feval={self.feval}, fmin={self.fmin!r}, "
                f"returnvalue={self.returnvalue!r})")

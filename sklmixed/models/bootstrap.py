r"""The parametric bootstrap: refit the model to responses simulated at its estimates.

Replicate :math:`k` draws :math:`y^*_k` from the fitted model (:mod:`~sklmixed.models.simulate`)
and refits the same model, whose factor structure is reused (only the response changes),
from the estimates :math:`\hat\theta` with first steps of a tenth of them. Replicate
:math:`k` draws from its own stream, ``SeedSequence(random_state).spawn(n_boot)[k]``, and
every refit starts from :math:`\hat\theta`: the table is the same whatever ``n_jobs``.

Intervals from the replicates are percentile intervals or the shortest intervals holding a
fraction ``level`` of them (MixedModels.jl's ``shortestcovint``).

Examples
--------
>>> from sklmixed import LinearMixedModel, load_dataset
>>> m = LinearMixedModel("yield ~ 1 + (1|batch)", load_dataset("dyestuff")).fit(progress=False)
>>> boot = parametric_bootstrap(m, 20, random_state=1, progress=False)
>>> list(boot.table.columns)
['replicate', 'objective', '(Intercept)', 'sd_(Intercept)|batch', 'sigma', 'theta_1', 'converged']
>>> boot.confint().columns.tolist()
['estimate', 'lower', 'upper']
"""

from __future__ import annotations

import copy
import math
import warnings

import numpy as np
import pandas as pd

from .parameters import variance_names, variance_parameters
from .simulate import Simulator

__all__ = ["parametric_bootstrap", "BootstrapResult", "shortestcovint"]


def shortestcovint(values, level: float = 0.95) -> tuple[float, float]:
    """The shortest interval holding ``ceil(level * n)`` of the finite ``values`` (MixedModels' rule)."""
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level!r}")
    v = np.sort(np.asarray(values, dtype=float))
    v = v[np.isfinite(v)]
    if len(v) == 0:
        return (np.nan, np.nan)
    k = int(math.ceil(len(v) * level))
    if k >= len(v):
        return (float(v[0]), float(v[-1]))
    i = int(np.argmin(v[k - 1:] - v[: len(v) - k + 1]))
    return (float(v[i]), float(v[i + k - 1]))


class BootstrapResult:
    """Replicates of a parametric bootstrap.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per replicate: ``objective``, the fixed effects, the standard deviations and
        correlations of the random effects, ``sigma`` (if the model has one), θ and whether
        the refit converged. Failed refits are rows of NaN.
    estimates : pandas.Series
        The parameters of the model the replicates were drawn from.
    """

    def __init__(self, table: pd.DataFrame, estimates: pd.Series):
        self.table = table
        self.estimates = estimates

    @property
    def parameters(self) -> list[str]:
        return list(self.estimates.index)

    def confint(self, level: float = 0.95, method: str = "shortest") -> pd.DataFrame:
        """Intervals for every parameter: ``"shortest"`` coverage intervals or ``"percentile"`` ones."""
        if method not in ("shortest", "percentile"):
            raise ValueError(f"method must be 'shortest' or 'percentile', got {method!r}")
        if not 0 < level < 1:
            raise ValueError(f"level must be in (0, 1), got {level!r}")
        rows = {}
        for name in self.parameters:
            col = self.table[name].to_numpy(dtype=float)
            col = col[np.isfinite(col)]
            if method == "shortest":
                rows[name] = shortestcovint(col, level)
            else:
                alpha = (1 - level) / 2
                rows[name] = tuple(np.quantile(col, [alpha, 1 - alpha])) if len(col) else (np.nan, np.nan)
        out = pd.DataFrame(rows, index=["lower", "upper"]).T
        out.insert(0, "estimate", self.estimates)
        return out

    def __repr__(self) -> str:
        return f"BootstrapResult({len(self.table)} replicates, parameters {self.parameters})"


def _estimates(model) -> pd.Series:
    values = dict(zip(model.feterm.kept_names, map(float, model.beta)))
    values.update(variance_parameters(model))
    return pd.Series(values, name="estimate")


def _replicates(model, sim, theta_hat, step, seeds, indices, tick=None):
    """Refit a private copy of ``model`` to the responses of replicates ``indices``."""
    work = copy.deepcopy(model)
    rows = []
    for k in indices:
        y = sim.draw(np.random.default_rng(seeds[k]))
        row = {"replicate": k}
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                work.refit(y, start=theta_hat, initial_step=step, progress=False)
            row["objective"] = work.objective
            row.update(zip(work.feterm.kept_names, map(float, work.beta)))
            row.update(variance_parameters(work))
            row.update({f"theta_{i + 1}": t for i, t in enumerate(work.theta)})
            row["converged"] = bool(work.optsum.converged)
        except (ValueError, ArithmeticError, np.linalg.LinAlgError):
            row["converged"] = False  # a response the model cannot fit (constant, separable): NaN row
        rows.append(row)
        if tick is not None:
            tick()
    return rows


def parametric_bootstrap(model, n_boot: int, random_state=None, *, n_jobs=None, progress=None,
                         use_u: bool = False) -> BootstrapResult:
    """Refit ``model`` to ``n_boot`` responses simulated at its estimates.

    Parameters
    ----------
    model : LinearMixedModel or GeneralizedLinearMixedModel
        A fitted model; it is not changed (replicates are refit on copies).
    n_boot : int
        Number of replicates.
    random_state : None, int or numpy.random.SeedSequence, optional
        Seed; the same seed gives the same table whatever ``n_jobs``.
    n_jobs : int, optional
        Processes to run replicates in (joblib; ``None`` or 1: in this process, -1: all cores).
    progress : bool or None, default=None
        A progress bar; ``None`` shows it on a terminal only.
    use_u : bool, default=False
        Simulate with the conditional modes instead of new random effects.

    Returns
    -------
    BootstrapResult
    """
    model._check_fitted()
    if isinstance(n_boot, bool) or not isinstance(n_boot, (int, np.integer)) or n_boot < 1:
        raise ValueError(f"n_boot must be a positive integer, got {n_boot!r}")
    seq = random_state if isinstance(random_state, np.random.SeedSequence) else np.random.SeedSequence(random_state)
    seeds = seq.spawn(int(n_boot))
    sim = Simulator(model, use_u=use_u)
    theta_hat = model.theta.copy()
    step = 0.1 * np.maximum(np.abs(theta_hat), 0.1 * model.theta_scale)
    jobs = 1 if n_jobs is None else int(n_jobs)
    if jobs == 0:
        raise ValueError("n_jobs must not be 0")
    nchunks = 1 if jobs == 1 else min(n_boot, 4 * (jobs if jobs > 0 else 8))
    chunks = [c.tolist() for c in np.array_split(np.arange(n_boot), nchunks) if len(c)]
    bar = _bar(progress, n_boot)
    rows = []
    try:
        if jobs == 1:
            tick = None if bar is None else (lambda: bar.update(1))
            results = [_replicates(model, sim, theta_hat, step, seeds, chunks[0], tick)]
        else:
            from joblib import Parallel, delayed

            results = Parallel(n_jobs=jobs, return_as="generator")(
                delayed(_replicates)(model, sim, theta_hat, step, seeds, c) for c in chunks)
        for part in results:
            rows.extend(part)
            if bar is not None and jobs != 1:
                bar.update(len(part))
    finally:
        if bar is not None:
            bar.close()
    columns = (["replicate", "objective"] + model.feterm.kept_names + variance_names(model)
               + [f"theta_{i + 1}" for i in range(model.ntheta)] + ["converged"])
    table = pd.DataFrame(rows).reindex(columns=columns).sort_values("replicate", ignore_index=True)
    table["converged"] = table["converged"].astype(bool)
    failed = int(table["objective"].isna().sum())
    if failed:
        warnings.warn(f"{failed} of {n_boot} bootstrap refits failed (a simulated response the model cannot fit); "
                      "their rows are NaN and the intervals use the others", UserWarning, stacklevel=2)
    return BootstrapResult(table, _estimates(model))


def _bar(progress, total):
    import sys

    if progress is False or (progress is None and not (hasattr(sys.stderr, "isatty") and sys.stderr.isatty())):
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc="Bootstrap", unit=" fits", leave=False)

"""Plots of fitted mixed models: optimizer convergence, caterpillar plots and shrinkage.

matplotlib is an optional dependency, imported only when a plot is drawn; install it
with ``pip install "sklmixed[plot]"``. The module is not imported by ``import sklmixed``:
use ``from sklmixed.plotting import plot_convergence, caterpillar, shrinkage``.

Every function draws on the matplotlib ``Axes`` given as ``ax`` (a new figure otherwise)
and returns that ``Axes``.
"""

from __future__ import annotations

import numpy as np
from scipy import stats

from ..optim.optsummary import OptSummary

__all__ = ["plot_convergence", "caterpillar", "shrinkage", "zeta_plot"]

_INSTALL_HINT = 'pip install "sklmixed[plot]"'


def _pyplot():
    """``matplotlib.pyplot``, or an ImportError that says how to install it."""
    try:
        import matplotlib.pyplot as plt
    except ImportError as err:
        raise ImportError(f"sklmixed.plotting needs matplotlib, which is not installed; install it with "
                          f"{_INSTALL_HINT} (or pip install matplotlib)") from err
    return plt


def _new_axes(ax, figsize):
    plt = _pyplot()  # also when ax is given: a clear message if matplotlib is missing
    if ax is None:
        _, ax = plt.subplots(figsize=figsize, layout="constrained")
    return ax


def _optsum(obj, i):
    """The OptSummary of a model, an estimator (``optsum_``) or an OptSummary itself."""
    if isinstance(obj, OptSummary):
        return obj
    optsum = getattr(obj, "optsum", None)
    if optsum is None:
        optsum = getattr(obj, "optsum_", None)
    if not isinstance(optsum, OptSummary):
        raise TypeError(f"argument {i} of plot_convergence is a {type(obj).__name__}, which has no optimizer "
                        "summary; pass fitted LinearMixedModel or GeneralizedLinearMixedModel objects (or their "
                        "optsum)")
    return optsum


def _unwrap_model(model, what):
    """The core model, also behind a fitted scikit-learn estimator (``model_``)."""
    if hasattr(model, "reterms"):
        return model
    if hasattr(model, "model_"):
        if model.model_ is None:
            raise ValueError(f"{what} needs random effects, but this {type(model).__name__} was fit without "
                             "groups (it has none)")
        return model.model_
    if hasattr(model, "get_params"):
        raise ValueError(f"this {type(model).__name__} is not fitted yet; call fit() first")
    raise TypeError(f"{what} needs a fitted LinearMixedModel, got a {type(model).__name__}")


def _resolve_factor(model, factor):
    names = [r.name for r in model.reterms]
    if not names:
        raise ValueError("the model has no random-effects terms")
    if factor is None:
        return 0, names[0]
    if factor not in names:
        raise ValueError(f"the model has no grouping factor {factor!r}; its factors are {names}")
    return names.index(factor), factor


def _resolve_column(cnames, column, factor):
    if column is None:
        return 0
    if isinstance(column, str):
        if column not in cnames:
            raise ValueError(f"the random effects of {factor!r} have no column {column!r}; they are {cnames}")
        return cnames.index(column)
    if isinstance(column, (int, np.integer)) and not isinstance(column, bool):
        if not -len(cnames) <= column < len(cnames):
            raise ValueError(f"column index {column} is out of range: {factor!r} has the columns {cnames}")
        return int(column) % len(cnames)
    raise ValueError(f"column must be a column name or an index, got {column!r}")


def plot_convergence(*models, labels=None, ax=None):
    """Plot the objective at every step of the optimizer, one line per model.

    This is the figure of MixedModels.jl's "Modifying the optimization process": the
    fit log of ``LN_NELDERMEAD`` against that of the default ``LN_BOBYQA``, showing how
    many evaluations each needs to settle at the optimum.

    Parameters
    ----------
    *models : LinearMixedModel, GeneralizedLinearMixedModel or OptSummary
        One or more models fit with ``fitlog=True`` (``m.fit(fitlog=True)`` or
        ``m.refit(fitlog=True)``), or their ``optsum``.
    labels : list of str, optional
        Legend entries, one per model. Defaults to the optimizer names
        (``optsum.optimizer``), numbered when two models share one.
    ax : matplotlib.axes.Axes, optional
        Axes to draw on; a new figure is made when omitted.

    Returns
    -------
    matplotlib.axes.Axes
        The axes, with one line per model (``ax.get_lines()``).

    Raises
    ------
    ValueError
        If no model is given, the number of labels is wrong, or a model has an empty
        fit log (it was fit without ``fitlog=True``).
    ImportError
        If matplotlib is not installed.

    See Also
    --------
    sklmixed.OptSummary.fitlog_table : The fit log as a DataFrame.

    Examples
    --------
    >>> from sklmixed import LinearMixedModel, load_dataset
    >>> from sklmixed.plotting import plot_convergence
    >>> form = "reaction ~ 1 + days + (1 + days | subj)"
    >>> bobyqa = LinearMixedModel(form, load_dataset("sleepstudy")).fit(fitlog=True, progress=False)
    >>> nm = LinearMixedModel(form, load_dataset("sleepstudy"))
    >>> nm.optsum.optimizer = "LN_NELDERMEAD"
    >>> nm = nm.fit(fitlog=True, progress=False)
    >>> ax = plot_convergence(nm, bobyqa, labels=["NelderMead", "BOBYQA"])
    >>> len(ax.get_lines())
    2
    >>> ax.figure.savefig("convergence.png")  # doctest: +SKIP
    """
    if not models:
        raise ValueError("plot_convergence needs at least one fitted model")
    summaries = [_optsum(m, i + 1) for i, m in enumerate(models)]
    if labels is None:
        names = [os_.optimizer for os_ in summaries]
        labels = [f"{nm} (model {i + 1})" if names.count(nm) > 1 else nm for i, nm in enumerate(names)]
    else:
        labels = [str(lab) for lab in labels]
        if len(labels) != len(summaries):
            raise ValueError(f"got {len(labels)} label(s) for {len(summaries)} model(s)")
    for i, (os_, label) in enumerate(zip(summaries, labels)):
        if not os_.fitlog:
            raise ValueError(f"model {i + 1} ({label}) has an empty fit log; fit it with fitlog=True, e.g. "
                             "m.fit(fitlog=True) or m.refit(fitlog=True), to record the objective at every step")
    ax = _new_axes(ax, (6.4, 4.0))
    for os_, label in zip(summaries, labels):
        objective = np.array([f for _, f in os_.fitlog], dtype=float)
        ax.plot(np.arange(1, len(objective) + 1), objective, label=label, linewidth=1.2)
    ax.set_xlabel("step (objective evaluation)")
    ax.set_ylabel("objective")
    ax.set_title("Progress of the optimizer")
    ax.legend(title="algorithm")
    return ax


def caterpillar(model, factor=None, column=None, level=0.95, ax=None):
    """Caterpillar plot: conditional modes of one random effect with prediction intervals.

    The levels of the grouping factor are sorted by their conditional mode; each gets a
    point at the mode and a horizontal bar of ``± z * sd``, the standard deviations
    coming from the conditional variances (``condvar()``, of LMMs and GLMMs) and ``z``
    from the normal distribution for the given ``level``.

    Only linear mixed models are supported: :class:`~sklmixed.GeneralizedLinearMixedModel`
    has no conditional variances yet.

    Parameters
    ----------
    model : LinearMixedModel
        A fitted linear mixed model (or a fitted :class:`~sklmixed.LinearMixedRegressor`,
        whose ``model_`` is used).
    factor : str, optional
        The grouping factor, e.g. ``"subj"``; defaults to the first of ``model.reterms``
        (the one with the most random effects).
    column : str or int, optional
        Which random effect of the factor, by name (``"days"``) or position; defaults to
        the first, usually ``"(Intercept)"``.
    level : float, default=0.95
        Coverage of the intervals, in (0, 1).
    ax : matplotlib.axes.Axes, optional
        Axes to draw on; a new figure is made when omitted.

    Returns
    -------
    matplotlib.axes.Axes
        The axes: one point per level of the factor, with its interval.

    Raises
    ------
    NotImplementedError
        For a generalized linear mixed model.
    ValueError
        For an unknown factor or column, or a level outside (0, 1).
    ImportError
        If matplotlib is not installed.

    See Also
    --------
    sklmixed.LinearMixedModel.condvar : The conditional covariances used.
    sklmixed.LinearMixedModel.ranef : The conditional modes plotted.

    Examples
    --------
    >>> from sklmixed import LinearMixedModel, load_dataset
    >>> from sklmixed.plotting import caterpillar
    >>> fm2 = LinearMixedModel("reaction ~ 1 + days + (1 + days | subj)", load_dataset("sleepstudy"))
    >>> fm2 = fm2.fit(progress=False)
    >>> ax = caterpillar(fm2, "subj", column="days")
    >>> len(ax.get_yticks())  # one row per subject
    18
    """
    model = _unwrap_model(model, "caterpillar")
    if not hasattr(model, "condvar"):
        raise NotImplementedError(f"caterpillar plots need the conditional variances of the random effects, which "
                                  f"sklmixed computes for linear mixed models only (LinearMixedModel.condvar); "
                                  f"a {type(model).__name__} has none")
    j, name = _resolve_factor(model, factor)
    cnames = list(model.reterms[j].cnames)
    k = _resolve_column(cnames, column, name)
    if not (isinstance(level, (int, float, np.floating)) and 0 < level < 1):
        raise ValueError(f"level must be a probability in (0, 1), got {level!r}")
    ranef = model.ranef()[name]  # raises if the model is not fitted
    modes = ranef.iloc[:, k].to_numpy(dtype=float)
    sd = np.sqrt(np.maximum(model.condvar()[name][:, k, k], 0.0))
    half = stats.norm.ppf((1 + level) / 2) * sd
    labels = np.asarray([str(v) for v in ranef.index])
    order = np.argsort(modes, kind="stable")
    nlev = len(modes)
    ax = _new_axes(ax, (5.0, max(2.5, min(0.22 * nlev + 1.2, 12.0))))
    pos = np.arange(nlev)
    ax.axvline(0.0, color="0.6", linewidth=0.8, linestyle="--", zorder=0)
    ax.errorbar(modes[order], pos, xerr=half[order], fmt="o", markersize=3.5, elinewidth=1.0, capsize=0,
                color="C0")
    ax.set_yticks(pos)
    if nlev <= 60:
        ax.set_yticklabels(labels[order], fontsize="small" if nlev > 25 else "medium")
    else:
        ax.set_yticklabels([])
    ax.set_ylim(-0.7, nlev - 0.3)
    ax.set_ylabel(name)
    ax.set_xlabel(f"{cnames[k]}: conditional mode and {level:.0%} interval")
    ax.set_title(f"Random effects of {name}")
    return ax


def shrinkage(model, factor=None, ax=None):
    """Shrinkage plot: per-level least-squares estimates against the mixed-model ones.

    For each level of the grouping factor the coefficients of its random-effects
    columns are estimated twice: by least squares within the level alone, and by the
    mixed model (fixed effect plus conditional mode). The mixed-model estimates are
    pulled ("shrunk") towards the population values, the more so the less a level's own
    data say.

    * Two or more random effects per level (``(1 + days | subj)``): a scatter of the
      first two coefficients, with an arrow from each level's within-level fit to its
      mixed-model estimate and a cross at the population (fixed-effects) values.
    * One random effect (``(1 | batch)``): the mixed-model estimate against the
      within-level estimate (the level mean of the partial response for a random
      intercept), with the identity line; points off the line have been shrunk.

    Only linear mixed models are supported.

    Parameters
    ----------
    model : LinearMixedModel
        A fitted linear mixed model (or a fitted :class:`~sklmixed.LinearMixedRegressor`,
        whose ``model_`` is used).
    factor : str, optional
        The grouping factor; defaults to the first of ``model.reterms``.
    ax : matplotlib.axes.Axes, optional
        Axes to draw on; a new figure is made when omitted.

    Returns
    -------
    matplotlib.axes.Axes
        The axes.

    Raises
    ------
    NotImplementedError
        For a generalized linear mixed model.
    ValueError
        For an unknown factor.
    ImportError
        If matplotlib is not installed.

    Notes
    -----
    The within-level fit regresses the partial response -- the response less the
    fitted values, plus this term's random contribution and the fixed effects of its
    columns -- on the term's columns, level by level. With no other terms in the model,
    as in ``reaction ~ 1 + days + (1 + days | subj)``, this is an ordinary per-subject
    regression of the response. Levels with fewer observations than random effects
    have no within-level fit and are drawn without an arrow.

    Examples
    --------
    >>> from sklmixed import LinearMixedModel, load_dataset
    >>> from sklmixed.plotting import shrinkage
    >>> fm2 = LinearMixedModel("reaction ~ 1 + days + (1 + days | subj)", load_dataset("sleepstudy"))
    >>> ax = shrinkage(fm2.fit(progress=False))
    >>> ax.get_xlabel(), ax.get_ylabel()
    ('(Intercept)', 'days')
    """
    model = _unwrap_model(model, "shrinkage")
    j, name = _resolve_factor(model, factor)
    r = model.reterms[j]
    b = model.ranef()[name].to_numpy(dtype=float)  # raises if the model is not fitted
    within, beta = model.within_level_estimates(j, b)
    mixed = beta[None, :] + b
    cnames = list(r.cnames)
    ax = _new_axes(ax, (5.6, 5.0) if r.S > 1 else (5.0, 5.0))
    if r.S > 1:
        ok = np.all(np.isfinite(within[:, :2]), axis=1)
        ax.scatter(within[ok, 0], within[ok, 1], s=22, facecolors="none", edgecolors="C1",
                   label="within-level least squares", zorder=3)
        ax.scatter(mixed[:, 0], mixed[:, 1], s=18, color="C0", label="mixed model", zorder=4)
        for w, m in zip(within[ok, :2], mixed[ok, :2]):
            ax.annotate("", xy=tuple(m), xytext=tuple(w),
                        arrowprops={"arrowstyle": "->", "color": "0.45", "linewidth": 0.8, "shrinkA": 2,
                                    "shrinkB": 2})
        ax.scatter([beta[0]], [beta[1]], marker="+", s=140, color="k", linewidths=1.6,
                   label="population (fixed effects)", zorder=5)
        ax.set_xlabel(cnames[0])
        ax.set_ylabel(cnames[1])
    else:
        ok = np.isfinite(within[:, 0])
        ax.scatter(within[ok, 0], mixed[ok, 0], s=24, color="C0", label="levels", zorder=3)
        values = np.concatenate([within[ok, 0], mixed[:, 0]])
        lo, hi = float(np.min(values)), float(np.max(values))
        pad = 0.05 * (hi - lo if hi > lo else 1.0)
        ax.plot([lo - pad, hi + pad], [lo - pad, hi + pad], color="0.6", linestyle="--", linewidth=0.8,
                label="no shrinkage (identity)")
        ax.axhline(beta[0], color="k", linewidth=0.8, linestyle=":", label="population (fixed effect)")
        ax.set_xlabel(f"{cnames[0]}: within-level estimate")
        ax.set_ylabel(f"{cnames[0]}: mixed-model estimate")
    ax.set_title(f"Shrinkage of the {name} estimates")
    ax.legend(fontsize="small")
    return ax


def zeta_plot(prof, parameters=None, *, level: float = 0.95, axes=None, figsize=None):
    """The ζ curves of a :func:`~sklmixed.profile` (MixedModels' and lme4's profile plot).

    One panel per parameter: ζ against the parameter's value, a straight line where the
    likelihood is quadratic; the dashed lines at :math:`\\pm z_{(1+level)/2}` cut the profile
    interval out of the value axis.

    Parameters
    ----------
    prof : Profile
        From :func:`sklmixed.profile`.
    parameters : list of str, optional
        The parameters to show (default: all).
    level : float, default=0.95
        The level of the dashed lines.
    axes : array of matplotlib Axes, optional
        One per parameter.
    figsize : tuple, optional

    Returns
    -------
    ndarray of matplotlib Axes
    """
    table = getattr(prof, "table", None)
    if table is None or not {"parameter", "value", "zeta"} <= set(table.columns):
        raise TypeError(f"zeta_plot needs a Profile from sklmixed.profile(), got a {type(prof).__name__}")
    names = list(dict.fromkeys(table["parameter"])) if parameters is None else list(parameters)
    unknown = [p for p in names if p not in set(table["parameter"])]
    if unknown:
        raise ValueError(f"the profile has no parameter(s) {unknown}; it has {list(dict.fromkeys(table['parameter']))}")
    plt = _pyplot()
    if axes is None:
        ncol = min(3, len(names))
        nrow = -(-len(names) // ncol)
        _, axes = plt.subplots(nrow, ncol, figsize=figsize or (3.2 * ncol, 2.8 * nrow), layout="constrained",
                               squeeze=False, sharey=True)
    axes = np.asarray(axes).ravel()
    if len(axes) < len(names):
        raise ValueError(f"{len(names)} parameters need as many axes, got {len(axes)}")
    z = stats.norm.ppf((1 + level) / 2)
    for ax, name in zip(axes, names):
        rows = table[table["parameter"] == name].sort_values("value")
        ax.plot(rows["value"], rows["zeta"], "-o", markersize=3)
        for h in (-z, z):
            ax.axhline(h, linestyle="--", color="grey", linewidth=0.8)
        ax.axhline(0.0, color="grey", linewidth=0.5)
        ax.set_xlabel(name)
    axes[0].set_ylabel("ζ")
    for ax in axes[len(names):]:
        ax.set_visible(False)
    return axes

r"""Feature selection by the fixed effects: one importance per column of X, the grouping columns kept.

scikit-learn's :class:`~sklearn.feature_selection.SelectFromModel` reads ``coef_`` as one
entry per column of X. A mixed-model estimator's coefficients (``fixed_effects_``) are those
of the fixed-effects design instead: none for a grouping column, one per non-reference level
for a categorical column (so the estimators offer ``coef_`` only where the two agree).
:class:`SelectFromMixedModel` is ``SelectFromModel`` reading one
importance per fixed-effects column of X (:func:`column_importances`): for a numeric
column :math:`j` with coefficient :math:`\beta_j`, and for a categorical column whose
levels :math:`\ell` have the fixed effects :math:`\delta_{j\ell}` (0 for the reference
level of the treatment coding),

.. math::

    I_j = |\beta_j|, \qquad I_j = \max_\ell \delta_{j\ell} - \min_\ell \delta_{j\ell},

the largest difference the column makes to the linear predictor, per unit or between two
of its levels (the same whichever level is the reference; a two-level column counts as
its 0/1 indicator would). The threshold and ``max_features`` apply to these importances
alone, and the grouping columns are always kept, so the selected X still carries them
for the next step of a :class:`~sklearn.pipeline.Pipeline`.
"""

from __future__ import annotations

import warnings

import numpy as np
import sklearn
from sklearn.feature_selection import SelectFromModel
from sklearn.utils.validation import check_is_fitted

from ._base import _MixedModelEstimator
from ._layout import check_no_missing

__all__ = []


def _mixed(estimator):
    """``estimator``, checked to be a sklmixed estimator (whose layout maps its coefficients onto X)."""
    if not isinstance(estimator, _MixedModelEstimator):
        raise TypeError(
            "SelectFromMixedModel selects columns of X by the fixed effects of a sklmixed estimator "
            "(LinearMixedRegressor, GeneralizedMixedRegressor, GeneralizedMixedClassifier), got "
            f"{type(estimator).__name__}. In a Pipeline, put the selector before the estimator, as a step of its "
            "own; for other estimators use sklearn.feature_selection.SelectFromModel")
    return estimator


def column_importances(estimator) -> np.ndarray:
    """One importance per fixed-effects column of X (grouping columns left out), in the order of X.

    ``|coef|`` for a numeric column; for a categorical column the range of its levels' fixed
    effects, the reference level's 0 included. Columns dropped as collinear count as 0, as
    in ``fixed_effects_``.
    """
    check_is_fitted(_mixed(estimator))
    layout = estimator._layout
    coef = estimator.fixed_effects_.to_numpy()  # coef_ is there only when it lines up with X
    pos = np.array([c.pos for c in layout.fixed.columns if c.pos >= 0], dtype=int)  # the X column of each one
    out = np.zeros(len(layout.feature_pos))
    for k, j in enumerate(layout.feature_pos):
        effects = coef[pos == j]
        if j in layout.categories and len(effects) < len(layout.categories[j]):
            effects = np.append(effects, 0.0)  # treatment coding: the first level is the reference
        out[k] = np.ptp(effects) if j in layout.categories else abs(effects[0])
    return out


class SelectFromMixedModel(SelectFromModel):
    r"""Select columns of X by the fixed effects of a mixed model, keeping the grouping columns.

    scikit-learn's :class:`~sklearn.feature_selection.SelectFromModel` for the sklmixed
    estimators: the importance of a fixed-effects column of X is :math:`|\beta_j|` for a
    numeric column and, for a categorical column, the range of its levels' fixed effects
    (the reference level's 0 included); see :mod:`sklmixed.feature_selection`. The
    threshold and ``max_features`` apply to the fixed-effects columns alone; the grouping
    columns (``group_columns``) are always kept, in place, so that the selected X serves
    the next step of a Pipeline. Grouping factors given as ``groups`` metadata are
    routed to the estimator's ``fit`` as ``SelectFromModel`` routes them. As with
    the coefficients, the importances of numeric columns depend on their scale: standardise them
    first to compare them.

    Parameters
    ----------
    estimator : LinearMixedRegressor, GeneralizedMixedRegressor or GeneralizedMixedClassifier
        The estimator whose fixed effects rank the columns: fit by ``fit`` (a clone), or
        already fitted with ``prefit=True``.
    threshold : str or float, default=None
        Columns whose importance is at least the threshold are kept: a number, ``"mean"``
        or ``"median"`` of the importances of the fixed-effects columns, or a multiple such
        as ``"1.25*mean"``. None means ``"mean"``.
    prefit : bool, default=False
        Whether ``estimator`` is already fitted (it is then deep-copied, not refitted).
    max_features : int, callable or None, default=None
        The most fixed-effects columns to keep (the grouping columns are kept on top), or a
        callable of X that returns it. Set ``threshold=-np.inf`` to select by
        ``max_features`` alone.

    Attributes
    ----------
    estimator_ : estimator
        The fitted estimator (a deep copy with ``prefit=True``).
    threshold_ : float
        The threshold applied to the importances.
    max_features_ : int
        ``max_features`` as an integer (only when ``max_features`` is not None).
    n_features_in_ : int
        Number of columns of X, the grouping columns included.
    feature_names_in_ : ndarray of str of shape (``n_features_in_``,)
        Column names of X, when X was a DataFrame with string column names.

    See Also
    --------
    sklearn.feature_selection.SelectFromModel : Reads ``coef_`` as one entry per column
        of X, which it is only when every column of X is a numeric fixed effect (where
        ``coef_`` would not line up with X, the estimators have none, and it stops).
    sklearn.feature_selection.RFE : Works with grouping factors as metadata, or as the
        last columns of a numeric X named by negative index.

    Examples
    --------
    >>> import numpy as np
    >>> import pandas as pd
    >>> from sklmixed import LinearMixedRegressor
    >>> from sklmixed.feature_selection import SelectFromMixedModel
    >>> rng = np.random.default_rng(0)
    >>> site = rng.integers(0, 20, 400)
    >>> X = pd.DataFrame({"x": rng.normal(size=400), "noise": rng.normal(size=400),
    ...                   "dose": rng.choice(["low", "mid", "high"], 400), "site": site})
    >>> y = 2 * X["x"] + 1.5 * (X["dose"] == "high") + rng.normal(0, 1, 20)[site] + rng.normal(size=400)
    >>> selector = SelectFromMixedModel(LinearMixedRegressor(group_columns=["site"]), threshold=0.5).fit(X, y)
    >>> selector.importance_getter(selector.estimator_).round(2)  # x, noise, dose
    array([2.05, 0.01, 1.63])
    >>> selector.get_feature_names_out().tolist()
    ['x', 'dose', 'site']
    """

    _parameter_constraints: dict = {name: SelectFromModel._parameter_constraints[name]
                                    for name in ("estimator", "threshold", "prefit", "max_features")}
    # SelectFromModel's norm of 2-D importances; these are 1-D
    norm_order = 1

    def __init__(self, estimator, *, threshold=None, prefit=False, max_features=None):
        self.estimator = estimator
        self.threshold = threshold
        self.prefit = prefit
        self.max_features = max_features

    def importance_getter(self, estimator):
        """The importances of the fixed-effects columns of X, in the order of X (grouping columns left out).

        Parameters
        ----------
        estimator : LinearMixedRegressor, GeneralizedMixedRegressor or GeneralizedMixedClassifier
            A fitted estimator.

        Returns
        -------
        importances : ndarray of shape (n_fixed_columns,)
        """
        return column_importances(estimator)

    def fit(self, X, y=None, **fit_params):
        """Fit the estimator (unless ``prefit``) and select.

        Parameters
        ----------
        X : {array-like, DataFrame} of shape (n_samples, n_features)
            The estimator's X, grouping columns included.
        y : array-like of shape (n_samples,)
        **fit_params : dict
            Passed to the estimator's ``fit`` (``groups``, ``sample_weight``), or routed to
            it with metadata routing on.

        Returns
        -------
        self : SelectFromMixedModel
        """
        _mixed(self.estimator)  # before any fitting
        return super().fit(X, y, **fit_params)

    def _get_support_mask(self):
        selected = super()._get_support_mask()  # over the fixed-effects columns: importance_getter's
        layout = getattr(self, "estimator_", self.estimator)._layout
        mask = np.ones(layout.n_features, dtype=bool)
        mask[layout.feature_pos] = selected
        return mask

    def transform(self, X):
        """Reduce X to the selected columns, the grouping columns included.

        Parameters
        ----------
        X : {array-like, DataFrame} of shape (n_samples, n_features)
            Laid out as in ``fit``. A missing label in a grouping column passes through (it
            asks the next step for the population-level prediction); a missing value elsewhere
            is refused.

        Returns
        -------
        X_selected : {ndarray, DataFrame} of shape (n_samples, n_selected)
            A DataFrame with ``set_output(transform="pandas")``.
        """
        support = self.get_support()  # first: refuses an estimator that is not fitted
        layout = getattr(self, "estimator_", self.estimator)._layout
        if layout.group_pos and layout.feature_pos and not support[layout.feature_pos].any():
            # as SelectFromModel warns when it selects nothing (here the grouping columns stay)
            warnings.warn("No fixed-effects columns were selected: only the grouping columns remain",
                          UserWarning, stacklevel=2)
        if not layout.group_pos:
            return super().transform(X)
        with sklearn.config_context(assume_finite=True):  # the grouping columns may hold missing labels
            return super().transform(X)

    def _transform(self, X):
        layout = getattr(self, "estimator_", self.estimator)._layout
        if layout.group_pos:  # X has been validated: checked as the estimator's predict checks it
            check_no_missing(X, "X", skip=layout.group_pos)
        return super()._transform(X)

"""The linear mixed-effects regressor."""

from __future__ import annotations

import numpy as np
from sklearn.base import RegressorMixin
from sklearn.metrics import r2_score
from sklearn.utils import metadata_routing
from sklearn.utils.validation import check_is_fitted

from ..models.linear import LinearMixedModel
from ._base import _MixedModelEstimator
from ._params import document

__all__ = ["LinearMixedRegressor"]


@document
class LinearMixedRegressor(RegressorMixin, _MixedModelEstimator):
    r"""Linear mixed-effects regression, fit by maximum likelihood or REML.

    For observation :math:`i` in level :math:`\ell_k(i)` of grouping factor :math:`k`,

    .. math::

        y_i = \beta_0 + x_i^\top\beta + \sum_k z_{ik}^\top b_{k,\ell_k(i)} + \varepsilon_i,
        \qquad \varepsilon_i \sim \mathcal N(0, \sigma^2 / w_i),\qquad
        b_{k,\ell} \sim \mathcal N(0, \Sigma_k),

    independently, where :math:`z_{ik}` holds a 1 (the random intercept) and the values of
    the ``random_slopes`` columns of factor :math:`k`, and
    :math:`\Sigma_k = \sigma^2 \Lambda_k \Lambda_k^\top` with :math:`\Lambda_k` lower
    triangular (diagonal when ``correlated=False``). The free entries of the
    :math:`\Lambda_k` form :math:`\theta`, found by minimising the profiled deviance (or
    REML criterion) with a derivative-free NLopt optimizer; :math:`\beta` and
    :math:`\sigma` are then the conditional estimates. This is the model
    ``y ~ 1 + x1 + ... + (1 + slopes | g1) + ...`` of
    :class:`~sklmixed.LinearMixedModel`.

    Without ``groups`` the model has no random effects and is fit by (weighted)
    ordinary least squares, so the estimator also works where scikit-learn tools fit
    it without metadata.

    Parameters
    ----------
    {{parameters}}

    Attributes
    ----------
    beta_ : ndarray of shape (n_beta,)
        The fixed-effects estimates in model order, the intercept first: the core model's
        ``beta`` (columns dropped as collinear are left out).
    coef_ : ndarray of shape (n_coef,)
        One coefficient per column of the encoded fixed-effects design except the
        intercept: numeric columns as they are, categorical and text columns of a
        DataFrame dummy-coded (treatment coding; the first level is dropped when there
        is an intercept). Columns dropped as collinear get 0.0.
    coef_names_ : ndarray of str of shape (n_coef,)
        Names of the entries of ``coef_``, such as ``"days"`` or ``"service[T.Y]"``.
    intercept_ : float
        The fixed intercept (0.0 when ``fit_intercept=False``).
    theta_ : ndarray of shape (n_theta,)
        Relative covariance parameters, in the order of ``model_.reterms`` (grouping
        factors by decreasing number of random effects). Empty without groups.
    sigma_ : float
        Residual standard deviation. Without groups, the ML estimate
        :math:`\sqrt{\sum_i w_i r_i^2 / n}`.
    ranef_ : dict of str to pandas.DataFrame
        Conditional modes of the random effects: one DataFrame per grouping factor,
        indexed by level, with a column per random effect. Empty without groups.
    optsum_ : OptSummary or None
        The optimizer settings used and the results (None without groups).
    model_ : LinearMixedModel or None
        The fitted core model, for summaries (``print(reg.model_)``), variance
        components, likelihood-ratio tests and the like (None without groups).
    n_features_in_ : int
        Number of columns of X seen in fit (grouping columns included).
    feature_names_in_ : ndarray of str of shape (``n_features_in_``,)
        Column names of X, when X was a DataFrame with string column names.

    See Also
    --------
    sklmixed.LinearMixedModel : The formula interface to the same model.
    GeneralizedMixedRegressor : Counts and proportions.
    GeneralizedMixedClassifier : Binary outcomes.

    Notes
    -----
    **Passing the groups.** Grouping factors can reach the estimator in two ways.

    1. As metadata: ``fit(X, y, groups=g)``, ``predict(X, groups=g)`` and
       ``score(X, y, groups=g)``. ``groups`` is requested by default in all three, so with
       ``sklearn.set_config(enable_metadata_routing=True)`` one ``groups`` array passed
       to :class:`~sklearn.model_selection.GridSearchCV`, ``cross_validate`` or a
       :class:`~sklearn.pipeline.Pipeline` splits the
       :class:`~sklearn.model_selection.GroupKFold` folds *and* reaches ``fit`` (and the
       scorer). Without routing, ``cross_validate(..., groups=g, params={"groups": g})``
       hands it to the splitter and ``fit``, but not to ``score``, which then predicts at
       the population level. When one column splits the folds and several grouping
       factors enter the model, alias the request:
       ``est.set_fit_request(groups="factors")`` and ``params={"groups": g, "factors": G}``.
    2. As columns of X: ``group_columns=["subj"]`` with ``X = data[["days", "subj"]]``.
       This cannot go wrong, with or without routing. In a pipeline, keep the grouping
       columns away from transformers, e.g. with a
       :class:`~sklearn.compose.ColumnTransformer` (``remainder="passthrough"``) and
       ``set_output(transform="pandas")``.

    **The silent trap.** With routing off, ``GridSearchCV(...).fit(X, y, groups=g)`` gives
    ``g`` to the splitter only: every candidate is then fit *without random effects*,
    and nothing warns. Use ``group_columns`` or enable metadata routing. (With routing
    on, a ``group_columns`` estimator must decline the routed groups with
    ``set_fit_request(groups=False)`` and the like.) Note also that a search object's own
    ``predict`` passes no metadata: use ``search.best_estimator_.predict(X, groups=g)``,
    or ``group_columns``, to predict with the random effects.

    **Prediction.** Levels seen in fitting contribute their conditional modes; unseen
    levels, missing labels and ``groups=None`` give the population-level prediction
    :math:`\beta_0 + x^\top\beta`.

    **Grouping structure.** Factors are crossed or nested as the data say: nested
    factors need labels that are unique across their parents (use ``"school/class"``
    rather than class numbers that repeat in every school).

    ``sample_weight`` are case weights (residual variance :math:`\sigma^2/w_i`); samples
    with zero weight are left out.

    Examples
    --------
    >>> from sklmixed import LinearMixedRegressor, load_dataset
    >>> data = load_dataset("sleepstudy")
    >>> reg = LinearMixedRegressor(random_slopes=["days"])
    >>> reg = reg.fit(data[["days"]], data["reaction"], groups=data["subj"])
    >>> reg.beta_.round(2)
    array([251.41,  10.47])
    >>> reg.theta_.round(3)
    array([0.929, 0.018, 0.223])
    >>> round(reg.sigma_, 2)
    25.59
    >>> reg.ranef_["subj"].head(2).round(2)  # doctest: +NORMALIZE_WHITESPACE
          (Intercept)  days
    subj
    S308         2.82  9.08
    S309       -40.05 -8.64
    >>> reg.predict(data[["days"]].head(3), groups=data["subj"].head(3)).round(1)
    array([254.2, 273.8, 293.3])
    >>> reg.predict(data[["days"]].head(3)).round(1)  # population level
    array([251.4, 261.9, 272.3])
    """

    # return_std is an option of predict, not metadata to route (as in GaussianProcessRegressor)
    __metadata_request__predict = {"return_std": metadata_routing.UNUSED}

    def __init__(
        self,
        *,
        random_slopes=None,
        correlated=True,
        fit_intercept=True,
        group_columns=None,
        reml=False,
        optimizer="LN_BOBYQA",
        ftol_rel=1e-12,
        ftol_abs=1e-8,
        xtol_abs=1e-10,
        maxfeval=-1,
        maxtime=-1,
        progress=False,
    ):
        self.random_slopes = random_slopes
        self.correlated = correlated
        self.fit_intercept = fit_intercept
        self.group_columns = group_columns
        self.reml = reml
        self.optimizer = optimizer
        self.ftol_rel = ftol_rel
        self.ftol_abs = ftol_abs
        self.xtol_abs = xtol_abs
        self.maxfeval = maxfeval
        self.maxtime = maxtime
        self.progress = progress

    def fit(self, X, y, groups=None, sample_weight=None):
        """Fit the model.

        Parameters
        ----------
        X : {array-like, DataFrame} of shape (n_samples, n_features)
            Fixed-effects features (and the ``group_columns``, if any). Categorical and
            text columns of a DataFrame are dummy-coded.
        y : array-like of shape (n_samples,)
            The response.
        groups : array-like of shape (n_samples,) or (n_samples, n_factors), default=None
            Grouping factor(s): a 1-D array or Series, or a DataFrame or 2-D array with
            one column per factor. None fits the model without random effects
            (ordinary least squares).
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative case weights.

        Returns
        -------
        self : LinearMixedRegressor
            The fitted estimator.
        """
        return self._fit(X, y, groups, sample_weight)

    def _encode_target(self, y, sample_weight, params):
        return np.asarray(y, dtype=float), {}

    def _fit_model(self, y, feterm, reterms, weights, params, formula):
        model = LinearMixedModel.from_terms(y, feterm, reterms, weights=weights, formula=formula)
        self._configure_optsum(model.optsum, params, model.theta_scale)
        model.fit(reml=params["reml"], progress=params["progress"])
        return model, {"sigma_": float(model.sigma)}

    def _fit_fixed(self, y, feterm, weights, params):
        w = np.ones(len(y)) if weights is None else weights
        sqw = np.sqrt(w)
        beta = np.linalg.lstsq(feterm.X * sqw[:, None], y * sqw, rcond=None)[0]
        resid = y - feterm.X @ beta
        return beta, {"sigma_": float(np.sqrt(np.sum(w * resid * resid) / len(y)))}

    def predict(self, X, groups=None, return_std=False):
        """Predict the response: the fixed part plus the random effects of seen levels.

        Parameters
        ----------
        X : {array-like, DataFrame} of shape (n_samples, n_features)
            Features, laid out as in ``fit``.
        groups : array-like of shape (n_samples,) or (n_samples, n_factors), default=None
            Grouping factor(s), as in ``fit``. Levels not seen in fitting, and
            ``groups=None``, give the population-level prediction.
        return_std : bool, default=False
            Also return the standard error of every prediction (of the mean response, given θ;
            see :mod:`sklmixed.models.prediction`).

        Returns
        -------
        y_pred : ndarray of shape (n_samples,)
        y_std : ndarray of shape (n_samples,)
            Only with ``return_std``.
        """
        check_is_fitted(self)
        return self._linear_predictor(X, groups, return_std)

    def score(self, X, y, groups=None, sample_weight=None):
        """The coefficient of determination :math:`R^2` of ``predict(X, groups)``.

        Parameters
        ----------
        X : {array-like, DataFrame} of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
        groups : array-like of shape (n_samples,) or (n_samples, n_factors), default=None
        sample_weight : array-like of shape (n_samples,), default=None

        Returns
        -------
        score : float
        """
        check_is_fitted(self)
        return r2_score(y, self.predict(X, groups=groups), sample_weight=sample_weight)

"""The linear mixed-effects regressor."""

from __future__ import annotations

import numpy as np
from sklearn.base import RegressorMixin
from sklearn.metrics import r2_score
from sklearn.utils import metadata_routing

from ..models.linear import LinearMixedModel
from ..models.objective import profiled_deviance
from ._base import _MixedModelEstimator
from ._params import document
from ._partitioned import fitted_method

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
    fixed_effects_ : pandas.Series of shape (n_coef,)
        The fixed-effects coefficients except the intercept (``intercept_``), indexed by
        ``coef_names_``: one per column of the encoded fixed-effects design, numeric
        columns as they are, categorical and text columns of a DataFrame dummy-coded
        (treatment coding; the first level is dropped when there is an intercept).
        Columns dropped as collinear get 0.0.
    coef_ : ndarray of shape (n_coef,)
        ``fixed_effects_`` as scikit-learn's tools (``SelectFromModel``, ``RFE``) read it:
        entry ``j`` is the coefficient of column ``j`` of X. Present only where that
        holds: every fixed-effects column of X has one coefficient (a numeric column, or
        a categorical one coded as one indicator) and the grouping columns come last.
        Elsewhere reading it raises an ``AttributeError`` that says why, so those tools
        stop instead of misreading it: use ``fixed_effects_``, and select columns of X
        with :class:`~sklmixed.feature_selection.SelectFromMixedModel`.
    coef_names_ : ndarray of str of shape (n_coef,)
        Names of the coefficients, such as ``"days"`` or ``"service[T.Y]"``.
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
    n_iter_ : int
        Evaluations of the objective by the optimizer (both stages of a full GLMM fit);
        0 without groups.
    converged_ : bool
        Whether the optimizer (and, for a GLMM, PIRLS) met its convergence criterion;
        False when ``maxfeval`` or ``maxtime`` stopped it. True without groups.
    objective_ : float
        The criterion minimised, at the estimates: the profiled deviance
        (:math:`-2\log L`) or REML criterion; without groups, the same criterion of the
        least-squares fit (the mixed model's at :math:`\theta = 0`).
    model_ : LinearMixedModel or None
        The fitted core model, for summaries (``print(reg.model_)``), variance
        components, likelihood-ratio tests and the like (None without groups). Left out
        of pickles unless ``keep_model=True``.
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

    1. As columns of X, the default route: ``group_columns=["subj"]`` with
       ``X = data[["days", "subj"]]``. They travel with X through every scikit-learn
       tool, so every fit and every prediction sees them, with or without metadata
       routing. Where a tool hands NumPy arrays on (``ColumnTransformer``'s default
       output, ``BaggingRegressor``, ``RFE``) the grouping columns must be the last ones,
       named by negative index (``group_columns=[-1]``).
    2. As metadata: ``fit(X, y, groups=g)``, ``predict(X, groups=g)`` and
       ``score(X, y, groups=g)``. ``groups`` is requested by default in all three, so with
       ``sklearn.set_config(enable_metadata_routing=True)`` one ``groups`` array passed
       to :class:`~sklearn.model_selection.GridSearchCV`, ``cross_validate`` or a
       :class:`~sklearn.pipeline.Pipeline` splits the
       :class:`~sklearn.model_selection.GroupKFold` folds *and* reaches ``fit`` and
       ``score``. But tools that call ``predict(X)`` alone (``cross_val_predict``, scorers
       given by name, a search's own ``predict``, several ensembles) predict at the
       population level: score with :func:`sklmixed.metrics.get_scorer`, and see the
       estimators guide for which tool delivers groups where. A ``groups`` DataFrame is
       matched to the fit's factors by column name. When one column splits the folds and
       several grouping factors enter the model, alias the request:
       ``est.set_fit_request(groups="factors")`` and ``params={"groups": g, "factors": G}``.

    **No silent traps.** A fit that gets neither ``groups`` nor ``group_columns`` (with
    routing off, ``GridSearchCV(...).fit(X, y, groups=g)`` gives ``g`` to the splitter
    only) fits no random effects and warns
    (:class:`~sklmixed.exceptions.NoRandomEffectsWarning`); ``group_columns=[]`` asks for
    that on purpose. A model with random effects that predicts without groups, or for
    mostly unseen levels, warns
    (:class:`~sklmixed.exceptions.PopulationPredictionWarning`) unless
    ``new_levels="population"``.

    **Prediction.** Levels seen in fitting contribute their conditional modes; a missing
    label (NaN, None) gives the population-level prediction
    :math:`\beta_0 + x^\top\beta`, and so do unseen levels and ``groups=None`` unless
    ``new_levels="error"``.

    **Pickles.** A pickled estimator holds what ``predict`` needs; ``model_`` is left out
    unless ``keep_model=True``.

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
    >>> reg.predict(data[["days"]].head(3), groups=[None] * 3).round(1)  # population level
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
        new_levels="warn",
        keep_model=False,
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
        self.new_levels = new_levels
        self.keep_model = keep_model

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
            one column per factor. None, without ``group_columns``, fits the model
            without random effects (ordinary least squares), and warns.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative case weights.

        Returns
        -------
        self : LinearMixedRegressor
            The fitted estimator.
        """
        return self._fit(X, y, groups, sample_weight)

    def _encode_target(self, y, sample_weight, params):
        return np.asarray(y, dtype=float), sample_weight, {}

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
        rss, n = float(np.sum(w * resid * resid)), len(y)
        if params["reml"]:  # the REML criterion counts log|X'WX| and n - p degrees of freedom
            logdet, dof = float(np.linalg.slogdet(feterm.X.T @ (feterm.X * w[:, None]))[1]), n - feterm.X.shape[1]
        else:
            logdet, dof = 0.0, n
        if dof <= 0:
            objective = np.nan  # as many coefficients as observations: no criterion
        elif rss == 0:
            objective = -np.inf  # a perfect fit
        else:
            objective = profiled_deviance(logdet, rss, dof, None if weights is None else float(np.sum(np.log(w))))
        return beta, {"sigma_": float(np.sqrt(rss / n)), "objective_": objective, "n_iter_": 0, "converged_": True}

    @fitted_method
    def predict(self, X, groups=None, return_std=False):
        """Predict the response: the fixed part plus the random effects of seen levels.

        Parameters
        ----------
        X : {array-like, DataFrame} of shape (n_samples, n_features)
            Features, laid out as in ``fit``.
        groups : array-like of shape (n_samples,) or (n_samples, n_factors), default=None
            Grouping factor(s), as in ``fit`` (a DataFrame is matched by column name).
            Missing labels give the population-level prediction; levels not seen in
            fitting and ``groups=None`` too, as ``new_levels`` says.
        return_std : bool, default=False
            Also return the standard error of every prediction (of the mean response, given θ;
            see :mod:`sklmixed.models.prediction`). Needs the fitted model (``keep_model=True``
            after pickling).

        Returns
        -------
        y_pred : ndarray of shape (n_samples,)
        y_std : ndarray of shape (n_samples,)
            Only with ``return_std``.
        """
        return self._linear_predictor(X, groups, return_std)

    @fitted_method
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
        return r2_score(y, self.predict(X, groups=groups), sample_weight=sample_weight)

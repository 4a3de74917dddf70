"""The generalized linear mixed-effects regressor, for counts and proportions, and the fitting
steps it shares with the classifier (:mod:`~sklmixed.estimators._classifier`)."""

from __future__ import annotations

import numpy as np
from sklearn.base import RegressorMixin
from sklearn.utils import metadata_routing
from sklearn.utils.validation import _check_sample_weight, check_consistent_length, column_or_1d

from ..glm.irls import fit_glm
from ..models.agq import check_nagq
from ..models.generalized import GeneralizedLinearMixedModel
from ._base import _MixedModelEstimator
from ._layout import check_no_missing
from ._params import document
from ._partitioned import fitted_method

__all__ = ["GeneralizedMixedRegressor"]


class _GeneralizedMixedEstimator(_MixedModelEstimator):
    """Fitting steps shared by the GLMM estimators."""

    def _family(self, params):
        """The response family and link the model is fit with."""
        return params["family"], params["link"]

    def _check_terms(self, params, reterms):
        nagq = params["nagq"]
        if not reterms and nagq > 1:
            raise ValueError(f"nagq={nagq} (adaptive Gauss-Hermite quadrature) needs a grouping factor, but "
                             "fit got no groups (and there are no group_columns): pass groups, or use nagq=1")
        check_nagq(nagq, reterms)

    def _fit_model(self, y, feterm, reterms, weights, params, formula):
        family, link = self._family(params)
        model = GeneralizedLinearMixedModel.from_terms(y, feterm, reterms, family=family, link=link, weights=weights,
                                                       formula=formula)
        # xtol_abs in θ's units; a full fit measures β in standard errors (see the core's fit)
        self._configure_optsum(model.optsum, params, model.theta_scale)
        model.fit(fast=params["fast"], nagq=params["nagq"], progress=params["progress"])
        return model, {"_link": model.link, "_response_family": family}

    def _fit_fixed(self, y, feterm, weights, params):
        prior = np.ones(len(y)) if weights is None else weights
        family, link = self._family(params)
        beta, deviance = fit_glm(feterm.X, y, family, link, prior)
        # the Laplace deviance at θ = 0 is the GLM's deviance
        return beta, {"_link": link, "_response_family": family, "objective_": float(deviance), "n_iter_": 0,
                      "converged_": True}


@document
class GeneralizedMixedRegressor(RegressorMixin, _GeneralizedMixedEstimator):
    r"""Regression for counts (Poisson) and proportions (binomial) with random effects.

    For observation :math:`i` in level :math:`\ell_k(i)` of grouping factor :math:`k`,

    .. math::

        y_i \mid b \sim \mathcal D(\mu_i),\qquad
        g(\mu_i) = \eta_i = \beta_0 + x_i^\top\beta + \sum_k z_{ik}^\top b_{k,\ell_k(i)},\qquad
        b_{k,\ell} \sim \mathcal N(0, \Lambda_k\Lambda_k^\top),

    with :math:`\mathcal D` Poisson (``family="poisson"``, default link
    :math:`g = \log`) or binomial (``family="binomial"``: :math:`y_i` the proportion of
    successes out of :math:`w_i` trials given as ``sample_weight``, default link logit).
    θ and β maximise the Laplace approximation (or adaptive Gauss-Hermite quadrature)
    to the likelihood; see :class:`~sklmixed.GeneralizedLinearMixedModel`.

    Parameters
    ----------
    {{parameters}}

    Attributes
    ----------
    beta_ : ndarray of shape (n_beta,)
        Fixed-effects estimates in model order, the intercept first (the core model's
        ``beta``; columns dropped as collinear are left out).
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
        Names of the coefficients.
    intercept_ : float
        The fixed intercept (0.0 when ``fit_intercept=False``).
    theta_ : ndarray of shape (n_theta,)
        Relative covariance parameters (standard deviations and correlations of the
        random effects, as the Cholesky factors :math:`\Lambda_k`), in the order of
        ``model_.reterms``. Empty without groups.
    ranef_ : dict of str to pandas.DataFrame
        Conditional modes of the random effects on the linear-predictor scale, one
        DataFrame per grouping factor. Empty without groups.
    optsum_ : OptSummary or None
        Optimizer settings and results (None without groups).
    n_iter_ : int
        Evaluations of the objective by the optimizer (both stages of a full GLMM fit);
        0 without groups.
    converged_ : bool
        Whether the optimizer (and, for a GLMM, PIRLS) met its convergence criterion;
        False when ``maxfeval`` or ``maxtime`` stopped it. True without groups.
    objective_ : float
        The criterion minimised, at the estimates: the Laplace (or
        quadrature) deviance; without groups, the deviance of the GLM (the Laplace
        deviance at :math:`\theta = 0`).
    model_ : GeneralizedLinearMixedModel or None
        The fitted core model, for summaries and the deviance (None without groups).
        Left out of pickles unless ``keep_model=True``.
    n_features_in_ : int
        Number of columns of X seen in fit (grouping columns included).
    feature_names_in_ : ndarray of str of shape (``n_features_in_``,)
        Column names of X, when X was a DataFrame with string column names.

    See Also
    --------
    sklmixed.GeneralizedLinearMixedModel : The formula interface to the same model.
    GeneralizedMixedClassifier : Binary outcomes.
    LinearMixedRegressor : Continuous responses; documents the ways to pass groups.

    Notes
    -----
    Groups reach the estimator as ``group_columns`` of X (the default route: every tool
    passes them on) or as the ``groups`` metadata of ``fit``, ``predict`` and ``score``;
    see :class:`LinearMixedRegressor` for the routes and their warnings.

    Levels seen in fitting contribute their conditional modes to predictions; missing
    labels give the population-level prediction (random effects at zero), and so do
    unseen levels and ``groups=None`` unless ``new_levels="error"``. Without groups in
    ``fit`` the model has no random effects (and warns): an ordinary generalized linear
    model fit by IRLS.

    ``predict`` returns the mean :math:`\mu = g^{-1}(\eta)`; ``score`` is the fraction of
    deviance explained, :math:`D^2`, with the family's own deviance. ``sample_weight`` are
    prior weights (case weights for Poisson, numbers of trials for binomial); samples with
    zero weight are left out.

    Examples
    --------
    >>> import numpy as np
    >>> import pandas as pd
    >>> from sklmixed import GeneralizedMixedRegressor
    >>> rng = np.random.default_rng(0)
    >>> site = np.repeat(np.arange(20), 30)
    >>> x = rng.normal(size=600)
    >>> counts = rng.poisson(np.exp(0.5 + 0.3 * x + rng.normal(0, 0.5, 20)[site]))
    >>> reg = GeneralizedMixedRegressor(family="poisson")
    >>> reg = reg.fit(pd.DataFrame({"x": x}), counts, groups=pd.Series(site, name="site"))
    >>> reg.beta_.round(2)
    array([0.37, 0.28])
    >>> reg.theta_.round(2)
    array([0.55])
    >>> reg.predict(pd.DataFrame({"x": [0.0, 0.0]}), groups=[0, 99]).round(2)  # site 99 is new
    array([0.81, 1.45])
    """

    # return_std is an option of predict, not metadata to route (as in GaussianProcessRegressor)
    __metadata_request__predict = {"return_std": metadata_routing.UNUSED}

    def __init__(
        self,
        *,
        family="poisson",
        link=None,
        random_slopes=None,
        correlated=True,
        fit_intercept=True,
        group_columns=None,
        fast=False,
        nagq=1,
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
        self.family = family
        self.link = link
        self.random_slopes = random_slopes
        self.correlated = correlated
        self.fit_intercept = fit_intercept
        self.group_columns = group_columns
        self.fast = fast
        self.nagq = nagq
        self.optimizer = optimizer
        self.ftol_rel = ftol_rel
        self.ftol_abs = ftol_abs
        self.xtol_abs = xtol_abs
        self.maxfeval = maxfeval
        self.maxtime = maxtime
        self.progress = progress
        self.new_levels = new_levels
        self.keep_model = keep_model

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.positive_only = self.family == "poisson"
        return tags

    def fit(self, X, y, groups=None, sample_weight=None):
        """Fit the model.

        Parameters
        ----------
        X : {array-like, DataFrame} of shape (n_samples, n_features)
            Fixed-effects features (and the ``group_columns``, if any). Categorical and
            text columns of a DataFrame are dummy-coded.
        y : array-like of shape (n_samples,)
            Counts (Poisson), proportions (binomial) or 0/1 (Bernoulli).
        groups : array-like of shape (n_samples,) or (n_samples, n_factors), default=None
            Grouping factor(s): a 1-D array or Series, or a DataFrame or 2-D array with
            one column per factor. None, without ``group_columns``, fits a generalized
            linear model without random effects, and warns.
        sample_weight : array-like of shape (n_samples,), default=None
            Prior weights: case weights, or the numbers of trials for ``binomial``.

        Returns
        -------
        self : GeneralizedMixedRegressor
            The fitted estimator.
        """
        return self._fit(X, y, groups, sample_weight)

    def _encode_target(self, y, sample_weight, params):
        y = np.asarray(y, dtype=float)
        params["family"].check_response(y, np.ones(len(y)) if sample_weight is None else sample_weight)
        return y, sample_weight, {}

    @fitted_method
    def predict(self, X, groups=None, return_std=False):
        r"""Predicted mean response :math:`g^{-1}(\eta)`.

        Parameters
        ----------
        X : {array-like, DataFrame} of shape (n_samples, n_features)
            Features, laid out as in ``fit``.
        groups : array-like of shape (n_samples,) or (n_samples, n_factors), default=None
            Grouping factor(s); missing labels give population-level predictions, unseen
            levels and None too, as ``new_levels`` says.
        return_std : bool, default=False
            Also return the standard error of every predicted mean, on the response scale:
            :math:`|d\mu/d\eta|\,\mathrm{se}(\hat\eta)` (the delta method), with
            :math:`\mathrm{se}(\hat\eta)` the standard error of the linear predictor given θ
            (see :mod:`sklmixed.models.prediction`). Needs the fitted model
            (``keep_model=True`` after pickling).

        Returns
        -------
        y_pred : ndarray of shape (n_samples,)
        y_std : ndarray of shape (n_samples,)
            Only with ``return_std``.
        """
        if not return_std:
            return self._link.inverse(self._linear_predictor(X, groups))
        eta, se = self._linear_predictor(X, groups, return_std=True)
        mu, dmu = self._link.inverse_and_derivative(eta)
        return mu, np.abs(dmu) * se

    @fitted_method
    def score(self, X, y, groups=None, sample_weight=None):
        r"""The fraction of deviance explained, :math:`D^2`, by ``predict(X, groups)``.

        .. math::

            D^2 = 1 - \frac{\sum_i d(y_i, \hat\mu_i)}{\sum_i d(y_i, \bar y)},

        with :math:`d` the family's unit deviance times the weight (Poisson, binomial or
        Bernoulli) and :math:`\bar y` the weighted mean response: the deviance of the
        model against that of the intercept-only model, as scikit-learn's
        :func:`~sklearn.metrics.d2_tweedie_score` (Poisson) and
        :func:`~sklearn.metrics.d2_log_loss_score` (Bernoulli). 1 is a perfect fit; it
        can be negative.

        Parameters
        ----------
        X : {array-like, DataFrame} of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
        groups : array-like of shape (n_samples,) or (n_samples, n_factors), default=None
        sample_weight : array-like of shape (n_samples,), default=None
            Prior weights, as in ``fit`` (the numbers of trials for ``binomial``).

        Returns
        -------
        score : float
        """
        mu = self.predict(X, groups=groups)
        check_no_missing(y, "y")
        y = column_or_1d(y, dtype=float)
        check_consistent_length(y, mu)
        w = np.ones(len(y)) if sample_weight is None else _check_sample_weight(sample_weight, y, dtype=np.float64)
        return deviance_explained(self._response_family, y, mu, w)


def deviance_explained(family, y, mu, weights) -> float:
    """:math:`D^2 = 1 - D(y, \\hat\\mu) / D(y, \bar y)` with the family's deviance (1 or 0 when ``y`` is constant)."""
    family.check_response(y, weights)
    deviance = float(np.sum(family.dev_resid(y, family.clip_mu(mu), weights)))
    ybar = np.average(y, weights=weights) if np.sum(weights) > 0 else np.mean(y)
    null = float(np.sum(family.dev_resid(y, family.clip_mu(np.full(len(y), ybar)), weights)))
    if null <= 0 or np.ptp(y) == 0:  # a constant response: as r2_score, 1 for a perfect fit, else 0
        return 1.0 if deviance <= null else 0.0
    return 1.0 - deviance / null

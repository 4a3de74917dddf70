"""The generalized linear mixed-effects regressor, for counts and proportions, and the fitting
steps it shares with the classifier (:mod:`~sklmixed.estimators._classifier`)."""

from __future__ import annotations

import numpy as np
from sklearn.base import RegressorMixin
from sklearn.metrics import r2_score
from sklearn.utils.validation import check_is_fitted

from ..glm.irls import fit_glm
from ..models.agq import check_nagq
from ..models.generalized import GeneralizedLinearMixedModel
from ._base import _MixedModelEstimator
from ._params import document

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
        return model, {"_link": model.link}

    def _fit_fixed(self, y, feterm, weights, params):
        prior = np.ones(len(y)) if weights is None else weights
        family, link = self._family(params)
        beta, _ = fit_glm(feterm.X, y, family, link, prior)
        return beta, {"_link": link}


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
    coef_ : ndarray of shape (n_coef,)
        One coefficient per column of the encoded fixed-effects design except the
        intercept (categorical and text columns of a DataFrame dummy-coded, treatment
        coding). Columns dropped as collinear get 0.0.
    coef_names_ : ndarray of str of shape (n_coef,)
        Names of the entries of ``coef_``.
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
    model_ : GeneralizedLinearMixedModel or None
        The fitted core model, for summaries and the deviance (None without groups).
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
    Groups reach the estimator as the ``groups`` metadata of ``fit``, ``predict`` and
    ``score`` (requested by default, so metadata routing needs no set-up) or as
    ``group_columns`` of X. With routing off, ``GridSearchCV(...).fit(X, y, groups=g)``
    passes ``g`` to the splitter only, and every candidate is silently fit without
    random effects: use ``group_columns`` or enable metadata routing. See
    :class:`LinearMixedRegressor` for details.

    Levels seen in fitting contribute their conditional modes to predictions; unseen
    levels, missing labels and ``groups=None`` give the population-level prediction
    (random effects at zero). Without ``groups`` in ``fit`` the model has no random
    effects: an ordinary generalized linear model fit by IRLS.

    ``predict`` returns the mean :math:`\mu = g^{-1}(\eta)`; ``score`` is the
    :math:`R^2` of those means. ``sample_weight`` are prior weights (case weights for
    Poisson, numbers of trials for binomial); samples with zero weight are left out.

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
            one column per factor. None fits a generalized linear model without random
            effects.
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
        return y, {}

    def predict(self, X, groups=None):
        """Predicted mean response :math:`g^{-1}(\\eta)`.

        Parameters
        ----------
        X : {array-like, DataFrame} of shape (n_samples, n_features)
            Features, laid out as in ``fit``.
        groups : array-like of shape (n_samples,) or (n_samples, n_factors), default=None
            Grouping factor(s); unseen levels and None give population-level predictions.

        Returns
        -------
        y_pred : ndarray of shape (n_samples,)
        """
        check_is_fitted(self)
        return self._link.inverse(self._linear_predictor(X, groups))

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

"""Generalized linear mixed-effects estimators: a binary classifier and a count regressor."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from sklearn.base import ClassifierMixin, RegressorMixin
from sklearn.metrics import accuracy_score, r2_score
from sklearn.utils.multiclass import check_classification_targets, type_of_target
from sklearn.utils.validation import check_is_fitted

from ..glm.families import Poisson, get_family
from ..models.generalized import GeneralizedLinearMixedModel
from ..glm.irls import fit_glm
from ._base import _check_bool, _check_int, _MixedModelEstimator

__all__ = ["GeneralizedMixedClassifier", "GeneralizedMixedRegressor"]

_FAMILIES = ("poisson", "binomial", "bernoulli")


class _NonNegativePoisson(Poisson):
    """Poisson family accepting any non-negative response, as scikit-learn's PoissonRegressor.

    The deviance, IRLS and PIRLS need ``y >= 0`` only; a non-integer response gives the
    quasi-likelihood fit (the log-likelihood is then not a probability).
    """

    def check_response(self, y, wt):
        if np.any(y < 0):
            raise ValueError("Some value(s) of y are negative which is not allowed for the Poisson family.")


def _family(name):
    return _NonNegativePoisson() if name == "poisson" else get_family(name)


class _GeneralizedMixedEstimator(_MixedModelEstimator):
    """Fitting and prediction shared by the GLMM estimators."""

    def _validate_params_glmm(self):
        _check_bool(self.fast, "fast")
        _check_int(self.nagq, "nagq")
        if self.nagq < 1:
            raise ValueError(f"nagq must be a positive integer, got {self.nagq!r}")

    def _fit_family(self, columns, y, sw, layout, family, link):
        family = _family(family) if isinstance(family, str) else family
        frame = pd.DataFrame(columns, index=pd.RangeIndex(len(y)))
        frame[layout.response] = y
        fixed, formula = self._formula(layout)
        if layout.has_groups:
            with warnings.catch_warnings():
                # the scale of random-slope covariates is handled below, for fast=False too
                warnings.filterwarnings("ignore", message="random-effects covariate", category=UserWarning)
                model = GeneralizedLinearMixedModel(formula, frame, family=family, link=link, weights=sw)
            # xtol_abs in θ's units; a full fit measures β in standard errors (see the core's fit)
            self._configure_optsum(model.optsum, model.theta_scale)
            model.fit(fast=bool(self.fast), nagq=int(self.nagq), progress=self.progress)
            self._link = model.link
            self._set_fixed_effects(model.feterm, model.beta)
            self._set_random_effects(model)
        else:
            if self.nagq > 1:
                raise ValueError(f"nagq={self.nagq} (adaptive Gauss-Hermite quadrature) needs a grouping factor, but "
                                 "fit got no groups (and there are no group_columns): pass groups, or use nagq=1")
            prior = np.ones(len(y)) if sw is None else sw
            family.check_response(y, prior)
            self._link = family.make_link(link)
            feterm = self._fixed_design(fixed, frame)
            beta, _ = fit_glm(feterm.X, y, family, self._link, prior)
            self._set_fixed_effects(feterm, beta)
            self._set_random_effects(None)

    def _model_linear_predictor(self, frame):
        return self.model_.predict(frame, type="link", new_levels="population")


class GeneralizedMixedClassifier(ClassifierMixin, _GeneralizedMixedEstimator):
    r"""Binary classification with a logistic mixed-effects model.

    For observation :math:`i` in level :math:`\ell_k(i)` of grouping factor :math:`k`,

    .. math::

        \Pr(y_i = c_1 \mid b) = \operatorname{logit}^{-1}(\eta_i),\qquad
        \eta_i = \beta_0 + x_i^\top\beta + \sum_k z_{ik}^\top b_{k,\ell_k(i)},\qquad
        b_{k,\ell} \sim \mathcal N(0, \Lambda_k\Lambda_k^\top),

    where :math:`c_1` is ``classes_[1]`` and :math:`z_{ik}` holds a 1 and the
    ``random_slopes`` columns. θ (the free entries of the :math:`\Lambda_k`) and β
    maximise the Laplace approximation (or adaptive Gauss-Hermite quadrature) to the
    likelihood, with the conditional modes of the random effects found by penalised
    iteratively reweighted least squares; see :class:`~sklmixed.GeneralizedLinearMixedModel`
    with ``family="bernoulli"``.

    Parameters
    ----------
    random_slopes : list of str or int, dict or None, default=None
        Columns of X (names for a DataFrame, or indices) that get a random slope, in
        addition to the random intercept, for each grouping factor. A dict
        ``{factor: columns}`` chooses them per factor (factors named as the columns of
        ``groups``, or by position); factors it leaves out get an intercept only.
        Ignored without groups.
    correlated : bool, default=True
        Estimate the correlations between the random intercept and slopes of a factor
        (``(1 + x | g)``); False makes them independent (``(1 + x || g)``).
    fit_intercept : bool, default=True
        Include a fixed intercept :math:`\beta_0`. The random intercepts are always there.
    group_columns : list of str or int, or None, default=None
        Columns of X that are grouping factors rather than fixed effects; they travel
        with X through every scikit-learn tool (see :class:`LinearMixedRegressor`).
        Cannot be combined with the ``groups`` argument of ``fit``.
    fast : bool, default=False
        Optimise θ only, estimating β inside PIRLS (lme4's ``nAGQ=0``): faster, slightly
        less accurate. False optimises β and θ together.
    nagq : int, default=1
        Adaptive Gauss-Hermite quadrature points; 1 is the Laplace approximation. More
        than 1 needs a single grouping factor without random slopes.
    optimizer : str, default="LN_BOBYQA"
        A derivative-free NLopt algorithm, e.g. ``"LN_NELDERMEAD"``.
    ftol_rel : float, default=1e-12
        Relative tolerance on the objective.
    ftol_abs : float, default=1e-8
        Absolute tolerance on the objective.
    xtol_abs : float, default=1e-10
        Absolute tolerance on every optimised parameter.
    maxfeval : int, default=-1
        Maximum number of objective evaluations (-1: no limit).
    maxtime : float, default=-1
        Maximum optimisation time in seconds (-1: no limit).
    progress : bool or None, default=False
        Show a progress counter during the optimisation.

    Attributes
    ----------
    classes_ : ndarray of shape (2,)
        The two class labels (sorted); ``classes_[1]`` is the event.
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

    ``sample_weight`` are case weights; samples with zero weight are left out.

    Examples
    --------
    >>> from sklmixed import GeneralizedMixedClassifier, load_dataset
    >>> data = load_dataset("verbagg")
    >>> X = data[["anger", "gender", "btype", "situ"]]
    >>> groups = data[["subj", "item"]]
    >>> clf = GeneralizedMixedClassifier(fast=True).fit(X, data["r2"], groups=groups)
    >>> clf.classes_.tolist()
    ['N', 'Y']
    >>> clf.coef_names_.tolist()
    ['anger', 'gender[T.M]', 'btype[T.scold]', 'btype[T.shout]', 'situ[T.self]']
    >>> round(float(clf.model_.deviance), 2)
    8151.58
    >>> clf.predict_proba(X.head(2), groups=groups.head(2)).round(2)
    array([[0.32, 0.68],
           [0.79, 0.21]])
    >>> clf.predict(X.head(2), groups=groups.head(2))
    array(['Y', 'N'], dtype=object)
    """

    __metadata_request__predict_proba = {"groups": True}
    __metadata_request__predict_log_proba = {"groups": True}
    __metadata_request__decision_function = {"groups": True}

    _y_numeric = False

    def __init__(
        self,
        *,
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
        tags.classifier_tags.multi_class = False
        return tags

    def fit(self, X, y, groups=None, sample_weight=None):
        """Fit the model.

        Parameters
        ----------
        X : {array-like, DataFrame} of shape (n_samples, n_features)
            Fixed-effects features (and the ``group_columns``, if any). Categorical and
            text columns of a DataFrame are dummy-coded.
        y : array-like of shape (n_samples,)
            Two class labels of any type.
        groups : array-like of shape (n_samples,) or (n_samples, n_factors), default=None
            Grouping factor(s): a 1-D array or Series, or a DataFrame or 2-D array with
            one column per factor. None fits a logistic regression without random effects.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative case weights.

        Returns
        -------
        self : GeneralizedMixedClassifier
            The fitted estimator.
        """
        self._validate_params_glmm()
        columns, y, sw, layout = self._prepare_fit(X, y, groups, sample_weight)
        self._layout = layout
        check_classification_targets(y)
        classes = np.unique(y)
        if len(classes) < 2:
            raise ValueError(f"{type(self).__name__} needs samples of two classes; y has only one class: "
                             f"{classes.tolist()}")
        y_type = type_of_target(y, input_name="y", raise_unknown=True)
        if y_type != "binary":
            raise ValueError(f"Only binary classification is supported. The type of the target is {y_type}.")
        y01 = (y == classes[1]).astype(float)
        columns, y01, sw = self._subset(columns, y01, sw)
        if np.ptp(y01) == 0:
            raise ValueError("only one class is left after leaving out the samples with zero sample_weight; "
                             "a classifier needs two classes")
        self.classes_ = classes
        self._fit_family(columns, y01, sw, layout, "bernoulli", "logit")
        return self

    def decision_function(self, X, groups=None):
        """The linear predictor :math:`\\eta` (log-odds of ``classes_[1]``).

        Parameters
        ----------
        X : {array-like, DataFrame} of shape (n_samples, n_features)
        groups : array-like of shape (n_samples,) or (n_samples, n_factors), default=None
            Grouping factor(s); unseen levels and None give population-level values.

        Returns
        -------
        eta : ndarray of shape (n_samples,)
        """
        check_is_fitted(self)
        return self._linear_predictor(X, groups)

    def predict_proba(self, X, groups=None):
        """Class probabilities.

        Parameters
        ----------
        X : {array-like, DataFrame} of shape (n_samples, n_features)
        groups : array-like of shape (n_samples,) or (n_samples, n_factors), default=None

        Returns
        -------
        proba : ndarray of shape (n_samples, 2)
            Probabilities of ``classes_[0]`` and ``classes_[1]``.
        """
        check_is_fitted(self)
        p = self._link.inverse(self._linear_predictor(X, groups))
        return np.column_stack([1.0 - p, p])

    def predict_log_proba(self, X, groups=None):
        """Logarithms of the class probabilities.

        Parameters
        ----------
        X : {array-like, DataFrame} of shape (n_samples, n_features)
        groups : array-like of shape (n_samples,) or (n_samples, n_factors), default=None

        Returns
        -------
        log_proba : ndarray of shape (n_samples, 2)
        """
        check_is_fitted(self)
        eta = self._linear_predictor(X, groups)
        return -np.column_stack([np.logaddexp(0.0, eta), np.logaddexp(0.0, -eta)])

    def predict(self, X, groups=None):
        """Predicted class labels (``classes_[1]`` where the log-odds are positive).

        Parameters
        ----------
        X : {array-like, DataFrame} of shape (n_samples, n_features)
        groups : array-like of shape (n_samples,) or (n_samples, n_factors), default=None

        Returns
        -------
        y_pred : ndarray of shape (n_samples,)
        """
        check_is_fitted(self)
        return self.classes_[(self._linear_predictor(X, groups) > 0).astype(int)]

    def score(self, X, y, groups=None, sample_weight=None):
        """Accuracy of ``predict(X, groups)``.

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
        return accuracy_score(y, self.predict(X, groups=groups), sample_weight=sample_weight)


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
    family : {"poisson", "binomial", "bernoulli"}, default="poisson"
        The response distribution. A Poisson response must be non-negative (non-integer
        values give the quasi-Poisson fit, as in scikit-learn's
        :class:`~sklearn.linear_model.PoissonRegressor`); a binomial response is a
        proportion with the numbers of trials as ``sample_weight``; a Bernoulli one is
        0 or 1.
    link : str or None, default=None
        The link function :math:`g`; None takes the canonical link (``"log"`` for
        Poisson, ``"logit"`` otherwise). Also ``"identity"`` and ``"sqrt"`` (Poisson),
        ``"probit"``, ``"cloglog"``, ``"log"``, ``"identity"`` (binomial, Bernoulli).
    random_slopes : list of str or int, dict or None, default=None
        Columns of X (names for a DataFrame, or indices) that get a random slope, in
        addition to the random intercept, for each grouping factor. A dict
        ``{factor: columns}`` chooses them per factor (factors named as the columns of
        ``groups``, or by position); factors it leaves out get an intercept only.
        Ignored without groups.
    correlated : bool, default=True
        Estimate the correlations between the random intercept and slopes of a factor
        (``(1 + x | g)``); False makes them independent (``(1 + x || g)``).
    fit_intercept : bool, default=True
        Include a fixed intercept :math:`\beta_0`. The random intercepts are always there.
    group_columns : list of str or int, or None, default=None
        Columns of X that are grouping factors rather than fixed effects; they travel
        with X through every scikit-learn tool (see :class:`LinearMixedRegressor`).
        Cannot be combined with the ``groups`` argument of ``fit``.
    fast : bool, default=False
        Optimise θ only, estimating β inside PIRLS (lme4's ``nAGQ=0``): faster, slightly
        less accurate. False optimises β and θ together.
    nagq : int, default=1
        Adaptive Gauss-Hermite quadrature points; 1 is the Laplace approximation. More
        than 1 needs a single grouping factor without random slopes.
    optimizer : str, default="LN_BOBYQA"
        A derivative-free NLopt algorithm, e.g. ``"LN_NELDERMEAD"``.
    ftol_rel : float, default=1e-12
        Relative tolerance on the objective.
    ftol_abs : float, default=1e-8
        Absolute tolerance on the objective.
    xtol_abs : float, default=1e-10
        Absolute tolerance on every optimised parameter.
    maxfeval : int, default=-1
        Maximum number of objective evaluations (-1: no limit).
    maxtime : float, default=-1
        Maximum optimisation time in seconds (-1: no limit).
    progress : bool or None, default=False
        Show a progress counter during the optimisation.

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
        if not isinstance(self.family, str) or self.family not in _FAMILIES:
            raise ValueError(f"family must be one of {list(_FAMILIES)}, got {self.family!r}")
        if self.link is not None and not isinstance(self.link, str):
            raise ValueError(f"link must be a str or None, got {self.link!r}")
        family = _family(self.family)
        family.make_link(self.link)  # validate the link early
        self._validate_params_glmm()
        columns, y, sw, layout = self._prepare_fit(X, y, groups, sample_weight)
        self._layout = layout
        y = np.asarray(y, dtype=float)
        family.check_response(y, np.ones(len(y)) if sw is None else sw)
        columns, y, sw = self._subset(columns, y, sw)
        self._fit_family(columns, y, sw, layout, family, self.link)
        return self

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

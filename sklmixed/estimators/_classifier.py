"""The generalized linear mixed-effects classifier: binary outcomes, a logistic mixed model."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
from sklearn.base import ClassifierMixin
from sklearn.metrics import accuracy_score
from sklearn.utils.class_weight import compute_class_weight
from sklearn.utils.multiclass import check_classification_targets, type_of_target

from ..glm.families import get_family
from ._generalized import _GeneralizedMixedEstimator
from ._params import document
from ._partitioned import fitted_method

__all__ = ["GeneralizedMixedClassifier"]


@document
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
    {{parameters}}

    Attributes
    ----------
    classes_ : ndarray of shape (2,)
        The two class labels (sorted); ``classes_[1]`` is the event.
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
        quadrature) deviance; without groups, the deviance of the logistic regression.
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
    LinearMixedRegressor : Continuous responses; documents the ways to pass groups.

    Notes
    -----
    Groups reach the estimator as ``group_columns`` of X (the default route: every tool
    passes them on) or as the ``groups`` metadata of ``fit``, ``predict_proba`` and the
    like; see :class:`LinearMixedRegressor` for the routes and their warnings. Scorers
    such as ``roc_auc`` or ``neg_log_loss`` pass groups to ``predict_proba`` when built by
    :func:`sklmixed.metrics.get_scorer`.

    Levels seen in fitting contribute their conditional modes to predictions; missing
    labels give the population-level prediction (random effects at zero), and so do
    unseen levels and ``groups=None`` unless ``new_levels="error"``. Without groups in
    ``fit`` the model has no random effects (and warns): a logistic regression fit by
    IRLS.

    ``sample_weight`` are case weights, multiplied by the ``class_weight`` of each
    sample's class; samples with zero weight are left out.

    There is no ``return_std``: like scikit-learn's classifiers, ``predict`` returns labels
    and ``predict_proba`` an array of probabilities, which meta-estimators and scorers call
    with ``X`` alone. The standard error of the probability of ``classes_[1]`` comes from
    :class:`GeneralizedMixedRegressor` with ``family="bernoulli"``, fit to the target coded
    0/1 (the same model as this classifier without ``class_weight``):
    ``predict(X, return_std=True)``.

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

    __metadata_request__predict_proba: ClassVar[dict] = {"groups": True}
    __metadata_request__predict_log_proba: ClassVar[dict] = {"groups": True}
    __metadata_request__decision_function: ClassVar[dict] = {"groups": True}

    _y_numeric = False

    def __init__(
        self,
        *,
        random_slopes=None,
        correlated=True,
        fit_intercept=True,
        group_columns=None,
        class_weight=None,
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
        self.random_slopes = random_slopes
        self.correlated = correlated
        self.fit_intercept = fit_intercept
        self.group_columns = group_columns
        self.class_weight = class_weight
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
            one column per factor. None, without ``group_columns``, fits a logistic
            regression without random effects, and warns.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative case weights.

        Returns
        -------
        self : GeneralizedMixedClassifier
            The fitted estimator.
        """
        return self._fit(X, y, groups, sample_weight)

    def _family(self, params):
        family = get_family("bernoulli")
        return family, family.make_link("logit")

    def _encode_target(self, y, sample_weight, params):
        check_classification_targets(y)
        classes = np.unique(y)
        if len(classes) < 2:
            raise ValueError(f"{type(self).__name__} needs samples of two classes; y has only one class: "
                             f"{classes.tolist()}")
        y_type = type_of_target(y, input_name="y", raise_unknown=True)
        if y_type != "binary":
            raise ValueError(f"Only binary classification is supported. The type of the target is {y_type}.")
        y01 = (y == classes[1]).astype(float)
        if sample_weight is not None and np.ptp(y01[sample_weight > 0]) == 0:
            raise ValueError("only one class is left after leaving out the samples with zero sample_weight; "
                             "a classifier needs two classes")
        class_weight = params["class_weight"]
        if class_weight is not None:
            if isinstance(class_weight, dict):
                unknown = [label for label in class_weight if label not in classes]
                if unknown:
                    raise ValueError(f"class_weight has label(s) {unknown} that are not classes of y; the classes "
                                     f"are {classes.tolist()}")
            per_class = compute_class_weight(class_weight, classes=classes, y=y, sample_weight=sample_weight)
            if not np.all(per_class > 0):
                raise ValueError(f"class_weight gives the classes the weights {per_class.tolist()}; a classifier "
                                 "needs both classes with positive weight")
            weights = per_class[y01.astype(int)]
            sample_weight = weights if sample_weight is None else sample_weight * weights
        return y01, sample_weight, {"classes_": classes}

    @fitted_method
    def decision_function(self, X, groups=None):
        """The linear predictor :math:`\\eta` (log-odds of ``classes_[1]``).

        Parameters
        ----------
        X : {array-like, DataFrame} of shape (n_samples, n_features)
        groups : array-like of shape (n_samples,) or (n_samples, n_factors), default=None
            Grouping factor(s); missing labels give population-level values, unseen
            levels and None too, as ``new_levels`` says.

        Returns
        -------
        eta : ndarray of shape (n_samples,)
        """
        return self._linear_predictor(X, groups)

    @fitted_method
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
        p = self._link.inverse(self._linear_predictor(X, groups))
        return np.column_stack([1.0 - p, p])

    @fitted_method
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
        eta = self._linear_predictor(X, groups)
        return -np.column_stack([np.logaddexp(0.0, eta), np.logaddexp(0.0, -eta)])

    @fitted_method
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
        return self.classes_[(self._linear_predictor(X, groups) > 0).astype(int)]

    @fitted_method
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
        return accuracy_score(y, self.predict(X, groups=groups), sample_weight=sample_weight)

"""Scorers that hand the grouping factors to ``predict``, and the scorer of the fit's own objective.

scikit-learn's scorers call ``predict(X)`` (or ``predict_proba``, ``decision_function``)
with nothing else: a mixed model scored by ``scoring="r2"`` predicts at the population
level even when metadata routing delivers ``groups`` to everything around it.
:class:`GroupScorer` is scikit-learn's scorer with one difference: it requests ``groups``
(by default) and passes them on to the response method, through a
:class:`~sklearn.pipeline.Pipeline` too. :func:`objective_scorer` scores a fit by the
criterion its optimiser minimised, to compare optimizer settings.
"""

from __future__ import annotations

import inspect
from functools import partial

import sklearn
from sklearn.metrics import get_scorer as _sklearn_get_scorer
from sklearn.metrics._scorer import _cached_call, _Scorer

__all__ = []

_RESPONSE_METHODS = ("predict", "predict_proba", "predict_log_proba", "decision_function")


def _takes_groups(method) -> bool:
    try:
        params = inspect.signature(method).parameters.values()
    except (TypeError, ValueError):
        return False
    return any(p.name == "groups" or p.kind is inspect.Parameter.VAR_KEYWORD for p in params)


class _WithGroups:
    """``estimator`` with ``groups`` bound to its response methods (those that take metadata).

    A response method that takes no metadata (``VotingClassifier.predict_proba``, a search's
    ``predict``) is left as it is: a mixed model inside then predicts without groups, and says so.
    """

    def __init__(self, estimator, groups):
        self._estimator = estimator
        self._groups = groups

    def __getattr__(self, name):
        attr = getattr(self._estimator, name)
        if name not in _RESPONSE_METHODS or not _takes_groups(attr):
            return attr
        groups = self._groups

        def method(X):
            return attr(X, groups=groups)

        method.__name__ = name  # scikit-learn reads the name of the response method
        return method


class GroupScorer(_Scorer):
    """A scikit-learn scorer that passes ``groups`` to the estimator's response method.

    Built by :func:`make_scorer` or :func:`get_scorer`; it requests ``groups`` by default,
    so with metadata routing on, the ``groups`` given to ``cross_validate``, a search or
    ``permutation_importance``-like tools reach the scorer and, through it, ``predict``.
    Called directly, ``scorer(estimator, X, y, groups=g)`` works with routing on or off.
    """

    def __call__(self, estimator, X, y_true, *, sample_weight=None, groups=None, **kwargs):
        """Score the predictions of ``estimator`` for ``(X, groups)`` against ``y_true``.

        Parameters
        ----------
        estimator : estimator
            A fitted estimator (or pipeline) whose response method takes ``groups``.
        X : array-like of shape (n_samples, n_features)
        y_true : array-like of shape (n_samples,)
        sample_weight : array-like of shape (n_samples,), default=None
        groups : array-like, default=None
            The grouping factors of the rows of ``X``.
        **kwargs
            Further metadata for the score function (metadata routing only).

        Returns
        -------
        score : float
        """
        if kwargs and not sklearn.get_config()["enable_metadata_routing"]:
            raise TypeError(f"{self!r} got unexpected keyword argument(s) {sorted(kwargs)}: other metadata than "
                            "sample_weight and groups needs sklearn.set_config(enable_metadata_routing=True)")
        if sample_weight is not None:
            kwargs["sample_weight"] = sample_weight
        if groups is not None:
            kwargs["groups"] = groups
        return self._score(None, estimator, X, y_true, **kwargs)

    def _score(self, method_caller, estimator, X, y_true, **kwargs):
        groups = kwargs.pop("groups", None)
        target = estimator if groups is None else _WithGroups(estimator, groups)
        # predictions with groups differ from those without: never share a multi-metric cache
        return super()._score(partial(_cached_call, None), target, X, y_true, **kwargs)

    def _get_metadata_request(self):
        requests = super()._get_metadata_request()
        if "groups" not in requests.score.requests:  # requested unless set_score_request said otherwise
            requests.score.add_request(param="groups", alias=True)
        return requests

    def __repr__(self):
        return "sklmixed." + super().__repr__()


def make_scorer(score_func, *, response_method="predict", greater_is_better=True, **kwargs):
    """A scorer as :func:`sklearn.metrics.make_scorer` makes, which passes ``groups`` to ``predict``.

    Parameters
    ----------
    score_func : callable
        ``score_func(y, y_pred, **kwargs)``.
    response_method : {"predict", "predict_proba", "decision_function"} or list of them, default="predict"
        The estimator's method giving ``y_pred`` (the first one available of a list).
    greater_is_better : bool, default=True
        False for a loss: the scorer returns its negative.
    **kwargs
        Further arguments of ``score_func``.

    Returns
    -------
    scorer : GroupScorer

    Examples
    --------
    >>> from sklearn.metrics import mean_absolute_error
    >>> from sklmixed import LinearMixedRegressor, load_dataset
    >>> from sklmixed.metrics import make_scorer
    >>> data = load_dataset("sleepstudy")
    >>> reg = LinearMixedRegressor(random_slopes=["days"]).fit(data[["days"]], data["reaction"], groups=data["subj"])
    >>> mae = make_scorer(mean_absolute_error, greater_is_better=False)
    >>> round(mae(reg, data[["days"]], data["reaction"], groups=data["subj"]), 2)
    -16.43
    """
    sign = 1 if greater_is_better else -1
    return GroupScorer(score_func, sign, kwargs, response_method)


def get_scorer(scoring):
    """The group-aware version of a scikit-learn scorer named ``scoring``, or the objective scorer.

    Parameters
    ----------
    scoring : str or callable
        A name :func:`sklearn.metrics.get_scorer` knows (``"r2"``, ``"roc_auc"``,
        ``"neg_log_loss"``, ...), made to pass ``groups`` to the response method, or
        ``"neg_objective"`` for :func:`objective_scorer`. A scikit-learn scorer object
        is made group-aware too; another callable is returned as it is.

    Returns
    -------
    scorer : callable

    Examples
    --------
    >>> import sklearn
    >>> from sklearn.model_selection import KFold, cross_validate
    >>> from sklmixed import LinearMixedRegressor, load_dataset
    >>> from sklmixed.metrics import get_scorer
    >>> data = load_dataset("sleepstudy")
    >>> X, y, subj = data[["days"]], data["reaction"], data["subj"]
    >>> scoring = {"r2": get_scorer("r2"), "mse": get_scorer("neg_mean_squared_error")}
    >>> with sklearn.config_context(enable_metadata_routing=True):
    ...     cv = cross_validate(LinearMixedRegressor(random_slopes=["days"]), X, y, params={"groups": subj},
    ...                         scoring=scoring, cv=KFold(3, shuffle=True, random_state=0))
    >>> cv["test_r2"].round(2)  # conditional on the subjects' random effects
    array([0.56, 0.79, 0.81])
    """
    if isinstance(scoring, str) and scoring == "neg_objective":
        return objective_scorer
    scorer = _sklearn_get_scorer(scoring)
    if isinstance(scorer, _Scorer) and not isinstance(scorer, GroupScorer):
        # scikit-learn's scorer stores what it needs to be rebuilt (since 1.4)
        scorer = GroupScorer(scorer._score_func, scorer._sign, dict(scorer._kwargs), scorer._response_method)
    return scorer


def _mixed_estimator(estimator):
    """The estimator with ``objective_``: itself, a pipeline's last step, a search's best estimator."""
    seen = estimator
    while not hasattr(seen, "objective_"):
        if hasattr(seen, "best_estimator_"):
            seen = seen.best_estimator_
        elif hasattr(seen, "steps"):
            seen = seen.steps[-1][1]
        else:
            raise TypeError(f"the objective scorer needs a fitted sklmixed estimator (with objective_), "
                            f"got {type(estimator).__name__}")
    return seen


def objective_scorer(estimator, X=None, y=None, **kwargs):
    r"""Minus the criterion the fit minimised: the score of an optimizer setting.

    ``-objective_`` of the (last step of the) fitted estimator: the profiled deviance or
    REML criterion of a linear mixed model, the Laplace or quadrature deviance of a GLMM,
    at the estimates the optimiser reached. ``X`` and ``y`` are ignored: it scores the fit
    on its training data, where every candidate of a search over optimizer settings
    (``optimizer``, ``ftol_rel``, ``maxfeval``) fits the same model to the same rows, so the
    lowest criterion (the greatest score) is the best optimisation. It is not a measure of
    prediction.

    Parameters
    ----------
    estimator : estimator
        A fitted sklmixed estimator, or a pipeline or search ending in one.
    X, y : ignored
    **kwargs : ignored

    Returns
    -------
    score : float

    Examples
    --------
    >>> from sklmixed import LinearMixedRegressor, load_dataset
    >>> from sklmixed.metrics import objective_scorer
    >>> data = load_dataset("sleepstudy")
    >>> reg = LinearMixedRegressor(random_slopes=["days"]).fit(data[["days"]], data["reaction"], groups=data["subj"])
    >>> round(objective_scorer(reg), 4)
    -1751.9393
    """
    return -float(_mixed_estimator(estimator).objective_)

"""The estimators' hyper-parameters: one table says how each is checked and how it is documented.

Every parameter of every estimator has one entry in :data:`PARAMS`: a checker and its
documentation. :func:`validate_params` runs the checkers at the start of ``fit`` (the
parameters themselves are stored untouched by ``__init__``) and returns the resolved
values the fit uses; :func:`document` writes the ``Parameters`` section of an estimator's
docstring from the table, in the order of its ``__init__``. Where the core already
validates a parameter, the checker calls the core's function: :func:`~sklmixed.optim.check_algorithm`
for ``optimizer``, :func:`~sklmixed.glm.families.get_family` and ``Family.make_link`` for
``family`` and ``link``. ``nagq`` is checked here for its type only: the core's
:func:`~sklmixed.models.agq.check_nagq` checks it against the random-effects terms once they
are built.
"""

from __future__ import annotations

import inspect
import numbers
import textwrap
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..glm.families import Poisson, get_family
from ..optim import check_algorithm

__all__ = []


class InvalidParameterError(ValueError, TypeError):
    """A parameter of the wrong type: a ``ValueError``, as scikit-learn raises for bad parameters, and a
    ``TypeError``."""


# ---------------------------------------------------------------------- checkers of one kind of value
def check_bool(value, name):
    if not isinstance(value, (bool, np.bool_)):
        raise InvalidParameterError(f"{name} must be a bool, got {value!r}")
    return bool(value)


def check_real(value, name, *, minimum=None):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real) or not np.isfinite(value):
        raise ValueError(f"{name} must be a finite real number, got {value!r}")
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value!r}")
    return float(value)


def check_int(value, name):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise InvalidParameterError(f"{name} must be an int, got {value!r}")
    return int(value)


def as_column_list(spec, name) -> list:
    """A column reference (name or index) or a list of them, as a list."""
    if isinstance(spec, (str, numbers.Integral)) and not isinstance(spec, (bool, np.bool_)):
        return [spec]
    if isinstance(spec, (list, tuple, np.ndarray, pd.Index)):
        items = list(spec)
        for item in items:
            if isinstance(item, (bool, np.bool_)) or not isinstance(item, (str, numbers.Integral)):
                raise InvalidParameterError(f"{name} must hold column names (str) or column indices (int), "
                                            f"got {item!r}")
        return items
    raise ValueError(f"{name} must be a column name, a column index or a list of them, got {spec!r}")


def _random_slopes(value, name):
    if isinstance(value, dict):
        for cols in value.values():
            if cols is not None:
                as_column_list(cols, f"{name} values")
    elif value is not None:
        as_column_list(value, name)
    return value  # resolved against X and the grouping factors by the layout


def _columns_or_none(value, name):
    if value is not None:
        as_column_list(value, name)
    return value


def _bool_or_none(value, name):
    return None if value is None else check_bool(value, name)


def _nonnegative(value, name):
    return check_real(value, name, minimum=0)


def _maxfeval(value, name):
    value = check_int(value, name)
    if value != -1 and value < 1:
        raise ValueError(f"{name} must be a positive number of objective evaluations, or -1 for no limit; "
                         f"got {value}")
    return value


def _maxtime(value, name):
    value = check_real(value, name)
    if value != -1 and value <= 0:
        raise ValueError(f"{name} must be a positive number of seconds, or -1 for no limit; got {value!r}")
    return value


#: what predictions do with rows of levels not seen in fitting
NEW_LEVELS = ("warn", "population", "error")


def _new_levels(value, name):
    if not isinstance(value, str) or value not in NEW_LEVELS:
        raise ValueError(f"{name} must be one of {list(NEW_LEVELS)}, got {value!r}")
    return value


def _class_weight(value, name):
    if value is None or (isinstance(value, str) and value == "balanced"):
        return value
    if not isinstance(value, dict):
        raise ValueError(f'{name} must be None, "balanced" or a dict {{class label: weight}}, got {value!r}')
    for label, weight in value.items():
        if isinstance(weight, (bool, np.bool_)) or not isinstance(weight, numbers.Real) or not weight >= 0 \
                or not np.isfinite(weight):
            raise ValueError(f"{name} must give every class a finite non-negative weight; class {label!r} "
                             f"has {weight!r}")
    return value  # checked against the classes of y in fit


#: the response families the GLMM regressor offers; "poisson" accepts any non-negative
#: response, as scikit-learn's PoissonRegressor (the quasi-Poisson fit for non-integers)
FAMILIES = ("poisson", "binomial", "bernoulli")


def _family(value, name):
    if not isinstance(value, str) or value not in FAMILIES:
        raise ValueError(f"{name} must be one of {list(FAMILIES)}, got {value!r}")
    return Poisson(whole_numbers=False) if value == "poisson" else get_family(value)


def _link(value, name, resolved):
    if value is not None and not isinstance(value, str):
        raise ValueError(f"{name} must be a str or None, got {value!r}")
    return resolved["family"].make_link(value)


# ---------------------------------------------------------------------- the table
@dataclass(frozen=True)
class Param:
    """How a parameter is checked (``check(value, name) -> resolved value``) and documented."""

    check: Callable
    type: str
    doc: str
    #: the checker also takes the values resolved so far (the parameters listed before it)
    needs_resolved: bool = False


PARAMS = {
    "family": Param(_family, '{"poisson", "binomial", "bernoulli"}', """
        The response distribution. A Poisson response must be non-negative (non-integer
        values give the quasi-Poisson fit, as in scikit-learn's
        :class:`~sklearn.linear_model.PoissonRegressor`); a binomial response is a
        proportion with the numbers of trials as ``sample_weight``; a Bernoulli one is
        0 or 1."""),
    "link": Param(_link, "str or None", """
        The link function :math:`g`; None takes the canonical link (``"log"`` for
        Poisson, ``"logit"`` otherwise). Also ``"identity"`` and ``"sqrt"`` (Poisson),
        ``"probit"``, ``"cloglog"``, ``"log"``, ``"identity"`` (binomial, Bernoulli).""", needs_resolved=True),
    "random_slopes": Param(_random_slopes, "list of str or int, dict or None", """
        Columns of X (names for a DataFrame, or indices) that get a random slope, in
        addition to the random intercept, for each grouping factor. A dict
        ``{factor: columns}`` chooses them per factor (factors named as the columns of
        ``groups``, or by position); factors it leaves out get an intercept only.
        Ignored without groups."""),
    "correlated": Param(check_bool, "bool", """
        Estimate the correlations between the random intercept and slopes of a factor
        (``(1 + x | g)``); False makes them independent (``(1 + x || g)``)."""),
    "fit_intercept": Param(check_bool, "bool", """
        Include a fixed intercept :math:`\\beta_0`. The random intercepts are always there."""),
    "group_columns": Param(_columns_or_none, "list of str or int, or None", """
        Columns of X that are grouping factors rather than fixed effects. They travel
        with X through every scikit-learn tool, so no metadata needs routing (see the
        Notes of :class:`LinearMixedRegressor`). Cannot be combined with the ``groups``
        argument of ``fit``."""),
    "reml": Param(check_bool, "bool", """
        Estimate θ by REML instead of maximum likelihood."""),
    "fast": Param(check_bool, "bool", """
        Optimise θ only, estimating β inside PIRLS (lme4's ``nAGQ=0``): faster, slightly
        less accurate. False optimises β and θ together."""),
    "nagq": Param(check_int, "int", """
        Adaptive Gauss-Hermite quadrature points; 1 is the Laplace approximation. More
        than 1 needs a single grouping factor without random slopes."""),
    "optimizer": Param(lambda value, name: check_algorithm(value), "str", """
        A derivative-free NLopt algorithm, e.g. ``"LN_NELDERMEAD"`` or ``"LN_COBYLA"``."""),
    "ftol_rel": Param(_nonnegative, "float", """
        Relative tolerance on the objective."""),
    "ftol_abs": Param(_nonnegative, "float", """
        Absolute tolerance on the objective."""),
    "xtol_abs": Param(_nonnegative, "float", """
        Absolute tolerance on every optimised parameter."""),
    "maxfeval": Param(_maxfeval, "int", """
        Maximum number of objective evaluations (-1: no limit), for each stage of a full
        GLMM fit. A fit stopped by it warns (``ConvergenceWarning``) and sets
        ``converged_`` to False; it is the resource of a successive-halving search (see
        the estimators guide)."""),
    "maxtime": Param(_maxtime, "float", """
        Maximum optimisation time in seconds (-1: no limit)."""),
    "progress": Param(_bool_or_none, "bool or None", """
        Show a progress counter during the optimisation; None shows it on a terminal
        once a fit takes longer than a second."""),
    "new_levels": Param(_new_levels, '{"warn", "population", "error"}', """
        What predictions do for rows at levels of a grouping factor not seen in fitting,
        and for a model with random effects that gets no groups at predict time.
        ``"population"`` predicts them at the population level (random effects at zero),
        on purpose and silently. ``"warn"`` does the same but warns
        (:class:`~sklmixed.exceptions.PopulationPredictionWarning`) when predict gets no
        groups, or when more than half of the labelled rows of a factor are at unseen
        levels: the mark of groups lost on the way, or of folds that hold out whole
        groups. ``"error"`` raises a ``ValueError`` naming the unseen levels (or the
        missing groups). A missing label (NaN, None) always gives the population-level
        prediction: it asks for it. A constructor parameter, like the ``handle_unknown``
        of scikit-learn's encoders, so that tools which call ``predict(X)`` honour it;
        ``set_params`` changes it on a fitted estimator without refitting."""),
    "keep_model": Param(check_bool, "bool", """
        Pickle the fitted core model ``model_`` (its data, terms and Cholesky factor) with
        the estimator. By default a pickled estimator holds what ``predict`` needs (the
        estimates, the levels and conditional modes), a small fraction of the data's size,
        and ``model_`` (summaries, ``refit``, likelihood-ratio tests) is dropped from the
        pickle; in memory it is always there after ``fit``."""),
    "class_weight": Param(_class_weight, 'dict, "balanced" or None', """
        Weights of the classes, multiplying ``sample_weight``: None gives every class
        weight 1; ``"balanced"`` weights class :math:`c` by
        :math:`n / (2 n_c)`, as scikit-learn's classifiers do; a dict maps class labels
        to weights (labels it leaves out get 1)."""),
}


def validate_params(estimator) -> dict:
    """Check every parameter of ``estimator``; ``{name: resolved value}`` (a Family for ``family``,
    a Link for ``link``, floats and ints for the numbers)."""
    params = estimator.get_params(deep=False)
    resolved = {}
    for name, param in PARAMS.items():
        if name in params:
            args = (resolved,) if param.needs_resolved else ()
            resolved[name] = param.check(params[name], name, *args)
    return resolved


# ---------------------------------------------------------------------- documentation
_MARKER = "{{parameters}}"


def _default(value) -> str:
    return f'"{value}"' if isinstance(value, str) else repr(value).replace("e-0", "e-")


def document(cls):
    """Class decorator: write the ``Parameters`` entries of ``cls``'s docstring from :data:`PARAMS`.

    The docstring holds a line ``{{parameters}}`` under its ``Parameters`` heading; it
    becomes one entry per ``__init__`` parameter, in signature order, with its default.
    """
    signature = inspect.signature(cls.__init__)
    entries = []
    for name, p in signature.parameters.items():
        if name == "self":
            continue
        if name not in PARAMS:
            raise TypeError(f"{cls.__name__} has the parameter {name!r}, which the table of {__name__} lacks")
        doc = textwrap.indent(textwrap.dedent(PARAMS[name].doc).strip("\n"), "    ")
        entries.append(f"{name} : {PARAMS[name].type}, default={_default(p.default)}\n{doc}")
    lines = cls.__doc__.splitlines()
    (at,) = [i for i, line in enumerate(lines) if line.strip() == _MARKER]
    indent = lines[at][: len(lines[at]) - len(lines[at].lstrip())]
    lines[at] = textwrap.indent("\n".join(entries), indent)
    cls.__doc__ = "\n".join(lines)
    return cls

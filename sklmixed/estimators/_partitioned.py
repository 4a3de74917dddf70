"""The estimators with Dask DataFrames: fit out of core, predict partition by partition.

``fit(X, y)`` with a Dask DataFrame ``X`` (and a Dask Series ``y`` partitioned alike) spells
the estimator's model as a formula (:meth:`Layout.display_formula`, the layout's own
spelling of its columns, grouping factors and random slopes) and fits the core model to the
Dask DataFrame out of core (:mod:`sklmixed.outofcore`); the grouping factors must be
``group_columns`` of X, since metadata cannot follow the partitions. The estimator then keeps
the layout of a fit in memory, built from the categories and levels of the whole data, so
that it predicts pandas DataFrames and arrays as any fitted estimator does; and, as dask-ml's
``ParallelPostFit``, a prediction method given a Dask collection applies itself to every
partition and returns a Dask Array. ``score`` of a Dask collection is computed from Dask
arrays, with the same definitions as in memory.
"""

from __future__ import annotations

import functools

import numpy as np
import pandas as pd
from sklearn.base import is_classifier
from sklearn.utils.validation import check_is_fitted

from ..formula.partitioned import is_dask_collection
from ._layout import Layout, _slopes_by_factor, fit_layout, group_positions
from ._params import validate_params

__all__ = []


def fitted_method(method):
    """A public method of a fitted estimator that takes ``X`` first: ``check_is_fitted`` first,
    and a Dask collection answered partition by partition (``score`` from Dask arrays)."""

    @functools.wraps(method)
    def checked(est, X, *args, **kwargs):
        if is_dask_collection(X):  # a lazy result, partition by partition
            if method.__name__ == "score":
                return partitioned_score(est, X, *args, **kwargs)
            return partitioned_method(est, method.__name__, X, *args, **kwargs)
        check_is_fitted(est)
        return method(est, X, *args, **kwargs)

    return checked


def partitioned_method(est, name, X, groups=None, return_std=False):
    """``est.<name>(X)`` of a Dask collection: the method applied to every partition, a Dask Array."""
    check_is_fitted(est)
    if groups is not None:
        raise ValueError("with a Dask collection X, the grouping factors travel as its group_columns; do not pass "
                         "groups")
    if return_std:
        raise ValueError("return_std needs the whole factor in every worker: predict a pandas DataFrame for it")
    method = getattr(type(est), name)
    width = len(est.classes_) if name in ("predict_proba", "predict_log_proba") else None
    dtype = est.classes_.dtype if name == "predict" and is_classifier(est) else float
    meta = np.empty((0,) if width is None else (0, width), dtype=dtype)

    def apply(part):
        return method(est, part)

    return _frame(X).map_partitions(apply, meta=meta)


def partitioned_score(est, X, y, groups=None, sample_weight=None) -> float:
    """``est.score`` of Dask collections, from Dask arrays: R², accuracy or D² as in memory."""
    import dask

    pred = partitioned_method(est, "predict", X, groups)
    y = _column(y, "y").to_dask_array()
    w = None if sample_weight is None else _column(sample_weight, "sample_weight").to_dask_array()
    w = 1.0 if w is None else w
    if is_classifier(est):  # accuracy
        right, total = dask.compute(((pred == y) * w).sum(), ((y == y) * w).sum())
        return float(right / total)
    if hasattr(est, "_response_family"):  # D², the fraction of deviance explained
        family = est._response_family
        W = (y == y) * w
        ybar = (W * y).sum() / W.sum()
        dev, null = dask.compute(family.dev_resid(y, family.clip_mu(pred), W).sum(),
                                 family.dev_resid(y, family.clip_mu(y * 0 + ybar), W).sum())
        return 1.0 - float(dev) / float(null) if null > 0 else float(dev <= null)
    W = (y == y) * w
    ybar = (W * y).sum() / W.sum()
    rss, tss = dask.compute((W * (y - pred) ** 2).sum(), (W * (y - ybar) ** 2).sum())
    return 1.0 - float(rss) / float(tss) if tss > 0 else float(rss == 0)


def _frame(X):
    """A Dask DataFrame of X (a Dask Array gets the names ``x0, x1, ...``)."""
    from ..outofcore.passes import require_dask

    _, dd = require_dask()
    if isinstance(X, dd.DataFrame):
        return X
    if getattr(X, "ndim", None) == 2 and hasattr(X, "chunks"):
        return dd.from_dask_array(X, columns=[f"x{j}" for j in range(X.shape[1])])
    raise TypeError(f"X must be a Dask DataFrame (or a 2-D Dask Array), got {type(X).__name__}")


def _column(values, name):
    """A Dask Series of y or sample_weight (a Dask Array is converted)."""
    from ..outofcore.passes import require_dask

    _, dd = require_dask()
    if isinstance(values, dd.Series):
        return values.astype(object) if isinstance(values.dtype, pd.CategoricalDtype) else values
    if hasattr(values, "chunks") and getattr(values, "ndim", None) == 1:
        return dd.from_dask_array(values)
    raise TypeError(f"with a Dask DataFrame X, {name} must be a Dask Series (or Array) partitioned alike, got "
                    f"{type(values).__name__}")


def _free_name(base, taken) -> str:
    name = base
    while name in taken:
        name = "_" + name
    return name


def _numeric(dtype) -> bool:
    return pd.api.types.is_numeric_dtype(dtype) and not isinstance(dtype, pd.CategoricalDtype)


def fit_partitioned(est, X, y, groups, sample_weight):
    """Fit ``est`` to a Dask DataFrame out of core (see the module docstring)."""
    from ..models.generalized import GeneralizedLinearMixedModel
    from ..models.linear import LinearMixedModel

    params = validate_params(est)
    X = _frame(X)
    if groups is not None or not params["group_columns"]:
        raise ValueError("a fit from a Dask DataFrame takes its grouping factors from X: name them with "
                         "group_columns (groups passed as metadata cannot follow the partitions, and a fit without "
                         "random effects is not done out of core)")
    names = [str(c) for c in X.columns]
    meta = X._meta
    group_pos = group_positions(meta, params["group_columns"])
    layout = Layout(n_features=len(names), numeric=[_numeric(X.dtypes[c]) for c in X.columns], names=names,
                    feature_pos=[j for j in range(len(names)) if j not in group_pos], correlated=params["correlated"],
                    group_source="columns", group_pos=group_pos, group_names=[names[j] for j in group_pos])
    layout.slopes = _slopes_by_factor(params["random_slopes"], layout, np.asarray(names, dtype=object))
    response, wcol = _free_name("y", names), _free_name("sample_weight", names)
    formula, _ = layout.display_formula(response, params["fit_intercept"])
    y = _column(y, "y")
    extra = {}
    if is_classifier(est):
        if params.get("class_weight") is not None:
            raise ValueError("class_weight needs the classes' counts before the fit: with a Dask DataFrame, pass "
                             "the weights as sample_weight")
        # the distinct labels of every partition (no shuffle: Series.unique would ask the scheduler for one)
        classes = np.unique(np.asarray(y.map_partitions(pd.Series.drop_duplicates, meta=y._meta).compute()))
        if len(classes) != 2:
            raise ValueError(f"{type(est).__name__} needs samples of exactly two classes; y has {len(classes)}: "
                             f"{classes[:10].tolist()}")
        y = (y == classes[1]).astype(float)
        extra["classes_"] = classes
    data = X.assign(**{response: y})
    if sample_weight is not None:
        data = data.assign(**{wcol: _column(sample_weight, "sample_weight")})
    weights = wcol if sample_weight is not None else None
    if hasattr(est, "_family"):
        family, link = est._family(params)
        model = GeneralizedLinearMixedModel(formula, data, family=family, link=link, weights=weights)
        est._configure_optsum(model.optsum, params, model.theta_scale)
        model.fit(fast=params["fast"], nagq=params["nagq"], progress=params["progress"])
        extra.update({"_link": model.link, "_response_family": family})
    else:
        model = LinearMixedModel(formula, data, weights=weights)
        est._configure_optsum(model.optsum, params, model.theta_scale)
        model.fit(reml=params["reml"], progress=params["progress"])
        extra["sigma_"] = float(model.sigma)
    est._layout = _predict_layout(meta, model, group_pos, names, params)
    est._set_fixed_effects(model.feterm, model.beta, params["fit_intercept"])
    est._set_random_effects(model)
    est.n_features_in_ = len(names)
    est.feature_names_in_ = np.asarray(names, dtype=object)
    for name, value in extra.items():
        setattr(est, name, value)
    return est


def _predict_layout(meta, model, group_pos, names, params) -> Layout:
    """The layout a fit in memory would have made of the whole data (categories and levels of every partition)."""
    categories = model._recipe.categories
    proto = meta.assign(**{c: pd.Categorical([], categories=categories[c]) for c in meta.columns if c in categories})
    numeric = [_numeric(proto[c].dtype) for c in proto.columns]
    layout, _ = fit_layout(proto, np.empty((0, len(names)), dtype=object), numeric, None, group_pos,
                           np.asarray(names, dtype=object), params)
    if layout.fixed.names != model.feterm.names:  # the formula's coding is the layout's: they must agree
        raise RuntimeError(f"the fixed-effects columns of the formula {model.feterm.names} differ from the "
                           f"estimator's {layout.fixed.names}")
    layout.keep = model.feterm.keep
    layout.term_factor = [layout.group_names.index(r.name) for r in model.reterms]
    return layout

"""Model matrices: formulaic, or NumPy for plain numeric columns, and new data encoded as at fit time.

:func:`build_matrix` is the one switch between the two builders: :func:`plain_design` when the
right-hand side is plain names of numeric columns (formulaic would build the same matrix, at
a hundred times the cost), formulaic otherwise. A :class:`LazySpec` stands in for formulaic's
``ModelSpec`` of a NumPy-built matrix until new data must be encoded.
"""

from __future__ import annotations

import re
import warnings

import numpy as np
import pandas as pd

from .columns import normalise_dtypes, plain_message
from .frame import describe_counts, missing_counts
from .parse import plain_terms

__all__ = ["plain_design", "build_matrix", "concrete_spec", "LazySpec", "encode_new", "apply_contrasts",
           "rename_intercept"]


def rename_intercept(names) -> list[str]:
    """formulaic's ``Intercept`` is MixedModels' and lme4's ``(Intercept)``."""
    return ["(Intercept)" if n == "Intercept" else str(n) for n in names]


def plain_design(rhs: str, data: pd.DataFrame) -> tuple[np.ndarray, list[str]] | None:
    """The model matrix of ``rhs`` built with NumPy, when formulaic would build the same.

    That is the case when ``rhs`` consists of plain names (see :func:`~sklmixed.formula.plain_terms`)
    of columns with a NumPy integer or floating dtype, all values finite: the matrix is then
    the intercept column and the columns converted to float, in formula order. Everything
    else (boolean, categorical, string and extension dtypes, transforms, missing or infinite
    values, whose errors formulaic words) gives None, and the caller goes through formulaic.

    Parameters
    ----------
    rhs : str
        A right-hand side such as ``"1 + days"``.
    data : DataFrame
        The data the matrix is built from.

    Returns
    -------
    tuple of (ndarray of shape (n, p), list of str, LazySpec) or None
        The matrix, formulaic's column names (``"Intercept"`` for the intercept) and the
        spec to encode new data with.
    """
    simple = plain_terms(rhs)
    if simple is None:
        return None
    intercept, names = simple
    if not names and not intercept:
        return None
    columns = data.columns
    if not columns.is_unique:
        return None
    arrays = []
    for name in names:
        if name not in columns:
            return None
        values = data[name]
        if not isinstance(values.dtype, np.dtype) or values.dtype.kind not in "iuf":
            return None
        arrays.append(values.to_numpy())
    dtypes = {name: a.dtype for name, a in zip(names, arrays)}
    X = np.empty((len(data), int(intercept) + len(names)))
    if intercept:
        X[:, 0] = 1.0
    for j, values in enumerate(arrays, start=int(intercept)):
        X[:, j] = values
    if not np.isfinite(X).all():
        return None
    return X, (["Intercept"] if intercept else []) + list(names), LazySpec(rhs, dtypes)


def build_matrix(rhs: str, data: pd.DataFrame, what: str, context=None):
    """``(X, names, spec)`` of a right-hand side: by :func:`plain_design` when it can, else formulaic.

    ``what`` names the formula part in formulaic's errors (``"the fixed-effects matrix for
    'x + z'"``, say); ``context`` holds formulaic contrasts objects (the fast path is then
    not taken). ``spec`` may be a :class:`LazySpec`: resolve it with :func:`concrete_spec`.
    """
    plain = None if context else plain_design(rhs, data)
    if plain is not None:
        return plain
    import formulaic

    try:
        mm = formulaic.model_matrix(rhs, data, na_action="raise", context=context or {})
    except Exception as err:  # formulaic raises many types; say which part of the formula failed
        raise ValueError(f"cannot build {what}: {plain_message(err)}") from None
    return np.asarray(mm, dtype=float), mm.columns, mm.model_spec


def concrete_spec(spec):
    """formulaic's ``ModelSpec`` for what :func:`build_matrix` returned (None stays None)."""
    return spec.get() if isinstance(spec, LazySpec) else spec


class LazySpec:
    """A formulaic model spec for a :func:`plain_design` matrix, built only when asked for.

    A spec is needed only to encode new data (predictions); the matrix itself never needs one.
    For numeric columns formulaic's spec depends on nothing but the formula and the column
    dtypes, so it is built from a single row of zeros of those dtypes and equals the spec
    formulaic would have built from the full data.

    Parameters
    ----------
    rhs : str
        The right-hand side the matrix was built from.
    dtypes : dict or DataFrame
        The dtype of each column ``rhs`` names (or the data it was built from).
    """

    def __init__(self, rhs: str, dtypes):
        self.rhs = rhs
        if isinstance(dtypes, pd.DataFrame):
            dtypes = {name: dtypes[name].dtype for name in plain_terms(rhs)[1]}
        self.dtypes = dict(dtypes)
        self._spec = None

    def get(self):
        """The formulaic ``ModelSpec``."""
        if self._spec is None:
            import formulaic

            row = pd.DataFrame({name: np.zeros(1, dtype=dtype) for name, dtype in self.dtypes.items()},
                               index=pd.RangeIndex(1))
            self._spec = formulaic.model_matrix(self.rhs, row, na_action="raise").model_spec
        return self._spec


def encode_new(spec, data: pd.DataFrame, what: str, context=None) -> np.ndarray:
    """A formulaic model spec applied to new data; unseen categorical levels are an error.

    formulaic only warns about such levels and encodes them as the reference level,
    which would silently give wrong predictions.
    """
    from formulaic.errors import DataMismatchWarning

    if not isinstance(data, pd.DataFrame):
        raise TypeError(f"new data must be a pandas DataFrame, got {type(data).__name__}")
    needed = sorted(v for v in getattr(spec, "required_variables", ()) if v not in (context or {}))
    absent = [v for v in needed if v not in data.columns]
    if absent:
        raise ValueError(f"new data for the {what} lacks the column(s) {absent}; "
                         f"available: {list(map(str, data.columns))}")
    data = normalise_dtypes(data, set())  # text in pandas' string dtypes is categorical, as in fitting
    counts = missing_counts(data.loc[:, needed]) if needed else {}
    if counts:
        raise ValueError(f"new data for the {what} has missing or non-finite values in column(s) "
                         f"{describe_counts(counts)}")
    with warnings.catch_warnings():
        warnings.simplefilter("error", DataMismatchWarning)
        warnings.simplefilter("ignore", FutureWarning)
        try:
            kwargs = {"context": context} if context else {}
            mm = spec.get_model_matrix(data, na_action="raise", **kwargs)
        except DataMismatchWarning as warn:
            raise ValueError(f"new data for the {what} has categorical levels not seen in fitting: "
                             f"{plain_message(warn)}") from None
        except Exception as err:  # formulaic raises many types: name the part of the model that failed
            raise ValueError(f"cannot encode new data for the {what}: {plain_message(err)}") from None
    return np.asarray(mm, dtype=float)


_CONTRASTS = {"treatment": "treatment", "sum": "sum", "helmert": "helmert", "diff": "diff", "poly": "poly"}


def apply_contrasts(rhs: str, contrasts, data: pd.DataFrame) -> tuple[str, dict]:
    """Rewrite ``rhs`` so each variable in ``contrasts`` is coded as asked.

    ``contrasts`` maps column names to ``"treatment"``, ``"sum"``, ``"helmert"``, ``"diff"``,
    ``"poly"`` or a formulaic contrasts object.
    """
    context = {}
    if not contrasts:
        return rhs, context
    if not isinstance(contrasts, dict):
        raise TypeError(f"contrasts must be a dict mapping column names to codings, got {type(contrasts).__name__}")
    for i, (col, coding) in enumerate(contrasts.items()):
        if col not in data.columns:
            raise ValueError(f"contrasts names column {col!r}, which is not in the data")
        if isinstance(coding, str):
            if coding not in _CONTRASTS:
                raise ValueError(f"unknown contrast coding {coding!r} for {col!r}; choose one of {sorted(_CONTRASTS)}")
            code = f"contr.{_CONTRASTS[coding]}"
        else:
            code = f"__sklmixed_contrast_{i}"
            context[code] = coding
        # a name that is not an identifier is written backquoted; a bare name not inside another
        quoted = f"`{col}`"
        new = rhs.replace(quoted, f"C({quoted}, {code})")
        pattern = rf"(?<![\w.`]){re.escape(col)}(?![\w.`(])"
        if str(col).isidentifier():
            new = re.sub(pattern, f"C({col}, {code})", new)
        if new == rhs:  # silently ignoring a coding would give other coefficients than asked for
            raise ValueError(f"contrasts names column {col!r}, which the fixed-effects part {rhs!r} does not use "
                             "(as a plain or backquoted name)")
        rhs = new
    return rhs, context

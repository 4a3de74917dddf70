"""Classic mixed-model example datasets bundled with sklmixed.

The datasets are the standard examples of the mixed-models literature as
distributed with R's lme4 package, with lower-case column names following the
MixedModels.jl conventions.  See ``data/NOTICE.md`` for their provenance and
licence (GPL >= 2, unlike the BSD-3-Clause package code).

Every grouping factor and every other text column is returned as a pandas
``category`` column with sorted categories; responses and numeric covariates
stay numeric.
"""

from __future__ import annotations

import functools
from importlib import resources

import pandas as pd

__all__ = ["list_datasets", "load_dataset"]

_DATA_PACKAGE = __name__
_DATA_DIR = "data"
_SUFFIXES = (".csv.gz", ".csv")

# Columns stored as integers that are nevertheless factors (as in R's lme4):
# the student's and lecture's age classes in InstEval are ordinal levels.
_INTEGER_FACTORS: dict[str, tuple[str, ...]] = {
    "insteval": ("studage", "lectage"),
}


def _data_dir():
    return resources.files(_DATA_PACKAGE).joinpath(_DATA_DIR)


@functools.cache
def _index() -> dict[str, str]:
    """Map dataset name -> file name of the bundled data files."""
    found: dict[str, str] = {}
    for entry in _data_dir().iterdir():
        fname = entry.name
        for suffix in _SUFFIXES:
            if fname.endswith(suffix):
                found[fname[: -len(suffix)]] = fname
                break
    return dict(sorted(found.items()))


def list_datasets() -> list[str]:
    """Return the names of the bundled datasets.

    Returns
    -------
    list of str
        The dataset names, sorted alphabetically.  Each one can be passed
        to :func:`load_dataset`.

    See Also
    --------
    load_dataset : Load one of the datasets as a DataFrame.

    Examples
    --------
    >>> from sklmixed.datasets import list_datasets
    >>> list_datasets()
    ['dyestuff', 'dyestuff2', 'insteval', 'pastes', 'penicillin', 'sleepstudy', 'verbagg']
    """
    return list(_index())


def _to_categorical(column: pd.Series) -> pd.Series:
    levels = sorted(column.dropna().unique().tolist())
    return column.astype(pd.CategoricalDtype(categories=levels, ordered=False))


def _is_text(column: pd.Series) -> bool:
    return pd.api.types.is_object_dtype(column.dtype) or pd.api.types.is_string_dtype(
        column.dtype
    )


@functools.cache
def _load_cached(name: str) -> pd.DataFrame:
    fname = _index()[name]
    compression = "gzip" if fname.endswith(".gz") else None
    with _data_dir().joinpath(fname).open("rb") as fh:
        frame = pd.read_csv(fh, compression=compression)
    factors = set(_INTEGER_FACTORS.get(name, ()))
    for col in frame.columns:
        if col in factors or _is_text(frame[col]):
            frame[col] = _to_categorical(frame[col])
    return frame


def load_dataset(name: str) -> pd.DataFrame:
    """Load one of the bundled example datasets.

    Parameters
    ----------
    name : str
        Name of the dataset (case-insensitive), one of
        :func:`list_datasets`: ``"dyestuff"``, ``"dyestuff2"``,
        ``"insteval"``, ``"pastes"``, ``"penicillin"``, ``"sleepstudy"``,
        ``"verbagg"``.

    Returns
    -------
    pandas.DataFrame
        A fresh copy of the dataset (modifying it does not affect later
        calls).  Text columns and grouping factors are ``category`` columns
        with sorted categories; in ``insteval`` the integer-coded age
        classes ``studage`` and ``lectage`` are categorical too, as they are
        factors in R.  Responses and covariates (e.g. ``days`` in
        ``sleepstudy``, ``anger`` in ``verbagg``) are numeric.

    Raises
    ------
    ValueError
        If `name` is not a bundled dataset.

    See Also
    --------
    list_datasets : The names of the available datasets.

    Notes
    -----
    The data come from R's lme4 package and are distributed under the terms
    of the GPL (version 2 or later); see ``sklmixed/datasets/data/NOTICE.md``.

    Examples
    --------
    >>> from sklmixed.datasets import load_dataset
    >>> sleepstudy = load_dataset("sleepstudy")
    >>> sleepstudy.shape
    (180, 3)
    >>> list(sleepstudy.columns)
    ['subj', 'days', 'reaction']
    >>> sleepstudy["subj"].cat.categories.size
    18
    >>> str(sleepstudy["reaction"].dtype)
    'float64'
    >>> dyestuff = load_dataset("dyestuff")
    >>> dyestuff.groupby("batch", observed=True)["yield"].mean().round(1).tolist()
    [1505.0, 1528.0, 1564.0, 1498.0, 1600.0, 1470.0]
    """
    if not isinstance(name, str):
        raise TypeError(f"dataset name must be a str, got {type(name).__name__}")
    key = name.strip().lower()
    if key not in _index():
        raise ValueError(
            f"unknown dataset {name!r}; available datasets: {', '.join(list_datasets())}"
        )
    return _load_cached(key).copy(deep=True)

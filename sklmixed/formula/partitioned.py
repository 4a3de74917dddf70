"""Data in partitions: whether a data set is a Dask DataFrame, told without importing Dask.

A Dask DataFrame can exist only once ``dask.dataframe`` has been imported, so the check costs
nothing (and imports nothing) for anyone who does not use Dask: sklmixed keeps Dask an
optional dependency (``pip install "sklmixed[dask]"``).

Examples
--------
>>> import pandas as pd
>>> is_dask_frame(pd.DataFrame({"x": [1.0]}))
False
"""

from __future__ import annotations

import sys

__all__ = ["is_dask_frame", "is_dask_collection"]


def is_dask_frame(obj) -> bool:
    """Whether ``obj`` is a Dask DataFrame (or Series)."""
    dd = sys.modules.get("dask.dataframe")
    return dd is not None and isinstance(obj, (dd.DataFrame, dd.Series))


def is_dask_collection(obj) -> bool:
    """Whether ``obj`` is any Dask collection (a DataFrame, a Series, an Array, ...)."""
    dask = sys.modules.get("dask")
    return dask is not None and dask.is_dask_collection(obj)

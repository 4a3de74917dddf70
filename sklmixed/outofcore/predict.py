"""Predictions, fitted values and residuals of a model fit out of core: Dask Series, one partition at a time.

A prediction needs :math:`\\hat\\beta`, the terms' encodings and levels, and the conditional
modes, never the factor: :class:`PartitionPredictor` holds those (their size grows with the
numbers of columns and levels) and is shipped once to the workers, which predict their
partitions with the core's own code (``MixedModel._random_part``), exactly as a model in
memory predicts a pandas DataFrame. The result is lazy: a Dask Series with the partitions'
index, computed (or written, or aggregated) when the user asks.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..models.mixedmodel import MixedModel, check_new_levels
from .passes import require_dask

__all__ = ["PartitionPredictor", "predict_partitions"]


class PartitionPredictor:
    """What predicting a partition needs of a fitted model (see the module docstring).

    Parameters
    ----------
    model : MixedModel
        A fitted model.
    recipe : FrameRecipe, optional
        How the fitting data's partitions were prepared (for fitted values and residuals).
    response : callable, optional
        ``response(frame) -> y`` as in fitting (for residuals).
    """

    _fitted = True
    # the core's prediction itself: it reads beta, feterm, reterms and _b() only
    _re_part = MixedModel._re_part
    _random_part = MixedModel._random_part
    _check_fitted = MixedModel._check_fitted

    def __init__(self, model, recipe=None, response=None):
        self.beta = np.array(model.beta, dtype=float)
        self.feterm, self.reterms = model.feterm, list(model.reterms)
        self._modes = [b.copy() for b in model._b()]
        self.link = getattr(model, "link", None)
        self.recipe, self.response = recipe, response

    def _b(self) -> list[np.ndarray]:
        return self._modes

    def eta(self, frame: pd.DataFrame, new_levels: str) -> np.ndarray:
        """The linear predictor of the rows of ``frame``."""
        return self.feterm.new_X(frame) @ self.beta + self._random_part(frame, new_levels)


def _predict(part, predictor, what, new_levels, name):
    frame = part if predictor.recipe is None else predictor.recipe(part)
    if frame is None or len(frame) == 0:
        return pd.Series(np.zeros(0), index=part.index[:0], name=name)
    eta = predictor.eta(frame, new_levels)
    if what == "residuals":
        values = predictor.response(frame) - eta
    elif what == "link" or predictor.link is None:
        values = eta
    else:
        values = predictor.link.inverse(eta)
    return pd.Series(values, index=frame.index, name=name)


def predict_partitions(model, data, *, what="response", new_levels="population", recipe=None, response=None):
    """A Dask Series of predictions (``"response"`` or ``"link"``) or of ``"residuals"`` for ``data``.

    ``recipe`` prepares the partitions as in fitting (rows with missing values dropped, say):
    for fitted values and residuals of the fitting data.
    """
    dask, _ = require_dask()
    check_new_levels(new_levels)
    model._check_fitted()
    predictor = dask.delayed(PartitionPredictor(model, recipe, response), pure=False, traverse=False)
    name = {"residuals": "residuals"}.get(what, "fitted" if recipe is not None else "predict")
    return data.map_partitions(_predict, predictor, what, new_levels, name, meta=pd.Series(dtype=float, name=name))

"""What ``predict`` needs of a fitted mixed model, and nothing more: a fitted estimator's pickle.

A fitted :class:`~sklmixed.models.mixedmodel.MixedModel` holds its data, its terms and its
blocked Cholesky factor: the estimator fit to the insteval data (73 421 rows, 1.3 MB)
held 35 MB, nearly all of it the factor. Predictions need only :math:`\\hat\\beta`, the
fixed-effects columns kept at full rank, and for every random-effects term its levels and
conditional modes :math:`\\tilde b`. :class:`FittedEffects` holds those and runs the core's
own :meth:`~sklmixed.models.mixedmodel.MixedModel.linear_predictor` on them, so that an
estimator predicts bit for bit alike before and after a pickle round trip, with or without
its core model.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ..models.mixedmodel import MixedModel
from ..terms.grouping import GroupingFactor

__all__ = []


class _Kept(NamedTuple):
    keep: np.ndarray  # the fixed-effects columns kept at full rank


class Term(NamedTuple):
    """One random-effects term as predictions see it."""

    grouping: GroupingFactor
    S: int
    scalar_intercept: bool

    @property
    def name(self) -> str:
        return self.grouping.name


class FittedEffects:
    """:math:`\\hat\\beta` and the conditional modes of a fitted mixed model, for predictions.

    Parameters
    ----------
    model : MixedModel
        A fitted core model.

    Attributes
    ----------
    beta : ndarray
        The fixed-effects estimates (full-rank columns).
    feterm : NamedTuple
        ``keep``, the indices of the fixed-effects columns kept at full rank.
    reterms : list of Term
        Per random-effects term (in the model's order): its grouping factor, size ``S``,
        and whether it is a random intercept alone.
    """

    _fitted = True
    # the core's prediction itself: it reads beta, feterm.keep, reterms and _b() only
    linear_predictor = MixedModel.linear_predictor
    _re_part = MixedModel._re_part
    _check_fitted = MixedModel._check_fitted

    def __init__(self, model: MixedModel):
        self.beta = np.array(model.beta, dtype=float)
        self.feterm = _Kept(np.array(model.feterm.keep))
        self.reterms = [Term(r.grouping, r.S, r.scalar_intercept) for r in model.reterms]
        modes = model.ranef()
        if len(modes) != len(self.reterms):
            raise ValueError(f"the random-effects terms need distinct names, got {[r.name for r in model.reterms]}")
        self._modes = [np.array(modes[r.name].to_numpy(), dtype=float) for r in model.reterms]

    def _b(self) -> list[np.ndarray]:
        return self._modes


class DroppedModel:
    """Stands for ``model_`` in an estimator loaded from a pickle that left the core model out."""

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        raise AttributeError(f"model_ was left out when this estimator was pickled (keep_model=False), so "
                             f"model_.{name} is not available; set keep_model=True before fitting to pickle the "
                             "core model with the estimator")

    def __repr__(self) -> str:
        return "<model_ left out of the pickle: set keep_model=True before fitting to keep it>"

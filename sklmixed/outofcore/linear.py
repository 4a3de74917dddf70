r"""Linear mixed models fit to a Dask DataFrame: three passes over the data, then the usual fit.

``LinearMixedModel(formula, ddf)`` with a Dask DataFrame builds this class. It needs the data
only through the blocks of :math:`A = [Z\,X\,y]^\top W [Z\,X\,y]`, the number of rows and the
sum of the log weights, which three passes compute:

1. *levels and categories* (:mod:`~sklmixed.outofcore.vocabulary`): the rows kept, the
   categories of the categorical columns, the levels of the grouping factors;
2. *means and scales* (:mod:`~sklmixed.outofcore.moments`): the centring and scaling of
   :math:`X` and :math:`y` (:mod:`~sklmixed.models.standardize`), the columns' magnitudes;
3. *cross-products* (:mod:`~sklmixed.outofcore.sums`): the blocks of :math:`A` for the centred
   and scaled columns, and the QR factors the checks of the model need.

The factor (:class:`~sklmixed.linalg.statistics.SummaryCholesky`) is then built and the fit
runs as in memory: the same objective, optimiser, estimates and reports, on blocks whose
size depends on the numbers of levels and of level pairs, not on the number of rows. The
model keeps no rows: fitted values and residuals are Dask Series computed by a pass when
asked for, and what needs the rows otherwise (a new response, simulation, profiles,
shrinkage plots) is refused with a message that says so.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..formula.frame import response_values
from ..formula.parse import parse_formula
from ..formula.partitioned import is_dask_frame
from ..formula.r_terms import refuse_in_linear_model
from ..formula.strict import check_policy
from ..linalg.statistics import CrossProducts, SummaryCholesky
from ..models.linear import LinearMixedModel, _numeric_response
from ..models.standardize import Standardization
from ..optim import OptSummary
from ..terms.rowfree import RowFreeFeTerm, RowFreeReMat
from .checks import check_dependence, check_estimable_by_r, check_finite, refuse_missing
from .encoding import Encoder
from .frames import FrameRecipe
from .moments import PartitionMoments, partition_moments
from .passes import PassLog, partitions, require_dask, run_pass
from .predict import predict_partitions
from .sums import PartitionSums, partition_sums
from .vocabulary import learn_vocabulary

__all__ = ["PartitionedLinearMixedModel", "LinearResponse", "prepare_partitions", "standardization"]


class LinearResponse:
    """The response of a linear mixed model from a model frame (numeric, as in memory)."""

    def __init__(self, formula):
        self.formula = formula

    def __call__(self, frame) -> np.ndarray:
        return _numeric_response(response_values(self.formula, frame), self.formula.response)


def prepare_partitions(model, formula, data, extra, missing, response_of, *, contrasts=None, weights=None,
                       offset=None, also=()):
    """The first pass and what follows from it: the partitions, their recipe and the encoder.

    ``response_of(vocabulary)`` gives the encoder's ``response(frame) -> y`` (a binary
    response's levels come from the whole data: the distinct values of the columns ``also``).
    Sets ``model.passes`` and ``model.n_dropped``.
    """
    _, dd = require_dask()
    if not isinstance(data, dd.DataFrame):
        raise TypeError(f"data must be a Dask DataFrame (or a pandas one), got {type(data).__name__}")
    recipe = FrameRecipe(formula, extra, missing)
    unknown = sorted(c for c in recipe.wanted if c not in data.columns)
    if unknown:
        raise ValueError(f"the formula {formula.text!r} uses column(s) {unknown} not in the data; "
                         f"available: {list(map(str, data.columns))}")
    model.passes = PassLog()
    chunks = partitions(data)
    vocab = learn_vocabulary(model.passes, chunks, recipe, formula, also)
    model.n_dropped = refuse_missing(vocab, missing)
    declared = {c: data[c].cat.categories for c in vocab.values
                if isinstance(data.dtypes[c], pd.CategoricalDtype) and data[c].cat.known}
    categories = vocab.categories(declared)
    recipe = recipe.with_categories({c: v for c, v in categories.items() if c not in also})
    groupings = {g: vocab.grouping(g) for g in vocab.combos}
    encoder = Encoder(formula, recipe.cast(vocab.meta), groupings, response_of(vocab), contrasts=contrasts,
                      weights=weights, offset=offset)
    return chunks, recipe, encoder


def standardization(xy, keep=None) -> Standardization:
    """The centring and scaling of the fixed-effects columns (those in ``keep``) and of the response,
    from their moments (see :meth:`Standardization.of`)."""
    p = len(xy.mean) - 1
    keep = np.arange(p) if keep is None else np.asarray(keep)
    ones = [i for i, j in enumerate(keep) if xy.low[j] == 1.0 and xy.high[j] == 1.0 and not xy.nonfinite[j]]
    intercept = ones[0] if ones else None
    centred = intercept is not None
    shifts = xy.mean[keep] if centred else np.zeros(len(keep))
    y_shift = float(xy.mean[p]) if centred else 0.0
    rms = xy.rms(centred)
    return Standardization.from_columns(shifts, rms[keep], intercept, y_shift, float(rms[p]))


def _nlev_groups(terms) -> list[list[int]]:
    groups: dict = {}
    for i, t in enumerate(terms):
        groups.setdefault(len(t.grouping.levels), []).append(i)
    return list(groups.values())


def _select(cross: CrossProducts, sel) -> CrossProducts:
    return CrossProducts(cross.n, cross.diagonal, cross.pairs, [f[sel] for f in cross.fixed_rows],
                         cross.fixed[np.ix_(sel, sel)])


def _no_rows(what: str) -> property:
    def get(self):
        raise TypeError(f"a model fit to a Dask DataFrame holds no rows ({what}): compute what needs them by a "
                        "pass over the data (residuals() and fitted() are such passes)")
    return property(get)


class PartitionedLinearMixedModel(LinearMixedModel):
    """A :class:`~sklmixed.LinearMixedModel` fit to a Dask DataFrame (see the module docstring).

    Built by ``LinearMixedModel(formula, ddf, ...)`` with the same parameters, except that
    ``weights`` must name a column. ``passes`` records every pass over the data (name, wall
    time, partitions).
    """

    _partitioned = True

    def __init__(self, formula, data, *, contrasts=None, weights=None, missing="raise", formula_policy="python"):
        if not is_dask_frame(data):
            raise TypeError(f"data must be a Dask DataFrame, got {type(data).__name__}")
        check_policy(formula_policy, formula, data)
        formula = parse_formula(formula)
        refuse_in_linear_model(formula)
        if weights is not None and not isinstance(weights, str):
            raise TypeError("with a Dask DataFrame, weights must name a column of it (an array cannot follow "
                            "its partitions)")
        response = LinearResponse(formula)
        chunks, recipe, encoder = prepare_partitions(self, formula, data, [weights] if weights else [], missing,
                                                     lambda vocab: response, contrasts=contrasts, weights=weights)
        moments = run_pass(self.passes, "means and scales", chunks, partition_moments, PartitionMoments.__add__,
                           recipe, encoder)
        check_finite(moments, encoder)
        groups = _nlev_groups(encoder.terms)
        start = all(t.S == 1 and t.lhs[0].intercept_only for t in encoder.terms)
        sums = run_pass(self.passes, "cross-products", chunks, partition_sums, PartitionSums.__add__, recipe,
                        encoder, standardization(moments.xy), groups, start)
        feterm = RowFreeFeTerm(sums.r_raw, encoder.names, moments.xy.big[:-1], spec=encoder.spec,
                               context=encoder.context)
        reterms = [RowFreeReMat(t.grouping, t.lhs, zm.rms(centred=False), zm.big)
                   for t, zm in zip(encoder.terms, moments.z)]
        check_dependence(reterms, sums.cross.patterns(reterms), groups, sums.r_z)
        sel = np.append(feterm.keep, len(encoder.names))
        self.formula, self.n, self.feterm, self.reterms = formula, int(moments.n), feterm, reterms
        self._std = standardization(moments.xy, feterm.keep)
        self._factor = SummaryCholesky(reterms, _select(sums.cross, sel))
        self._r_xy = sums.r_std[:, sel]
        self._constant = bool(moments.xy.constant[-1])
        self._level_sums = (sums.counts, sums.ysums, sums.ysum, sums.y2sum)
        self._sum_log_weights = moments.log_weights if weights else None
        self._weight_unit = 1.0 if weights is None else 1.0 / np.sqrt(moments.xy.W / self.n)
        self._data, self._recipe, self._response = data, recipe, response
        theta0 = self._start_theta("moments")
        self.optsum = OptSummary(initial=theta0, lowerbd=self.theta_lowerbd)
        self._scale_optimizer_settings(self.optsum)
        self._install_theta(theta0)
        self.reml = False

    # ------------------------------------------------------------------ what the rows gave in memory
    y = _no_rows("its response y")
    weights = _no_rows("its weights")

    def _check_fittable(self) -> None:
        if self._constant:
            raise ValueError(f"the response {self.formula.response!r} is constant; there is nothing to fit")
        check_estimable_by_r(self, self._r_xy)

    def _moment_variances(self):
        counts, ysums, ysum, y2sum = self._level_sums
        n = self.n
        mean = ysum / n
        v = np.array([float(np.sum(c * (s / c - mean) ** 2)) / (n - 1) for c, s in zip(counts, ysums)])
        return v, (y2sum - n * mean * mean) / (n - 1)

    def refit(self, y=None, **kwargs):
        """Fit again from a fresh start (see :meth:`LinearMixedModel.refit`); a new response is refused."""
        if y is not None:
            raise TypeError("a model fit to a Dask DataFrame holds no rows: refit it with a new response by building "
                            "a new model from the data with that response")
        return super().refit(None, **kwargs)

    # ------------------------------------------------------------------ passes on request
    def fitted(self, data=None):
        """Fitted values ``Xβ + Zb`` of the fitting data (or of ``data``, prepared alike): a Dask Series."""
        self._check_fitted()
        return predict_partitions(self, self._rows(data), recipe=self._recipe)

    def residuals(self, data=None):
        """Response minus fitted values of the fitting data (or of ``data``): a Dask Series."""
        self._check_fitted()
        return predict_partitions(self, self._rows(data), what="residuals", recipe=self._recipe,
                                  response=self._response)

    def _rows(self, data):
        data = getattr(self, "_data", None) if data is None else data
        if data is None:
            raise ValueError("this model was unpickled without its Dask DataFrame: pass the data")
        return data

    def predict(self, data=None, *, new_levels="population", interval=None, level=0.95):
        """Predictions for new data: a Dask Series for a Dask DataFrame (see :meth:`LinearMixedModel.predict`)."""
        if is_dask_frame(data):
            if interval is not None:
                raise ValueError("predict(interval=...) needs the whole factor in every worker: predict a pandas "
                                 "DataFrame (a sample of the rows, say) for intervals")
            return predict_partitions(self, data, new_levels=new_levels)
        return super().predict(data, new_levels=new_levels, interval=interval, level=level)

    def within_level_estimates(self, j, b):
        raise TypeError("shrinkage plots fit every level by least squares from the rows, which a model fit to a "
                        "Dask DataFrame does not hold")

    def __getstate__(self):
        # the Dask DataFrame is a recipe to compute the data (from_pandas holds the data itself): not pickled
        return {k: v for k, v in self.__dict__.items() if k != "_data"}

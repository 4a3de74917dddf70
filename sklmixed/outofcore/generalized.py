r"""Generalized linear mixed models fit to a Dask DataFrame: PIRLS with one pass per iteration.

``GeneralizedLinearMixedModel(formula, ddf, family=...)`` with a Dask DataFrame builds this
class. After the first pass (levels and categories), the partitions are encoded once and
persisted in the workers' memory; a pass sums their columns' moments and QR factors (the
checks of the terms), the GLM that starts the fit takes a few IRLS passes
(:mod:`~sklmixed.outofcore.glm`), and every PIRLS iteration is one pass that sums the
reweighted working :math:`A` (:mod:`~sklmixed.outofcore.pirls`). The searches are those of a
model in memory: ``fit(fast=True)`` optimises θ with β inside PIRLS (a few passes per
evaluation); the full fit (β in the search) works too, at a few passes for each of its many
evaluations. ``passes`` counts them. The Bernoulli, binomial and Poisson families are
available; families with a dispersion or another parameter, and quadrature (``nagq > 1``),
need the rows and are refused.
"""

from __future__ import annotations

import numpy as np

from ..exceptions import PosDefError
from ..formula.frame import case_weights, offset_values, response_values
from ..formula.parse import parse_formula
from ..formula.partitioned import is_dask_frame
from ..formula.r_terms import formula_columns, formula_offset, formula_trials
from ..formula.strict import check_policy
from ..glm.families import binomial_for_trials, get_family
from ..linalg.statistics import SummaryCholesky
from ..models.generalized import GeneralizedLinearMixedModel
from ..optim import OptSummary, PIRLSSettings
from ..terms.rowfree import RowFreeFeTerm, RowFreeReMat
from .checks import check_dependence, check_finite
from .glm import check_glm_start_by_r, fit_glm_by_passes
from .linear import _nlev_groups, _no_rows, prepare_partitions
from .passes import persist_pass, run_pass
from .pirls import PartitionedPIRLS
from .predict import predict_partitions
from .working import ChunkSummary, chunk_summary, encode_chunk, loglik_sums

__all__ = ["PartitionedGeneralizedLinearMixedModel", "GeneralizedResponse"]


class GeneralizedResponse:
    """The response of a GLMM from a model frame; a two-label response is coded with the labels of all the data."""

    def __init__(self, formula, family, levels=None):
        self.formula, self.family, self.levels = formula, family, levels

    def __call__(self, frame) -> np.ndarray:
        values = response_values(self.formula, frame)
        if self.levels is None:
            return self.family.encode_response(values, self.formula.response)[0]
        return np.asarray(np.asarray(values, dtype=object) == self.levels[1], dtype=float)

    @classmethod
    def of(cls, formula, family, vocab) -> GeneralizedResponse:
        values = vocab.values.get(formula.response)
        if values is None:
            return cls(formula, family)
        return cls(formula, family, family.encode_response(values.reset_index(drop=True), formula.response)[1])


class _PriorWeights:
    def __init__(self, formula, weights):
        self.formula, self.weights = formula, weights

    def __call__(self, frame):
        trials = formula_trials(self.formula, frame)
        return trials if trials is not None else case_weights(self.weights, frame, len(frame))


class _Offset:
    def __init__(self, formula, offset):
        self.formula, self.offset = formula, offset

    def __call__(self, frame):
        n = len(frame)
        return offset_values(self.offset, frame, n) + formula_offset(self.formula, frame, n)


class PartitionedGeneralizedLinearMixedModel(GeneralizedLinearMixedModel):
    """A :class:`~sklmixed.GeneralizedLinearMixedModel` fit to a Dask DataFrame (see the module docstring).

    Built by ``GeneralizedLinearMixedModel(formula, ddf, ...)`` with the same parameters,
    except that ``weights`` and ``offset`` must name columns.
    """

    _partitioned = True

    def __init__(self, formula, data, *, family="bernoulli", link=None, weights=None, offset=None, contrasts=None,
                 missing="raise", formula_policy="python"):
        if not is_dask_frame(data):
            raise TypeError(f"data must be a Dask DataFrame, got {type(data).__name__}")
        check_policy(formula_policy, formula, data)
        formula = parse_formula(formula)
        family = binomial_for_trials(formula, get_family(family), weights)
        self.link = family.make_link(link)
        if family.has_dispersion or family.free_parameter:
            raise ValueError(f"the {family.name} family estimates a parameter from the rows at every step, which a "
                             "fit out of core does not hold: the Bernoulli, binomial and Poisson families can be fit "
                             "to a Dask DataFrame")
        for what, value in (("weights", weights), ("offset", offset)):
            if value is not None and not isinstance(value, str):
                raise TypeError(f"with a Dask DataFrame, {what} must name a column of it (an array cannot follow "
                                "its partitions)")
        extra = [c for c in (weights, offset) if isinstance(c, str)] + sorted(formula_columns(formula))
        also = [formula.response] if formula.response in data.columns else []
        chunks, recipe, encoder = prepare_partitions(
            self, formula, data, extra, missing, lambda vocab: GeneralizedResponse.of(formula, family, vocab),
            contrasts=contrasts, weights=_PriorWeights(formula, weights), offset=_Offset(formula, offset), also=also)
        chunks = persist_pass(self.passes, "encode and persist", chunks, encode_chunk, recipe, encoder, family,
                              formula.response)
        groups = _nlev_groups(encoder.terms)
        summary = run_pass(self.passes, "columns", chunks, chunk_summary, ChunkSummary.__add__, groups)
        check_finite(summary, encoder)
        feterm = RowFreeFeTerm(summary.r_raw, encoder.names, summary.xy.big[:-1], spec=encoder.spec,
                               context=encoder.context)
        reterms = [RowFreeReMat(t.grouping, t.lhs, zm.rms(centred=False), zm.big)
                   for t, zm in zip(encoder.terms, summary.z)]
        self.formula, self.feterm, self.reterms, self.family = formula, feterm, reterms, family
        self.n, self.has_weights = int(summary.n), weights is not None or formula.trials is not None
        self.response_levels = encoder.response.levels
        self.beta_glm, _, last = fit_glm_by_passes(self.passes, chunks, family, self.link, feterm.keep)
        check_glm_start_by_r(last.r, feterm.rank, formula.response, bool(summary.xy.constant[-1]))
        theta0 = self.initial_theta
        self.optsum = OptSummary(initial=theta0, lowerbd=self.theta_lowerbd, pirls=PIRLSSettings())
        self._scale_optimizer_settings(self.optsum)
        self._pirls = PartitionedPIRLS(None, chunks, feterm.keep, reterms, family, self.link, self.optsum.pirls,
                                       self.beta_glm, self.passes)
        first = self._pirls.working_pass()  # u = 0: b is 0 whatever θ
        if first.nonfinite:
            raise ValueError(f"cannot start PIRLS from the generalized linear model of the fixed effects: the working "
                             f"response or weights are not finite for {first.nonfinite} observation(s)")
        self._factor = self._pirls.factor = SummaryCholesky(reterms, first.cross)
        check_dependence(reterms, first.cross.patterns(reterms), groups, summary.r_z)
        self._install_theta(theta0)
        try:
            self._pirls.install(first)
        except (PosDefError, FloatingPointError) as err:
            raise ValueError(f"cannot start PIRLS from the generalized linear model of the fixed effects ({err}); "
                             "the data may be (quasi-)separable: try the canonical link, fewer fixed effects, or "
                             "check for separation") from None
        self.fast = False
        self._data, self._recipe, self._loglik = data, recipe, {}

    y = _no_rows("its response y")
    prior = _no_rows("its prior weights")
    offset = _no_rows("its offset")
    eta = _no_rows("its linear predictor; predict(type='link') computes it by a pass")
    mu = _no_rows("its fitted means; fitted() computes them by a pass")

    def _saturated(self) -> int:
        return int(self._pirls.saturated)

    def fit(self, *, fast=False, nagq=1, progress=None, fitlog=False):
        """Fit as :meth:`GeneralizedLinearMixedModel.fit` does, every PIRLS iteration a pass; ``nagq`` must be 1."""
        if nagq != 1:
            raise ValueError("adaptive Gauss-Hermite quadrature (nagq > 1) integrates over every level's rows, which "
                             "a fit out of core does not hold: use nagq=1 (the Laplace approximation)")
        return super().fit(fast=fast, nagq=nagq, progress=progress, fitlog=fitlog)

    def refit(self, y=None, **kwargs):
        """Fit again from the default start (:meth:`GeneralizedLinearMixedModel.refit`); no new response."""
        if y is not None:
            raise TypeError("a model fit to a Dask DataFrame holds no rows: build a new model with the new response")
        return super().refit(None, **kwargs)

    @property
    def loglikelihood(self) -> float:
        """Log-likelihood at the estimates: the deviance's saturated-model terms come from a pass (once)."""
        self._check_fitted()
        key = (self.theta.tobytes(), self.beta.tobytes())
        if key not in self._loglik:
            p = self._pirls
            b = [u @ r.lambda_.T for u, r in zip(p.u, self.reterms)]
            self._loglik[key] = run_pass(self.passes, "log-likelihood", p.chunks, loglik_sums, float.__add__,
                                         self.family, self.link, p.beta, b, p.keep,
                                         [r.scalar_intercept for r in self.reterms])
        return float(-self.objective / 2 + self._loglik[key])

    def fitted(self, data=None):
        """Fitted means of the fitting data (or of ``data``, prepared alike): a Dask Series."""
        self._check_fitted()
        return predict_partitions(self, self._data if data is None else data, recipe=self._recipe)

    def predict(self, data=None, *, type="response", new_levels="population", offset=None, interval=None,
                level=0.95):
        """Predictions: a Dask Series for a Dask DataFrame (see :meth:`GeneralizedLinearMixedModel.predict`)."""
        if is_dask_frame(data):
            if offset is not None or interval is not None:
                raise ValueError("a prediction of a Dask DataFrame takes neither an offset array nor an interval")
            if type not in ("response", "link"):
                raise ValueError(f"type must be 'response' or 'link', got {type!r}")
            return predict_partitions(self, data, what=type, new_levels=new_levels)
        if data is None:
            return self.fitted() if type == "response" else predict_partitions(self, self._data, what="link",
                                                                              recipe=self._recipe)
        return super().predict(data, type=type, new_levels=new_levels, offset=offset, interval=interval, level=level)

    def __getstate__(self):
        # neither the Dask DataFrame nor the partitions persisted in the workers travel with the model
        state = {k: v for k, v in self.__dict__.items() if k != "_data"}
        state["_pirls"] = pirls = object.__new__(PartitionedPIRLS)
        pirls.__dict__.update({k: v for k, v in self._pirls.__dict__.items() if k not in ("chunks", "log")})
        pirls.chunks, pirls.log = [], None
        return state

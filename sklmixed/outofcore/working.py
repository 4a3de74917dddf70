r"""What a generalized model computes on each partition: encoded rows kept in the workers, and their sums.

A GLMM reweights its working LMM at every PIRLS iteration, so its partitions are encoded once
(:func:`encode_chunk`) and persisted in the workers' memory; every iteration is then one pass
over those arrays. At the current :math:`\beta` and :math:`b = \Lambda u`, a partition
computes its linear predictor, the IRLS working response and weights
(:func:`~sklmixed.glm.irls.working_response_and_weights`, as in memory), and sums them into the
blocks of the working :math:`A` (:class:`~sklmixed.linalg.statistics.CrossProducts`), with the
deviance there and at :math:`u = 0` (what PIRLS compares its modes with) and the number of
means on the boundary (:func:`working_sums`). The GLM that starts the fit takes passes of its
own: the triangular factor of :math:`\sqrt{W}[X\,z]` and the deviance (:func:`glm_sums`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..glm.irls import working_response_and_weights
from ..linalg.statistics import CrossProducts
from .moments import ColumnMoments
from .sums import _stack_r, qr_r

__all__ = ["encode_chunk", "ChunkSummary", "chunk_summary", "GLMSums", "glm_sums", "WorkingSums", "working_sums",
           "loglik_sums"]


def encode_chunk(part, recipe, encoder, family, response_name):
    """A partition's rows as arrays (:class:`~sklmixed.outofcore.encoding.Encoded`), the response checked."""
    frame = recipe(part)
    if frame is None:
        return None
    enc = encoder(frame)
    prior = np.ones(len(frame)) if enc.weights is None else enc.weights
    family.check_response(enc.y, prior)
    family.check_scale(enc.y, prior, response_name)
    return enc._replace(weights=prior, offset=np.zeros(len(frame)) if enc.offset is None else enc.offset)


@dataclass
class ChunkSummary:
    """Moments and QR factors of the encoded columns (see :mod:`~sklmixed.outofcore.sums`)."""

    xy: ColumnMoments
    z: list
    r_raw: np.ndarray
    r_z: list
    n: int

    def __add__(self, other: ChunkSummary) -> ChunkSummary:
        return ChunkSummary(self.xy + other.xy, [a + b for a, b in zip(self.z, other.z)],
                            _stack_r(self.r_raw, other.r_raw), [_stack_r(a, b) for a, b in zip(self.r_z, other.r_z)],
                            self.n + other.n)


def chunk_summary(enc, groups) -> ChunkSummary | None:
    if enc is None:
        return None
    return ChunkSummary(ColumnMoments.of(np.column_stack([enc.X, enc.y])), [ColumnMoments.of(z.T) for z in enc.z],
                        qr_r(enc.X), [qr_r(np.vstack([enc.z[j] for j in group]).T) for group in groups], len(enc.y))


@dataclass
class GLMSums:
    """One IRLS pass of the GLM start: ``R`` of ``√w [X z]``, the deviance, non-finite working values."""

    r: np.ndarray
    deviance: float
    nonfinite: int

    def __add__(self, other: GLMSums) -> GLMSums:
        return GLMSums(_stack_r(self.r, other.r), self.deviance + other.deviance, self.nonfinite + other.nonfinite)


def glm_sums(enc, family, link, beta, keep) -> GLMSums | None:
    """At ``beta`` (``None``: the family's starting means), the working LS problem and the deviance."""
    if enc is None:
        return None
    X = enc.X[:, keep]
    if beta is None:
        eta, dev = link.link(family.initial_mu(enc.y, enc.weights)), np.nan
    else:
        eta = X @ beta + enc.offset
        dev = float(np.sum(family.dev_resid(enc.y, family.clip_mu(link.inverse(eta)), enc.weights)))
    z, w, _ = working_response_and_weights(family, link, enc.y, eta, enc.offset, enc.weights)
    sw = np.sqrt(w)
    bad = int(np.sum(~(np.isfinite(z) & np.isfinite(sw))))
    if bad:  # refused on the client
        return GLMSums(np.zeros((0, X.shape[1] + 1)), dev, bad)
    return GLMSums(qr_r(np.column_stack([X, z]) * sw[:, None]), dev, 0)


def _linear_predictor(enc, X, beta, b, scalar):
    """``Xβ + o`` and ``Xβ + o + Σ_j Z_j b_j`` of a partition (``scalar``: the term's columns are all ones)."""
    fixed = X @ beta + enc.offset
    eta = fixed.copy()
    for codes, z, bj, ones in zip(enc.codes, enc.z, b, scalar):
        eta += bj[codes, 0] if ones else np.einsum("sn,ns->n", z, bj[codes])
    return fixed, eta


@dataclass
class WorkingSums:
    """One PIRLS pass: the working ``A``, the deviance, the deviance at ``u = 0``, means on the boundary."""

    cross: CrossProducts | None
    deviance: float
    zero_u: float
    saturated: int
    nonfinite: int

    def __add__(self, other: WorkingSums) -> WorkingSums:
        cross = None if self.cross is None or other.cross is None else self.cross + other.cross
        return WorkingSums(cross, self.deviance + other.deviance, self.zero_u + other.zero_u,
                           self.saturated + other.saturated, self.nonfinite + other.nonfinite)


def working_sums(enc, family, link, beta, b, keep, nlevs, scalar) -> WorkingSums | None:
    """The working LMM of one partition at ``beta`` and ``b`` (per term, ``nlev x S``; ``scalar``
    marks the random intercepts alone, whose columns are all ones)."""
    if enc is None:
        return None
    X = enc.X[:, keep]
    fixed, eta = _linear_predictor(enc, X, beta, b, scalar)
    with np.errstate(over="ignore", invalid="ignore"):  # non-finite values are an error on the client
        z, w, mu = working_response_and_weights(family, link, enc.y, eta, enc.offset, enc.weights)
    nonfinite = int(np.sum(~(np.isfinite(z) & np.isfinite(w))))
    with np.errstate(all="ignore"):
        dev = float(np.sum(family.dev_resid(enc.y, mu, enc.weights)))
        dev0 = float(np.sum(family.dev_resid(enc.y, family.clip_mu(link.inverse(fixed)), enc.weights)))
    if nonfinite:
        return WorkingSums(None, dev, dev0, 0, nonfinite)
    cross = CrossProducts.of_rows(enc.codes, enc.z, nlevs, np.column_stack([X, z]), w)
    return WorkingSums(cross, dev, dev0, family.saturated(mu), 0)


def loglik_sums(enc, family, link, beta, b, keep, scalar) -> float:
    """``Σ loglik_i + d_i / 2`` at ``beta`` and ``b``: what the log-likelihood adds to the deviance."""
    if enc is None:
        return 0.0
    _, eta = _linear_predictor(enc, enc.X[:, keep], beta, b, scalar)
    mu = family.clip_mu(link.inverse(eta))
    return float(np.sum(family.loglik_obs(enc.y, mu, enc.weights) + family.dev_resid(enc.y, mu, enc.weights) / 2))

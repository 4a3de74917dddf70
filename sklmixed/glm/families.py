"""Response distributions of generalized linear (mixed) models, as strategy objects."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import special

from .links import get_link

__all__ = ["Family", "Bernoulli", "Binomial", "Poisson", "Gamma", "InverseGaussian", "NegativeBinomial",
           "get_family", "FAMILIES"]


class Family:
    """A distribution parameterised by its mean: variance, deviance residuals, log-likelihood.

    ``weights`` are prior weights: case weights for Bernoulli and Poisson, the number of
    trials for Binomial (whose response is then a proportion).
    """

    name = "family"
    canonical_link = "identity"
    links = ("identity",)
    #: whether the family has a scale parameter φ to estimate (counted in ``dof``, shown as Residual)
    has_dispersion = False
    #: a parameter besides the mean that a GLMM estimates (see ``_ShapeFamily``); None for none
    free_parameter = None
    extra_parameters = 0

    def variance(self, mu):
        raise NotImplementedError

    def dev_resid(self, y, mu, wt):
        """Unit deviances times the prior weights."""
        raise NotImplementedError

    def loglik_obs(self, y, mu, wt):
        """Log-likelihood of every observation."""
        raise NotImplementedError

    def initial_mu(self, y, wt):
        raise NotImplementedError

    def clip_mu(self, mu):
        return mu

    #: what :meth:`saturated` counts, for the warning of a fit (a sign of separation)
    boundary_text = "fitted means numerically on the boundary of the support"

    def saturated(self, mu) -> int:
        """How many fitted means sit numerically on the boundary of the support (a sign of separation)."""
        return 0

    def dispersion(self, y, mu, wt, dof: int) -> float:
        r"""The estimate of the dispersion φ of a family that has one (``has_dispersion``).

        The Pearson estimate :math:`\sum_i w_i (y_i - \mu_i)^2 / V(\mu_i)` over the residual
        degrees of freedom; a family may override it. 1 for families without dispersion.
        """
        if not self.has_dispersion:
            return 1.0
        return float(np.sum(wt * (y - mu) ** 2 / self.variance(mu)) / max(dof, 1))

    def check_scale(self, y, wt, name: str) -> None:
        """Raise a ``ValueError`` for a response on a scale the family's fit cannot resolve (none here)."""

    def check_response(self, y, wt) -> None:
        """Raise a ``ValueError`` for responses outside the support."""

    def sample(self, mu, wt, rng) -> np.ndarray:
        """Responses drawn with means ``mu`` and prior weights ``wt`` (for :func:`~sklmixed.models.simulate`)."""
        raise NotImplementedError(f"the {self.name} family cannot simulate responses")

    def encode_response(self, values, name: str) -> tuple[np.ndarray, tuple | None]:
        """The response as floats, and its levels when it was coded from labels (else None).

        Numeric families take numbers; :class:`Bernoulli` also takes booleans and two-level
        factors. Raises a ``TypeError`` naming the response for any other dtype.
        """
        if isinstance(values.dtype, pd.CategoricalDtype) or not pd.api.types.is_numeric_dtype(values):
            raise TypeError(f"the response {name!r} must be numeric for the {self.name} family, got dtype "
                            f"{values.dtype}")
        return np.asarray(values, dtype=float), None

    def make_link(self, link=None):
        link = get_link(self.canonical_link if link is None else link)
        if link.name not in self.links:
            raise ValueError(f"the {link.name} link is not available for the {self.name} family; "
                             f"choose one of {list(self.links)}")
        return link

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"

    def __eq__(self, other) -> bool:
        return type(self) is type(other) and vars(self) == vars(other)

    def __hash__(self) -> int:
        return hash((type(self), tuple(sorted(vars(self).items()))))


_BINARY_LINKS = ("logit", "probit", "cloglog", "log", "identity")
_TINY = 1e-10


class Bernoulli(Family):
    """Binary responses coded 0/1."""

    name = "Bernoulli"
    canonical_link = "logit"
    links = _BINARY_LINKS
    boundary_text = "fitted probabilities numerically 0 or 1"

    def variance(self, mu):
        return mu * (1.0 - mu)

    def clip_mu(self, mu):
        return np.clip(mu, _TINY, 1.0 - _TINY)

    def saturated(self, mu) -> int:
        return int(np.sum((mu < 1e-8) | (mu > 1 - 1e-8)))

    def dev_resid(self, y, mu, wt):
        # y is 0 or 1: the deviance is -2 log of the probability of the observed outcome
        return -2.0 * wt * np.log(np.where(y > 0.5, mu, 1.0 - mu))

    def loglik_obs(self, y, mu, wt):
        return wt * (special.xlogy(y, mu) + special.xlog1py(1.0 - y, -mu))

    def initial_mu(self, y, wt):
        return (y + 0.5) / 2.0

    def encode_response(self, values, name):
        return binary_response(values, name)

    def sample(self, mu, wt, rng):
        return (rng.random(len(mu)) < mu).astype(float)

    def check_response(self, y, wt):
        bad = ~np.isin(y, (0.0, 1.0))
        if bad.any():
            raise ValueError(f"a Bernoulli response must be 0 or 1 (or a two-level factor); "
                             f"{int(bad.sum())} value(s) are not, e.g. {np.unique(y[bad])[:5].tolist()}")


class Binomial(Bernoulli):
    """Proportions of successes out of ``weights`` trials."""

    name = "Binomial"

    def dev_resid(self, y, mu, wt):
        return 2.0 * wt * (special.xlogy(y, y / mu) + special.xlogy(1.0 - y, (1.0 - y) / (1.0 - mu)))

    def loglik_obs(self, y, mu, wt):
        k = np.rint(wt * y)
        lchoose = special.gammaln(wt + 1) - special.gammaln(k + 1) - special.gammaln(wt - k + 1)
        return lchoose + special.xlogy(k, mu) + special.xlog1py(wt - k, -mu)

    def initial_mu(self, y, wt):
        return (wt * y + 0.5) / (wt + 1.0)

    def encode_response(self, values, name):
        return Family.encode_response(self, values, name)

    def sample(self, mu, wt, rng):
        trials = np.rint(wt).astype(np.int64)
        return rng.binomial(trials, mu) / trials

    def check_response(self, y, wt):
        bad = (y < 0) | (y > 1)
        if bad.any():
            raise ValueError(f"a Binomial response must be a proportion in [0, 1] with the numbers of trials as "
                             f"weights; {int(bad.sum())} value(s) are outside, e.g. {np.unique(y[bad])[:5].tolist()}")
        k = wt * y
        if np.any(np.abs(k - np.rint(k)) > 1e-6 * np.maximum(1, k)):
            raise ValueError("a Binomial response times its weights (the numbers of trials) must be whole "
                             "numbers of successes")


class Poisson(Family):
    """Counts.

    Parameters
    ----------
    whole_numbers : bool, default=True
        Require whole-number responses. False accepts any non-negative response, as
        scikit-learn's ``PoissonRegressor``: the deviance, IRLS and PIRLS need ``y >= 0``
        only, and a non-integer response gives the quasi-likelihood fit (its
        log-likelihood is then not a probability).
    """

    name = "Poisson"
    canonical_link = "log"
    links = ("log", "identity", "sqrt")

    def __init__(self, whole_numbers: bool = True):
        self.whole_numbers = bool(whole_numbers)

    def variance(self, mu):
        return mu

    def clip_mu(self, mu):
        return np.maximum(mu, _TINY)

    boundary_text = "fitted means numerically 0"

    #: the IRLS weights of a Poisson model are its means: beyond this the working factor
    #: (weights against the identity of the random effects) loses θ (it drifts from 1e9 on)
    largest_count = 1e8

    def check_scale(self, y, wt, name: str) -> None:
        top = float(np.max(y * wt, initial=0.0))
        if top > self.largest_count:
            raise ValueError(f"the response {name!r} has counts as large as {top:.3g}: a Poisson GLMM's working "
                             f"weights are its means, and beyond {self.largest_count:.0e} they swamp the random "
                             "effects in double precision; rescale the response (counts this large are close to "
                             "normal: a linear mixed model of log counts, say)")

    def saturated(self, mu) -> int:
        # a mean below 1e-8 needs a linear predictor below -18: a fixed effect separating the
        # zeros drives it to -inf (lme4's colonizer data: β of -23 in lme4, unbounded here)
        return int(np.sum(mu < 1e-8))

    def dev_resid(self, y, mu, wt):
        return 2.0 * wt * (special.xlogy(y, y / mu) - (y - mu))

    def loglik_obs(self, y, mu, wt):
        return wt * (special.xlogy(y, mu) - mu - special.gammaln(y + 1.0))

    def initial_mu(self, y, wt):
        return y + 0.1

    def sample(self, mu, wt, rng):
        return rng.poisson(mu).astype(float)

    def check_response(self, y, wt):
        if not self.whole_numbers:
            if np.any(y < 0):
                raise ValueError("Some value(s) of y are negative which is not allowed for the Poisson family.")
            return
        bad = (y < 0) | (np.abs(y - np.rint(y)) > 0)
        if bad.any():
            raise ValueError(f"a Poisson response must be a non-negative whole number; {int(bad.sum())} value(s) "
                             f"are not, e.g. {np.unique(y[bad])[:5].tolist()}")


class _ShapeFamily(Family):
    """A family with one parameter besides the mean, held at ``value`` for a fit at fixed value.

    A GLMM estimates it by maximising the Laplace log-likelihood over it, each value a fit
    of the other parameters (:mod:`~sklmixed.models.family_parameter`), as lme4's ``glmer.nb``.
    """

    #: the name of the parameter estimated besides β and θ
    free_parameter = ""
    #: parameters counted in ``dof`` besides a dispersion (``has_dispersion``)
    extra_parameters = 0

    def __init__(self, value: float = 1.0):
        value = float(value)
        if not (np.isfinite(value) and value > 0):
            raise ValueError(f"the {self.free_parameter} of the {self.name} family must be positive, got {value!r}")
        self.value = value
        self.held = False  # True while a fit holds the parameter at ``value``

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.free_parameter}={self.value:.6g})"


class _PositiveResponse(_ShapeFamily):
    has_dispersion = True
    free_parameter = "dispersion"
    links = ("inverse", "log", "identity")

    def dispersion(self, y, mu, wt, dof):
        return self.value

    def initial_mu(self, y, wt):
        return np.asarray(y, dtype=float)

    def clip_mu(self, mu):
        return np.maximum(mu, _TINY)

    def check_response(self, y, wt):
        bad = ~(y > 0)
        if bad.any():
            raise ValueError(f"a {self.name} response must be positive; {int(bad.sum())} value(s) are not, e.g. "
                             f"{np.unique(y[bad])[:5].tolist()}")


class Gamma(_PositiveResponse):
    r"""Positive responses with variance :math:`\phi\mu^2` (shape :math:`w/\phi`); ``dispersion`` is φ."""

    name = "Gamma"
    canonical_link = "inverse"

    def variance(self, mu):
        return self.value * mu * mu

    def dev_resid(self, y, mu, wt):
        return 2.0 * wt / self.value * (-np.log(y / mu) + (y - mu) / mu)

    def loglik_obs(self, y, mu, wt):
        k = wt / self.value
        return k * np.log(k * y / mu) - k * y / mu - np.log(y) - special.gammaln(k)

    def sample(self, mu, wt, rng):
        k = wt / self.value
        return rng.gamma(k, mu / k)


class InverseGaussian(_PositiveResponse):
    r"""Positive responses with variance :math:`\phi\mu^3`; ``dispersion`` is φ."""

    name = "InverseGaussian"
    canonical_link = "inverse_squared"
    links = ("inverse_squared", "inverse", "log", "identity")

    def variance(self, mu):
        return self.value * mu ** 3

    def dev_resid(self, y, mu, wt):
        return wt / self.value * (y - mu) ** 2 / (y * mu * mu)

    def loglik_obs(self, y, mu, wt):
        return -0.5 * np.log(2 * np.pi * self.value * y ** 3 / wt) - self.dev_resid(y, mu, wt) / 2

    def sample(self, mu, wt, rng):
        return rng.wald(mu, wt / self.value)


class NegativeBinomial(_ShapeFamily):
    r"""Counts with variance :math:`\mu + \mu^2/\theta` (lme4's ``glmer.nb``, glmmTMB's ``nbinom2``)."""

    name = "NegativeBinomial"
    canonical_link = "log"
    links = ("log", "identity", "sqrt")
    free_parameter = "theta"
    extra_parameters = 1
    boundary_text = "fitted means numerically 0"

    def variance(self, mu):
        return mu + mu * mu / self.value

    def clip_mu(self, mu):
        return np.maximum(mu, _TINY)

    def saturated(self, mu) -> int:
        return int(np.sum(mu < 1e-8))

    def dev_resid(self, y, mu, wt):
        t = self.value
        return 2.0 * wt * (special.xlogy(y, y / mu) - (y + t) * np.log((y + t) / (mu + t)))

    def loglik_obs(self, y, mu, wt):
        t = self.value
        return wt * (special.gammaln(y + t) - special.gammaln(t) - special.gammaln(y + 1.0)
                     + t * np.log(t / (t + mu)) + special.xlogy(y, mu / (t + mu)))

    def initial_mu(self, y, wt):
        return y + 0.1

    def check_response(self, y, wt):
        Poisson.check_response(Poisson(), y, wt)

    def sample(self, mu, wt, rng):
        t = self.value
        return rng.negative_binomial(t, t / (t + mu)).astype(float)


FAMILIES = {"bernoulli": Bernoulli, "binomial": Binomial, "poisson": Poisson, "gamma": Gamma,
            "inverse_gaussian": InverseGaussian, "negative_binomial": NegativeBinomial}


def get_family(family) -> Family:
    """A :class:`Family` from a name (``"bernoulli"``, ``"binomial"``, ``"poisson"``) or an instance."""
    if isinstance(family, Family):
        return family
    if isinstance(family, str) and family.lower() in FAMILIES:
        return FAMILIES[family.lower()]()
    raise ValueError(f"unknown family {family!r}; choose one of {sorted(FAMILIES)}")


def binary_response(values, name: str) -> tuple[np.ndarray, tuple | None]:
    """Code a binary response as 0/1: numbers, booleans, or a two-level factor (second level = 1)."""
    if pd.api.types.is_bool_dtype(values):
        return np.asarray(values, dtype=float), (False, True)
    if isinstance(values.dtype, pd.CategoricalDtype) or not pd.api.types.is_numeric_dtype(values):
        levels = (list(values.cat.categories[np.sort(pd.unique(values.cat.codes[values.cat.codes >= 0]))])
                  if isinstance(values.dtype, pd.CategoricalDtype) else sorted(pd.unique(values)))
        if len(levels) != 2:
            raise ValueError(f"a Bernoulli response needs exactly two levels; {name!r} has {len(levels)}: "
                             f"{levels[:10]}")
        return (np.asarray(values == levels[1], dtype=float)), tuple(levels)
    return np.asarray(values, dtype=float), None


def binomial_for_trials(formula, family: Family, weights=None) -> Family:
    """The family of a formula whose response may be lme4's ``cbind(successes, failures)``.

    Such a response is a proportion with its numbers of trials as weights: the binomial
    family (the default Bernoulli family becomes binomial). Any other family, or weights
    given besides, is an error.
    """
    if getattr(formula, "trials", None) is None:
        return family
    if weights is not None:
        raise ValueError("a cbind(successes, failures) response carries its numbers of trials; do not give weights "
                         "too")
    if type(family) is Bernoulli:
        return Binomial()
    if not isinstance(family, Binomial):
        raise ValueError(f"a cbind(successes, failures) response needs the binomial family, not {family.name}")
    return family

"""Link functions: small strategy objects mapping the mean μ to the linear predictor η."""

from __future__ import annotations

import numpy as np
from scipy import special, stats

__all__ = ["Link", "get_link", "LINKS"]

_EPS = np.finfo(float).eps


class Link:
    """A link ``η = g(μ)`` with inverse ``μ = g⁻¹(η)`` and derivative ``dμ/dη``."""

    name = "link"

    def link(self, mu):
        raise NotImplementedError

    def inverse(self, eta):
        raise NotImplementedError

    def mu_eta(self, eta):
        raise NotImplementedError

    def inverse_and_derivative(self, eta):
        """``(g⁻¹(η), dμ/dη)`` together (some links share the work)."""
        return self.inverse(eta), self.mu_eta(eta)

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"

    def __eq__(self, other) -> bool:
        return type(self) is type(other)

    def __hash__(self) -> int:
        return hash(type(self))


class LogitLink(Link):
    name = "logit"

    def link(self, mu):
        return special.logit(mu)

    def inverse(self, eta):
        return special.expit(eta)

    def mu_eta(self, eta):
        return np.maximum(special.expit(eta) * special.expit(-eta), _EPS)

    def inverse_and_derivative(self, eta):
        mu = special.expit(eta)
        return mu, np.maximum(mu * (1.0 - mu), _EPS)


class ProbitLink(Link):
    name = "probit"

    def link(self, mu):
        return stats.norm.ppf(mu)

    def inverse(self, eta):
        return special.ndtr(eta)

    def mu_eta(self, eta):
        return np.maximum(np.exp(-0.5 * eta * eta) / np.sqrt(2 * np.pi), _EPS)


class CloglogLink(Link):
    name = "cloglog"

    def link(self, mu):
        return np.log(-np.log1p(-mu))

    def inverse(self, eta):
        return -np.expm1(-np.exp(np.minimum(eta, 700.0)))

    def mu_eta(self, eta):
        eta = np.minimum(eta, 700.0)
        return np.maximum(np.exp(eta - np.exp(eta)), _EPS)


class LogLink(Link):
    name = "log"

    def link(self, mu):
        return np.log(mu)

    def inverse(self, eta):
        return np.exp(np.minimum(eta, 700.0))

    def mu_eta(self, eta):
        return np.maximum(np.exp(np.minimum(eta, 700.0)), _EPS)

    def inverse_and_derivative(self, eta):
        mu = np.exp(np.minimum(eta, 700.0))
        return mu, np.maximum(mu, _EPS)


class IdentityLink(Link):
    name = "identity"

    def link(self, mu):
        return np.asarray(mu, dtype=float)

    def inverse(self, eta):
        return np.asarray(eta, dtype=float)

    def mu_eta(self, eta):
        return np.ones_like(eta, dtype=float)


class SqrtLink(Link):
    name = "sqrt"

    def link(self, mu):
        return np.sqrt(mu)

    def inverse(self, eta):
        return eta * eta

    def mu_eta(self, eta):
        return 2.0 * eta


class InverseLink(Link):
    name = "inverse"

    def link(self, mu):
        return 1.0 / mu

    def inverse(self, eta):
        return 1.0 / eta

    def mu_eta(self, eta):
        return -1.0 / (eta * eta)


class InverseSquaredLink(Link):
    """``η = 1/μ²``, the canonical link of the inverse Gaussian family (R's ``"1/mu^2"``)."""

    name = "inverse_squared"

    def link(self, mu):
        return 1.0 / (mu * mu)

    def inverse(self, eta):
        return 1.0 / np.sqrt(eta)

    def mu_eta(self, eta):
        return -0.5 * eta ** -1.5


LINKS = {cls.name: cls for cls in (LogitLink, ProbitLink, CloglogLink, LogLink, IdentityLink, SqrtLink, InverseLink,
                                   InverseSquaredLink)}


def get_link(link) -> Link:
    """A :class:`Link` from a name (``"logit"``, ``"probit"``, ...) or an instance."""
    if isinstance(link, Link):
        return link
    if isinstance(link, str) and link in LINKS:
        return LINKS[link]()
    raise ValueError(f"unknown link {link!r}; choose one of {sorted(LINKS)}")

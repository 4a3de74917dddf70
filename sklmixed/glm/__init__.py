"""Generalized linear model parts: links, families, the IRLS fit that starts a GLMM, Gauss-Hermite rules."""

from .families import (
    FAMILIES,
    Bernoulli,
    Binomial,
    Family,
    Gamma,
    InverseGaussian,
    NegativeBinomial,
    Poisson,
    get_family,
)
from .gausshermite import gh_norm
from .irls import fit_glm, working_response_and_weights
from .links import LINKS, Link, get_link

__all__ = ["Family", "Bernoulli", "Binomial", "Poisson", "Gamma", "InverseGaussian", "NegativeBinomial",
           "get_family", "FAMILIES", "Link", "get_link", "LINKS", "fit_glm", "working_response_and_weights", "gh_norm"]

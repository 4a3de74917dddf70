"""The models: an abstract :class:`MixedModel`, its objectives, the linear model, PIRLS, the
GLMM searches and the generalized model, and likelihood-ratio tests between fitted models."""

from .generalized import GeneralizedLinearMixedModel
from .linear import LinearMixedModel
from .lrt import likelihood_ratio_test
from .mixedmodel import MixedModel

__all__ = ["MixedModel", "LinearMixedModel", "GeneralizedLinearMixedModel", "likelihood_ratio_test"]

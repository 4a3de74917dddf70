"""The models: an abstract :class:`MixedModel`, its objectives, the linear model, PIRLS, the
GLMM searches and the generalized model, likelihood-ratio tests between fitted models, and inference:
simulation, the parametric bootstrap, profiles, confidence intervals, prediction uncertainty, rePCA."""

from .blockdescription import BlockDescription
from .bootstrap import BootstrapResult, parametric_bootstrap, shortestcovint
from .generalized import GeneralizedLinearMixedModel
from .intervals import confint
from .linear import LinearMixedModel
from .lrt import likelihood_ratio_test
from .mixedmodel import MixedModel
from .pca import repca
from .prediction import predict_interval
from .profile import Profile

# profile() and simulate() are not re-exported here: they would hide the modules of the same name
# (import sklmixed.models.profile as m); sklmixed exports them
__all__ = ["MixedModel", "LinearMixedModel", "GeneralizedLinearMixedModel", "likelihood_ratio_test",
           "parametric_bootstrap", "BootstrapResult", "shortestcovint", "Profile", "confint",
           "predict_interval", "repca", "BlockDescription"]

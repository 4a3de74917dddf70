"""sklmixed: mixed-effects models for Python, after MixedModels.jl, with scikit-learn estimators."""

__version__ = "0.1.0.dev0"

from ._deprecated import install as _install_deprecated_modules
from .datasets import list_datasets, load_dataset
from .exceptions import ConvergenceWarning, RankDeficiencyWarning
from .models import (
    BlockDescription,
    GeneralizedLinearMixedModel,
    LinearMixedModel,
    confint,
    likelihood_ratio_test,
    parametric_bootstrap,
    predict_interval,
    repca,
)
from .models.profile import profile
from .models.simulate import simulate
from .optim import OptSummary

__all__ = [
    "LinearMixedModel",
    "GeneralizedLinearMixedModel",
    "OptSummary",
    "likelihood_ratio_test",
    "simulate",
    "parametric_bootstrap",
    "profile",
    "confint",
    "predict_interval",
    "repca",
    "BlockDescription",
    "ConvergenceWarning",
    "RankDeficiencyWarning",
    "load_dataset",
    "list_datasets",
]

from .estimators import GeneralizedMixedClassifier, GeneralizedMixedRegressor, LinearMixedRegressor  # noqa: E402

__all__ += ["LinearMixedRegressor", "GeneralizedMixedClassifier", "GeneralizedMixedRegressor"]

_install_deprecated_modules()

"""sklmixed: mixed-effects models for Python, after MixedModels.jl, with scikit-learn estimators."""

__version__ = "0.1.0.dev0"

from ._deprecated import install as _install_deprecated_modules
from .datasets import list_datasets, load_dataset
from .exceptions import ConvergenceWarning, RankDeficiencyWarning
from .models import GeneralizedLinearMixedModel, LinearMixedModel, likelihood_ratio_test
from .optim import OptSummary

__all__ = [
    "LinearMixedModel",
    "GeneralizedLinearMixedModel",
    "OptSummary",
    "likelihood_ratio_test",
    "ConvergenceWarning",
    "RankDeficiencyWarning",
    "load_dataset",
    "list_datasets",
]

from .estimators import GeneralizedMixedClassifier, GeneralizedMixedRegressor, LinearMixedRegressor  # noqa: E402

__all__ += ["LinearMixedRegressor", "GeneralizedMixedClassifier", "GeneralizedMixedRegressor"]

_install_deprecated_modules()

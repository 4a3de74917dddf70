"""sklmixed: mixed-effects models for Python, after MixedModels.jl, with scikit-learn estimators."""

__version__ = "0.1.0.dev0"

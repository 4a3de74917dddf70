"""Benchmarks of sklmixed against lme4, mixedlm and statsmodels (``python -m benchmarks``)."""

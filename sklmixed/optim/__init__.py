"""Optimising θ (or [β; θ]): the optimizer summary, the backend-independent driver, the NLopt
backend with its quirks, and the BLAS-thread policy of a fit."""

from .driver import backend, check_algorithm, optimize
from .optsummary import OptSummary, PIRLSSettings
from .threads import blas_limit, blas_threads

__all__ = ["OptSummary", "PIRLSSettings", "optimize", "check_algorithm", "backend", "blas_limit", "blas_threads"]

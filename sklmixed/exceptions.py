"""Warnings and errors raised by sklmixed."""

__all__ = ["ConvergenceWarning", "RankDeficiencyWarning", "SingularFitWarning", "PIRLSError", "SeparationWarning"]


class ConvergenceWarning(UserWarning):
    """The optimizer or PIRLS stopped before meeting its convergence criterion."""


class RankDeficiencyWarning(UserWarning):
    """The fixed-effects model matrix is rank deficient; some columns were dropped."""


class SingularFitWarning(UserWarning):
    """The fit is on the boundary of the parameter space (a singular covariance matrix)."""


class PIRLSError(FloatingPointError):
    """Penalised iteratively reweighted least squares could not reduce the deviance."""


class SeparationWarning(UserWarning):
    """Fitted probabilities of 0 or 1: the data may be (quasi-)separable by the fixed effects."""

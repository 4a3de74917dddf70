"""Warnings and errors raised by sklmixed."""

__all__ = ["ConvergenceWarning", "RankDeficiencyWarning", "SingularFitWarning"]


class ConvergenceWarning(UserWarning):
    """The optimizer or PIRLS stopped before meeting its convergence criterion."""


class RankDeficiencyWarning(UserWarning):
    """The fixed-effects model matrix is rank deficient; some columns were dropped."""


class SingularFitWarning(UserWarning):
    """The fit is on the boundary of the parameter space (a singular covariance matrix)."""

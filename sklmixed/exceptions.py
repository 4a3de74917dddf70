"""Every warning and error sklmixed raises of its own."""

import numpy as np

# The only scikit-learn import of the numerical core: sklmixed's ConvergenceWarning derives
# from scikit-learn's, so that filters users set for scikit-learn's warning (in searches,
# ``warnings.simplefilter("ignore", sklearn.exceptions.ConvergenceWarning)``) cover it too.
from sklearn.exceptions import ConvergenceWarning as _SklearnConvergenceWarning

__all__ = [
    "ConvergenceWarning",
    "NoRandomEffectsWarning",
    "PopulationPredictionWarning",
    "RankDeficiencyWarning",
    "SingularFitWarning",
    "SeparationWarning",
    "PIRLSError",
    "PosDefError",
    "NotFittedError",
    "UnsafeFormulaError",
]


class ConvergenceWarning(_SklearnConvergenceWarning):
    """The optimizer or PIRLS stopped before meeting its convergence criterion.

    A subclass of :class:`sklearn.exceptions.ConvergenceWarning` (itself a ``UserWarning``).
    """


class NoRandomEffectsWarning(UserWarning):
    """An estimator was fit without grouping factors, so without random effects.

    The usual cause is a scikit-learn tool that passed ``groups`` to its splitter only
    (metadata routing off); ``group_columns=[]`` asks for a fit without random effects.
    """


class PopulationPredictionWarning(UserWarning):
    """A model with random effects predicted at the population level without being asked to.

    Predict got no grouping factors, or most of its labels were not seen in fitting; the
    estimators' ``new_levels="population"`` asks for such predictions.
    """


class RankDeficiencyWarning(UserWarning):
    """The fixed-effects model matrix is rank deficient; some columns were dropped."""


class SingularFitWarning(UserWarning):
    """The fit is on the boundary of the parameter space (a singular covariance matrix)."""


class SeparationWarning(UserWarning):
    """Fitted probabilities of 0 or 1: the data may be (quasi-)separable by the fixed effects."""


class PIRLSError(FloatingPointError):
    """Penalised iteratively reweighted least squares could not reduce the deviance."""


class PosDefError(np.linalg.LinAlgError):
    """A diagonal block of the Cholesky factor ``L`` is not positive definite.

    ``minor`` is the order of the first leading minor of a dense block found not positive
    definite (LAPACK's ``info``; the columns before it are factored), else None.
    """

    def __init__(self, message="", minor=None):
        super().__init__(message)
        self.minor = minor


class NotFittedError(ValueError, AttributeError):
    """A result was asked of a model that has not been fit."""


class UnsafeFormulaError(ValueError):
    """A formula is not strict (see :func:`sklmixed.formula.validate_formula`): it has code a
    service taking formulas from its users must not run."""

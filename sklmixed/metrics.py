"""Scorers for the estimators: group-aware versions of scikit-learn's, and the fit's objective.

scikit-learn's scorers call ``predict(X)`` alone, so a mixed model they score predicts at
the population level even when metadata routing delivers ``groups`` everywhere else.
:func:`get_scorer` and :func:`make_scorer` build the same scorers, requesting ``groups``
and passing them to ``predict``, ``predict_proba`` or ``decision_function``;
:func:`objective_scorer` (``get_scorer("neg_objective")``) compares optimizer settings.
They are written in :mod:`sklmixed.estimators._scoring`.
"""

from .estimators._scoring import GroupScorer, get_scorer, make_scorer, objective_scorer

__all__ = ["get_scorer", "make_scorer", "objective_scorer", "GroupScorer"]

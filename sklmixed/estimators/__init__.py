"""scikit-learn estimators for mixed-effects models.

:class:`LinearMixedRegressor`, :class:`GeneralizedMixedClassifier` and
:class:`GeneralizedMixedRegressor` wrap :class:`~sklmixed.LinearMixedModel` and
:class:`~sklmixed.GeneralizedLinearMixedModel` behind the usual ``fit``/``predict``/
``score`` interface: fixed effects in ``X``, grouping factors in the ``group_columns`` of
``X`` (or in the ``groups`` metadata). :mod:`sklmixed.metrics` holds scorers that pass
``groups`` on to ``predict``.
"""

from ._classifier import GeneralizedMixedClassifier
from ._generalized import GeneralizedMixedRegressor
from ._linear import LinearMixedRegressor

__all__ = ["GeneralizedMixedClassifier", "GeneralizedMixedRegressor", "LinearMixedRegressor"]

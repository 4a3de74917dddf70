"""scikit-learn estimators for mixed-effects models.

:class:`LinearMixedRegressor`, :class:`GeneralizedMixedClassifier` and
:class:`GeneralizedMixedRegressor` wrap :class:`~sklmixed.LinearMixedModel` and
:class:`~sklmixed.GeneralizedLinearMixedModel` behind the usual ``fit``/``predict``/
``score`` interface: fixed effects in ``X``, grouping factors in the ``groups`` metadata
(or in the ``group_columns`` of ``X``).
"""

from ._classifier import GeneralizedMixedClassifier
from ._generalized import GeneralizedMixedRegressor
from ._linear import LinearMixedRegressor

__all__ = ["GeneralizedMixedClassifier", "GeneralizedMixedRegressor", "LinearMixedRegressor"]

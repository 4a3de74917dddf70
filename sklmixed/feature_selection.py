"""Feature selection for the mixed-model estimators: one importance per column of X, grouping columns kept.

:class:`SelectFromMixedModel` is scikit-learn's
:class:`~sklearn.feature_selection.SelectFromModel` reading the fixed effects of a sklmixed
estimator as one importance per fixed-effects column of X (a categorical column's levels
together), applying the threshold and ``max_features`` to those alone, and keeping the
grouping columns for the next step of a Pipeline. It is written in
:mod:`sklmixed.estimators._selection`.
"""

from .estimators._selection import SelectFromMixedModel

__all__ = ["SelectFromMixedModel"]

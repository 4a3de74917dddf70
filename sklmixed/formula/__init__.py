"""From an lme4-style formula and a DataFrame to the columns of a mixed model.

:mod:`~sklmixed.formula.parse` splits the formula into response, fixed part and bar terms;
:mod:`~sklmixed.formula.frame` checks the data once (the columns used, missing values, weights,
offset); :mod:`~sklmixed.formula.design` builds model matrices and encodes new data as at fit time.
"""

from .parse import BarTerm, MixedFormula, parse_formula, plain_terms

__all__ = ["BarTerm", "MixedFormula", "parse_formula", "plain_terms"]

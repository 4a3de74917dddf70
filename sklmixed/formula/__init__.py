"""From an lme4-style formula and a DataFrame to the columns of a mixed model.

:mod:`~sklmixed.formula.parse` splits the formula into response, fixed part and bar terms;
:mod:`~sklmixed.formula.frame` checks the data once (the columns used, missing values, weights,
offset); :mod:`~sklmixed.formula.design` builds model matrices and encodes new data as at fit time.
A formula is Python code to formulaic; :func:`validate_formula` (:mod:`~sklmixed.formula.strict`)
accepts only strict formulas, for services that take formulas from their users.
"""

from .parse import BarTerm, MixedFormula, parse_formula, plain_terms
from .strict import SAFE_TRANSFORMS, validate_formula

__all__ = ["BarTerm", "MixedFormula", "parse_formula", "plain_terms", "validate_formula", "SAFE_TRANSFORMS"]

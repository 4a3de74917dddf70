"""When ``coef_`` lines up with the columns of X, and why it does not.

scikit-learn's tools (``SelectFromModel``, ``RFE``, ``importance_getter="auto"``) read
``coef_[j]`` as the coefficient of column ``j`` of X. The estimators' coefficients are
those of the fixed-effects design, the intercept left out: one per numeric column, one
per non-reference level of a categorical column, none for a grouping column. They line
up with X when every fixed-effects column of X has exactly one coefficient (a numeric
column, or a categorical column whose coding is one indicator) and the fixed-effects
columns come first, the grouping columns after them. Otherwise ``coef_`` is not offered:
reading it raises an ``AttributeError`` that says why (so ``hasattr`` is False and those
tools stop instead of misreading it), and the coefficients stay available by name in
``fixed_effects_``.
"""

from __future__ import annotations

__all__ = []


def coef_misalignment(layout) -> str | None:
    """Why ``coef_`` would not give the coefficient of X's column ``j`` as its entry ``j`` (None: it would).

    ``layout`` is the fit's :class:`~sklmixed.estimators._layout.Layout`: its fixed design
    says which X column each coefficient comes from.
    """
    fixed = [c for c in layout.fixed.columns if c.pos >= 0]  # the intercept is intercept_
    names = [n for c, n in zip(layout.fixed.columns, layout.fixed.names) if c.pos >= 0]
    reasons, fixes = [], []
    for j in layout.feature_pos:
        if j not in layout.categories:
            continue
        own = [n for c, n in zip(fixed, names) if c.pos == j]
        if len(own) != 1:
            coded = f"coded as {len(own)} coefficients ({', '.join(own)})" if own else "coded as no coefficient"
            reasons.append(f"X column {layout.names[j]!r} is categorical, {coded}")
    if reasons:
        fixes.append("one-hot encode the categorical columns upstream")
    early = [j for j in layout.group_pos if j < len(layout.feature_pos)]
    if early:
        where = ", ".join(f"{layout.names[j]!r} (column {j})" for j in early)
        reasons.append(f"grouping column(s) {where} come before fixed-effects columns")
        fixes.append("put the grouping columns last")
    if not reasons:
        return None
    return ("coef_ is not available: it would not have one entry per column of X, which is how scikit-learn's "
            f"tools (SelectFromModel, RFE) read it: {'; '.join(reasons)}. Use fixed_effects_ for the coefficients "
            "by name (coef_names_), sklmixed.feature_selection.SelectFromMixedModel to select columns of X, "
            f"or {' and '.join(fixes)} to have coef_ line up with X")

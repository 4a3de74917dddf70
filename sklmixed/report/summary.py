"""Text summaries of fitted models, laid out like MixedModels.jl's."""

from __future__ import annotations

import math

import numpy as np

__all__ = ["summary", "format_pvalue", "variance_table", "coef_table_text", "stats_row"]


def format_pvalue(p: float) -> str:
    """``0.0012``, ``<1e-04``, ``<1e-99`` as StatsBase shows p-values."""
    if not np.isfinite(p):
        return "NaN"
    if p >= 1e-4:
        return f"{p:.4f}"
    e = max(-99, math.ceil(math.log10(p)) if p > 0 else -99)
    return f"<1e{e:03d}"


def _g(x: float, digits: int = 6) -> str:
    if not np.isfinite(x):
        return "NaN" if np.isnan(x) else ("Inf" if x > 0 else "-Inf")
    return f"{x:.{digits}g}"


def stats_row(names, values) -> str:
    head = "".join(f"{n:>11}" for n in names)
    vals = "".join(f"{v:>11.4f}" for v in values)
    return head + "\n" + vals


def variance_table(m) -> str:
    """The variance-components table: variances, std. devs and correlations."""
    vc = m.var_components()
    corr_cols = [c for c in vc.columns if c.startswith("corr_")]
    gw = max(8, *(len(str(g)) for g in vc["group"])) + 1
    cw = max(8, *(len(str(c)) for c in vc["column"])) + 1
    lines = [f"{'':<{gw}}{'Column':<{cw}}{'Variance':>12}{'Std.Dev.':>11}" + ("   Corr." if corr_cols else "")]
    last = None
    for _, row in vc.iterrows():
        group = "" if row["group"] == last else row["group"]
        last = row["group"]
        line = f"{group:<{gw}}{row['column']:<{cw}}{_g(row['variance'], 7):>12}{_g(row['std_dev'], 6):>11}"
        cors = [row[c] for c in corr_cols if not np.isnan(row[c])] if corr_cols else []
        for c in cors:
            line += f"  {'.' if c == 0 else f'{c:+.2f}':>5}"
        lines.append(line.rstrip())
    return "\n".join(lines)


def coef_table_text(m) -> str:
    """The fixed-effects table with a rule above and below, as StatsBase's CoefTable."""
    tab = m.coef_table()
    if len(tab) == 0:
        return "  (none)"
    names = [str(n) for n in tab.index]
    nw = max(len(n) for n in names) + 1
    cells = [
        (f"{_g(r.coef)}", f"{_g(r.std_error)}", f"{r.z:.2f}" if np.isfinite(r.z) else "NaN", format_pvalue(r.p))
        for r in tab.itertuples()
    ]
    heads = ("Coef.", "Std. Error", "z", "Pr(>|z|)")
    widths = [max(len(h), *(len(c[i]) for c in cells)) + 2 for i, h in enumerate(heads)]
    head = f"{'':<{nw}}" + "".join(f"{h:>{w}}" for h, w in zip(heads, widths))
    rule = "─" * len(head)
    body = [f"{n:<{nw}}" + "".join(f"{c:>{w}}" for c, w in zip(cell, widths)) for n, cell in zip(names, cells)]
    return "\n".join([rule, head, rule, *body, rule])


def _levels_line(m) -> str:
    levels = ", ".join(str(r.nlev) for r in m.reterms)
    return f" Number of obs: {m.nobs}; levels of grouping factors: {levels}"


def summary(m) -> str:
    """The summary ``print(model)`` shows: the model's own header, then the tables every model has."""
    if not m._fitted:
        return f"{type(m).__name__} (not fit)\n  {m.formula.text}\n"
    out = list(m.summary_header())
    out.append("")
    out.append("Variance components:")
    out.append(variance_table(m))
    out.append(_levels_line(m))
    out.append("")
    out.append("  Fixed-effects parameters:")
    out.append(coef_table_text(m))
    if m.issingular():
        out.append("The fit is singular: some variance components are estimated as exactly zero.")
    return "\n".join(out) + "\n"

"""Parsing of lme4-style mixed-model formulas.

The fixed-effects part is handed to formulaic; the random-effects ("bar") terms
``(lhs | g)`` and ``(lhs || g)`` are split out first, as lme4 does, because
formulaic gives ``|`` a different meaning.
"""

from __future__ import annotations

import functools
import keyword
import re
from dataclasses import dataclass

__all__ = ["BarTerm", "MixedFormula", "parse_formula", "plain_terms"]


#: more random-effects terms than this are refused at once (thousands would take minutes to fail)
MAX_BAR_TERMS = 200


@dataclass(frozen=True)
class BarTerm:
    """One random-effects term ``(lhs | factors)`` of a formula.

    Attributes
    ----------
    lhs : str
        The left-hand side as a formulaic formula (``"1 + days"``); an intercept is
        implicit unless the term says ``0`` or ``-1``.
    factors : tuple of str
        The variables whose level combinations form the grouping factor
        (one for ``g``, two for ``g1:g2``).
    correlated : bool
        False for ``||`` terms: one term per column of ``lhs``, no correlations.
    """

    lhs: str
    factors: tuple[str, ...]
    correlated: bool = True

    @property
    def group_name(self) -> str:
        return ":".join(self.factors)

    def __str__(self) -> str:
        bar = "|" if self.correlated else "||"
        return f"({self.lhs} {bar} {self.group_name})"


@dataclass(frozen=True)
class MixedFormula:
    """A mixed-model formula split into response, fixed part and bar terms."""

    text: str
    response: str
    fixed: str
    bars: tuple[BarTerm, ...]
    #: ``offset(expr)`` terms of the fixed part (lme4's spelling), evaluated on the data by the model
    offsets: tuple[str, ...] = ()
    #: the number of trials of a ``cbind(successes, failures)`` response (the response is then the proportion)
    trials: str | None = None

    @property
    def fixed_formula(self) -> str:
        return f"{self.response} ~ {self.fixed}"


def _split_top(text: str, sep: str) -> list[str]:
    """Split ``text`` at occurrences of ``sep`` that are not inside parentheses."""
    parts, depth, start, i, quoted = [], 0, 0, 0, False
    while i < len(text):
        ch = text[i]
        if ch == "`":
            quoted = not quoted
        elif quoted:
            pass
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
            if depth < 0:
                raise ValueError(f"unbalanced parentheses in formula {text!r}")
        elif depth == 0 and text.startswith(sep, i):
            parts.append(text[start:i])
            i += len(sep)
            start = i
            continue
        i += 1
    if depth != 0:
        raise ValueError(f"unbalanced parentheses in formula {text!r}")
    parts.append(text[start:])
    return parts


def _additive_terms(rhs: str) -> list[tuple[str, str]]:
    """Split a right-hand side into (sign, term) pairs at top-level ``+``/``-``."""
    terms, depth, start, sign, quoted = [], 0, 0, "+", False
    for i, ch in enumerate(rhs):
        if ch == "`":
            quoted = not quoted
        elif quoted:
            continue
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif depth == 0 and ch in "+-":
            # a sign directly after an operator or "(" is unary, e.g. "x ** -1"
            before = rhs[start:i].strip()
            if before == "" and i == start:
                sign = ch
                start = i + 1
                continue
            if before and before[-1] in "*/:^(,":
                continue
            terms.append((sign, rhs[start:i].strip()))
            sign, start = ch, i + 1
    terms.append((sign, rhs[start:].strip()))
    return [(s, t) for s, t in terms if t]


def _parse_grouping(rhs: str, text: str) -> list[tuple[str, ...]]:
    """Expand a grouping expression into one factor tuple per term.

    ``a`` -> [(a,)]; ``a:b`` or ``a & b`` -> [(a, b)]; ``a/b`` -> [(a,), (a, b)];
    ``a + b`` -> [(a,), (b,)].
    """
    out: list[tuple[str, ...]] = []
    for sign, part in _additive_terms(rhs):
        if sign == "-":
            raise ValueError(f"cannot subtract a grouping factor in {text!r}")
        nested = [p.strip() for p in _split_outside_backquotes(part, "/")]
        prefix: tuple[str, ...] = ()
        for level in nested:
            names = tuple(_grouping_name(n.strip(), level, text) for n in _split_outside_backquotes(level, ":&"))
            prefix = prefix + names
            out.append(prefix)
    return out


def _split_outside_backquotes(text: str, seps: str) -> list[str]:
    """Split at any character of ``seps`` that is not inside a backquoted name."""
    parts, start, quoted = [], 0, False
    for i, ch in enumerate(text):
        if ch == "`":
            quoted = not quoted
        elif ch in seps and not quoted:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return parts


#: a grouping factor's name: a Python-style identifier (any script, dots allowed), or backquoted
_GROUP_NAME = re.compile(r"[^\W\d][\w.]*|\.[^\W\d][\w.]*|\.")


def _grouping_name(token: str, level: str, text: str) -> str:
    # a grouping variable is always a factor: lme4's (1 | factor(g)), read as C(g), is (1 | g)
    token = re.sub(r"^C\((.*)\)$", r"\1", token).strip()
    if len(token) > 2 and token[0] == token[-1] == "`" and "`" not in token[1:-1]:
        return token[1:-1]
    if token and _GROUP_NAME.fullmatch(token):
        return token
    raise ValueError(f"grouping factor {level!r} in {text!r} must be a column name (backquoted if it is not an "
                     "identifier: `my group`) or an interaction of column names (g1:g2), optionally nested (g1/g2)")


def _bar_terms(inner: str, text: str) -> list[BarTerm] | None:
    """The bar terms of a parenthesised group, or None when it holds no top-level bar."""
    for bar, correlated in (("||", False), ("|", True)):
        pieces = _split_top(inner, bar)
        if len(pieces) == 2 and not (correlated and "||" in inner):
            lhs, rhs = pieces[0].strip(), pieces[1].strip()
            if "~" in lhs or "~" in rhs:
                raise ValueError(f"'~' inside the random-effects term ({inner}) of {text!r}: a term is (lhs | g), "
                                 "with the response only before the formula's one '~'")
            if not lhs:
                raise ValueError(f"empty left-hand side in random-effects term ({inner}) of {text!r}")
            if not rhs:
                raise ValueError(f"empty grouping factor in random-effects term ({inner}) of {text!r}")
            groups = _parse_grouping(rhs, text)
            if correlated:
                return [BarTerm(lhs, g, True) for g in groups]
            return [BarTerm(col, g, False) for g in groups for col in _uncorrelated_lhs(lhs)]
        if len(pieces) > 2:
            raise ValueError(f"more than one {bar!r} in random-effects term ({inner}) of {text!r}")
    return None


def _uncorrelated_lhs(lhs: str) -> list[str]:
    """``1 + x + z`` -> ``["1", "0 + x", "0 + z"]``, as lme4 expands ``||``."""
    terms = _additive_terms(lhs)
    removed = {t for s, t in terms if s == "-"} | {t for s, t in terms if t == "0"}
    intercept = "1" not in removed and "0" not in removed
    cols = [t for s, t in terms if s == "+" and t not in ("0", "1")]
    out = ["1"] if intercept else []
    out += [f"0 + {c}" for c in cols]
    return out


def parse_formula(text: str, *, require_random: bool = True) -> MixedFormula:
    """Split a mixed-model formula into response, fixed part and random-effects terms.

    Parameters
    ----------
    text : str
        An lme4-style formula such as ``"reaction ~ 1 + days + (1 + days | subj)"``.
    require_random : bool, default=True
        Raise a ``ValueError`` when the formula has no random-effects term.

    Returns
    -------
    MixedFormula

    Examples
    --------
    >>> f = parse_formula("y ~ 1 + x + (1 + x | g) + (1 | a/b)")
    >>> f.fixed_formula
    'y ~ 1 + x'
    >>> [str(b) for b in f.bars]
    ['(1 + x | g)', '(1 | a)', '(1 | a:b)']
    """
    if not isinstance(text, str):
        raise TypeError(f"formula must be a string, got {type(text).__name__}")
    return _parse_formula(text, bool(require_random))


# A formula is parsed once per distinct text: models are often rebuilt from the same formula
# (refits, cross-validation), and the result is immutable; errors are not cached, so a bad
# formula raises the same message every time.
@functools.lru_cache(maxsize=512)
def _parse_formula(text: str, require_random: bool) -> MixedFormula:
    sides = _split_top(r_spellings(text), "~")
    if len(sides) != 2 or not sides[0].strip():
        raise ValueError(f"formula {text!r} must have the form 'response ~ terms'")
    response, rhs = sides[0].strip(), sides[1].strip()
    response, trials = binomial_response(response)
    fixed_terms: list[str] = []
    bars: list[BarTerm] = []
    offsets: list[str] = []
    for sign, term in _additive_terms(rhs):
        if re.fullmatch(r"offset\((.*)\)", term, flags=re.S):
            if sign == "-":
                raise ValueError(f"cannot subtract an offset in {text!r}; write offset(-(...)) instead")
            offsets.append(term[len("offset("):-1].strip())
            continue
        inner = term[1:-1] if term.startswith("(") and term.endswith(")") else None
        # "(a + b)" is a fixed-effects group; only a group whose own parentheses
        # enclose the whole term and hold a top-level bar is a random-effects term
        if inner is not None and _split_top(inner, "|")[0] != inner and _balanced(inner):
            if sign == "-":
                raise ValueError(f"cannot subtract a random-effects term in {text!r}")
            found = _bar_terms(inner, text)
            if found is not None:
                bars.extend(found)
                continue
        if "|" in term:
            raise ValueError(f"random-effects term {term!r} in {text!r} must be in parentheses: (lhs | g)")
        fixed_terms.append(("- " if sign == "-" else "+ ") + term)
    if len(bars) > MAX_BAR_TERMS:
        raise ValueError(f"formula has {len(bars)} random-effects terms (after expanding '/' and '||'); "
                         f"sklmixed accepts at most {MAX_BAR_TERMS}")
    if require_random and not bars:
        raise ValueError(
            f"formula {text!r} has no random-effects term such as (1 | g); "
            "fit models without random effects with an ordinary regression"
        )
    fixed = " ".join(fixed_terms).strip()
    if fixed.startswith("+ "):
        fixed = fixed[2:]
    if not fixed:
        fixed = "1"
    elif fixed.startswith("- "):
        fixed = "1 " + fixed
    return MixedFormula(text=text, response=response, fixed=fixed, bars=tuple(bars), offsets=tuple(offsets),
                        trials=trials)


_PLAIN_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@functools.lru_cache(maxsize=512)
def plain_terms(rhs: str) -> tuple[bool, tuple[str, ...]] | None:
    """The intercept flag and column names of a right-hand side made of plain names only.

    Recognises ``[1 +|0 +] a + b + ...``, where every term is a distinct Python identifier
    (not a keyword, not ``Intercept``), the form most fixed-effects parts and bar left-hand
    sides take. Such a side needs no formula machinery: its model matrix is the intercept
    column (unless ``0``) followed by the named columns in order, which is exactly what
    formulaic builds for numeric columns. Anything else (a transform, an interaction,
    ``-1``, a repeated or backquoted name, an intercept token after the first term) gives
    None and goes through formulaic.

    Parameters
    ----------
    rhs : str
        A right-hand side such as ``"1 + days"``.

    Returns
    -------
    tuple of (bool, tuple of str) or None
        ``(intercept, names)``, or None when ``rhs`` is not of this simple form.

    Examples
    --------
    >>> plain_terms("1 + days")
    (True, ('days',))
    >>> plain_terms("0 + x + z")
    (False, ('x', 'z'))
    >>> plain_terms("np.log(x)") is None
    True
    """
    tokens = [t.strip() for t in rhs.split("+")]
    intercept = True
    if tokens and tokens[0] in ("0", "1"):
        intercept = tokens.pop(0) == "1"
    for name in tokens:
        if not _PLAIN_NAME.fullmatch(name) or keyword.iskeyword(name) or name == "Intercept":
            return None
    if len(set(tokens)) != len(tokens):
        return None
    return intercept, tuple(tokens)


def _balanced(inner: str) -> bool:
    try:
        _split_top(inner, "\0")
    except ValueError:
        return False
    return True


def r_spellings(text: str) -> str:
    """An lme4 formula with R's spellings turned into what formulaic means by the same.

    * ``^`` inside a function call (``I(x^2)``, ``log(x^2)``) is a power in R and bitwise
      XOR in Python: it becomes ``**``. Outside calls, ``(a + b)^2`` keeps its formula
      meaning (all interactions up to order 2), which formulaic shares.
    * ``factor(x)`` and ``as.factor(x)`` become formulaic's ``C(x)``.

    Examples
    --------
    >>> r_spellings("y ~ days + I(days^2) + (a + b)^2 + factor(g)")
    'y ~ days + I(days**2) + (a + b)^2 + C(g)'
    """
    text = re.sub(r"(?<![A-Za-z0-9_.])(?:as\.)?factor\(", "C(", text)
    out, calls, last = [], [], ""
    for ch in text:
        if ch == "(":
            calls.append(last.isalnum() or last in ("_", "."))  # a call's parenthesis follows a name
        elif ch == ")" and calls:
            calls.pop()
        elif ch == "^" and any(calls):
            out.append("**")
            last = ch
            continue
        out.append(ch)
        if not ch.isspace():
            last = ch
    return "".join(out)


def binomial_response(response: str) -> tuple[str, str | None]:
    """lme4's ``cbind(successes, failures)`` response as a proportion and its number of trials.

    Any other response is returned unchanged, with no trials.

    Examples
    --------
    >>> binomial_response("cbind(incidence, size - incidence)")
    ('(incidence) / (size)', 'size')
    >>> binomial_response("cbind(s, f)")
    ('(s) / ((s) + (f))', '(s) + (f)')
    >>> binomial_response("y")
    ('y', None)
    """
    match = re.fullmatch(r"cbind\((.*)\)", response.strip(), flags=re.S)
    if match is None:
        return response, None
    parts = [p.strip() for p in _split_top(match.group(1), ",")]
    if len(parts) != 2 or not all(parts):
        raise ValueError(f"a binomial response is written cbind(successes, failures), got {response!r}")
    successes, failures = parts
    # cbind(k, n - k): the number of trials is n itself, not k + (n - k)
    diff = re.fullmatch(r"(.+?)\s*-\s*\(?\s*" + re.escape(successes) + r"\s*\)?", failures)
    trials = diff.group(1).strip() if diff else f"({successes}) + ({failures})"
    return f"({successes}) / ({trials})", trials

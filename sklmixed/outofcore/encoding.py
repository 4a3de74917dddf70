"""From a partition's model frame to arrays: the fixed-effects columns, the response, the weights, the levels.

The :class:`Encoder` is built on the client from the first pass (categories and levels) and
a model frame without rows, and shipped to the workers: formulaic learns every encoding from
the frame without rows (whose categorical columns carry the categories of all the data), so
that every partition gets the same columns, named as a model fit in memory names them.
Formulas that formulaic would fit to the data itself (``center(x)``, ``scale(x)``,
``poly(x, 2)``, splines: *stateful transforms*) would learn from one partition only and are
refused.
"""

from __future__ import annotations

import warnings
from typing import NamedTuple

import numpy as np

from ..formula.columns import plain_message
from ..formula.design import LazySpec, apply_contrasts, build_matrix, concrete_spec, plain_design, rename_intercept
from ..formula.frame import case_weights
from ..terms.remat import FormulaColumns

__all__ = ["Encoder", "Encoded"]


class Encoded(NamedTuple):
    """One partition as arrays."""

    X: np.ndarray  # (n, p): every fixed-effects column, collinear ones included
    y: np.ndarray  # (n,)
    weights: np.ndarray | None
    offset: np.ndarray | None
    codes: list  # per term (model order): the level of every row
    z: list  # per term: (S, n)


def _stateless(spec, what: str) -> None:
    state = getattr(concrete_spec(spec), "transform_state", None) if not isinstance(spec, LazySpec) else None
    if state:
        raise ValueError(f"the {what} uses {sorted(state)}, whose state (a mean, a scale, polynomial or spline "
                         "coefficients) formulaic learns from the data it encodes: out of core it would learn it "
                         "from each partition alone. Compute such a column before fitting (ddf.assign(...)) and "
                         "use it by name")


def _columns(rhs: str, spec, frame, what: str, context=None) -> np.ndarray:
    """The model matrix of ``rhs`` for a frame, by NumPy for plain numeric columns, else by the spec.

    The frame's categorical columns carry every category, so no level can be unseen: the
    spec is applied directly (:func:`~sklmixed.formula.design.encode_new` would also turn
    formulaic's warnings into errors, by a ``warnings.catch_warnings`` that is not safe in
    the threads of a worker).
    """
    if isinstance(spec, LazySpec):
        plain = plain_design(rhs, frame)
        if plain is not None:
            return plain[0]
    try:
        mm = concrete_spec(spec).get_model_matrix(frame, na_action="raise", **({"context": context} if context else {}))
    except Exception as err:  # formulaic raises many types; say which part of the model failed
        raise ValueError(f"cannot build {what}: {plain_message(err)}") from None
    return np.asarray(mm, dtype=float)


class _Term(NamedTuple):
    grouping: object  # GroupingFactor
    lhs: list  # FormulaColumns, one per bar term of the factor
    specs: list  # their build_matrix specs (None: intercept only)

    @property
    def S(self) -> int:
        return sum(len(t.names) for t in self.lhs)


class Encoder:
    """Encodes model frames (see the module docstring).

    Parameters
    ----------
    formula : MixedFormula
    proto : pandas.DataFrame
        A model frame without rows, its categorical columns carrying every category.
    groupings : dict
        Grouping factor (tuple of columns) -> :class:`~sklmixed.terms.grouping.GroupingFactor`.
    response : callable
        ``response(frame) -> y``: the response as floats.
    contrasts : dict, optional
    weights : str or callable, optional
        The column of case weights, or ``weights(frame) -> ndarray or None``.
    offset : callable, optional
        ``offset(frame) -> ndarray`` (generalized models).
    """

    def __init__(self, formula, proto, groupings, response, *, contrasts=None, weights=None, offset=None):
        self.formula, self.response, self.weights, self.offset = formula, response, weights, offset
        self.rhs, self.context = apply_contrasts(formula.fixed, contrasts, proto)
        self.what = f"the fixed-effects matrix for {self.rhs!r}"
        with warnings.catch_warnings():  # a stateful transform of no rows ("mean of empty slice") is refused below
            warnings.simplefilter("ignore", RuntimeWarning)
            self._specs(formula, proto, groupings)

    def _specs(self, formula, proto, groupings) -> None:
        _, names, self.spec = build_matrix(self.rhs, proto, self.what, self.context)
        _stateless(self.spec, "fixed-effects part")
        self.names = rename_intercept(names)
        members: dict = {}
        for bar in formula.bars:
            members.setdefault(tuple(bar.factors), []).append(bar)
        terms = []
        for factors, bars in members.items():
            lhs = [FormulaColumns(b.lhs, proto) for b in bars]
            specs = [None if t.intercept_only else build_matrix(t.lhs, proto, f"term ({t.lhs} | ...)")[2] for t in lhs]
            for t, spec in zip(lhs, specs):
                if spec is not None:
                    _stateless(spec, f"random-effects term ({t.lhs} | {':'.join(factors)})")
            terms.append(_Term(groupings[factors], lhs, specs))
        # largest first, ties in formula order (as build_remats sorts them)
        self.terms = sorted(terms, key=lambda t: -t.S * len(t.grouping.levels))

    def X(self, frame) -> np.ndarray:
        return _columns(self.rhs, self.spec, frame, self.what, self.context)

    def z(self, frame) -> list:
        """Per term, its columns for the rows of ``frame``, ``(S, n)``."""
        out = []
        for term in self.terms:
            blocks = [np.ones((1, len(frame))) if spec is None else
                      _columns(t.lhs, spec, frame, f"the columns of random-effects term ({t.lhs} | ...)").T
                      for t, spec in zip(term.lhs, term.specs)]
            out.append(blocks[0] if len(blocks) == 1 else np.vstack(blocks))
        return out

    def codes(self, frame) -> list:
        return [term.grouping.codes(frame) for term in self.terms]

    def __call__(self, frame) -> Encoded:
        n = len(frame)
        if callable(self.weights):
            weights = self.weights(frame)
        else:
            weights = case_weights(self.weights, frame, n) if self.weights is not None else None
        offset = self.offset(frame) if self.offset is not None else None
        return Encoded(self.X(frame), self.response(frame), weights, offset, self.codes(frame), self.z(frame))

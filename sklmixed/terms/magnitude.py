r"""Columns on a scale double precision cannot carry through the method.

The cross-products :math:`X^\top W X` and :math:`Z^\top W Z` square every value: a column
with entries beyond about :math:`10^{154}` overflows, and one whose entries are all below
about :math:`10^{-154}` underflows to zero, which a rank check then reads as a column to drop
(and a random slope as a column of zeros). Such columns are refused with their name and
the advice to rescale them, before anything is computed from them. The bounds leave room
for the sums over observations.

Examples
--------
>>> import numpy as np
>>> check_magnitudes(np.array([[1.0, 2e200], [1.0, 3e200]]), ["(Intercept)", "x"], "fixed-effects")
Traceback (most recent call last):
    ...
ValueError: the fixed-effects column 'x' has values as large as 3e+200 in magnitude: rescale it ...
"""

from __future__ import annotations

import numpy as np

__all__ = ["check_magnitudes", "LARGEST", "SMALLEST"]

#: largest magnitude accepted in a model column: its square, summed over many rows, stays finite
LARGEST = 1e150
#: a column whose largest magnitude is below this (and not 0) squares to nothing
SMALLEST = 1e-150


def check_magnitudes(columns, names, what: str, where: str = "") -> None:
    """Raise a ``ValueError`` naming the first column of ``columns`` (n × k) out of scale.

    Parameters
    ----------
    columns : ndarray of shape (n, k)
        Finite values.
    names : list of str
        The columns' names.
    what : str
        What the columns are, for the message ("fixed-effects", say).
    where : str, default=""
        Appended to the column's name in the message (its grouping factor, say).
    """
    columns = np.asarray(columns, dtype=float)
    if columns.size == 0:
        return
    largest = np.max(np.abs(columns), axis=0)
    for j, amax in enumerate(largest):
        if amax > LARGEST:
            size = f"values as large as {amax:.3g} in magnitude"
        elif 0 < amax < SMALLEST:
            size = f"no value larger than {amax:.3g} in magnitude"
        else:
            continue
        raise ValueError(f"the {what} column {names[j]!r}{where} has {size}: rescale it (multiply it by a power "
                         "of ten) so that its values lie well within 1e-150 .. 1e150; their squares and "
                         "cross-products would over- or underflow double precision")

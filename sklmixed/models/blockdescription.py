"""MixedModels' ``BlockDescription``: the storage of every block of ``A`` and ``L`` as a table.

Examples
--------
>>> from sklmixed import LinearMixedModel, load_dataset
>>> m = LinearMixedModel("diameter ~ 1 + (1|plate) + (1|sample)", load_dataset("penicillin"))
>>> d = BlockDescription(m)
>>> d.table.loc["sample"].tolist()
['Dense', 'Diagonal/Dense', '']
>>> d.sizes.tolist()
[24, 6, 2]
"""

from __future__ import annotations

import pandas as pd

from ..linalg.blocks import block_kind

__all__ = ["BlockDescription"]


class BlockDescription:
    """The block types of a model's ``A`` (and ``L`` where it differs, as ``A/L``).

    Attributes
    ----------
    table : pandas.DataFrame
        Rows and columns named by grouping factor (and ``fixed``); the lower triangle holds
        the block types, the upper is blank.
    sizes : pandas.Series
        The number of rows of every block.
    """

    def __init__(self, model):
        f = model._factor
        names = [r.name for r in f.remats] + ["fixed"]
        kinds = f.layout.a_kinds
        cells = [["" for _ in names] for _ in names]
        for i in range(f.k + 1):
            for j in range(i + 1):
                l_kind = block_kind(f.L[i][j])
                a_kind = kinds.get((i, j), l_kind)
                cells[i][j] = a_kind if a_kind == l_kind else f"{a_kind}/{l_kind}"
        self.table = pd.DataFrame(cells, index=names, columns=names)
        self.sizes = pd.Series(f.sizes, index=names, name="rows")
        self._text = f.block_description()

    def __str__(self) -> str:
        return self._text

    def __repr__(self) -> str:
        return self._text

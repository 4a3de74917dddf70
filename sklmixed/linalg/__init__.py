"""The blocked Cholesky factor of a mixed model and everything it is made of.

Read in this order: :mod:`~sklmixed.linalg.blocks` (storage types), :mod:`~sklmixed.linalg.symbolic`
(which block gets which storage), :mod:`~sklmixed.linalg.assemble` (filling ``A``),
:mod:`~sklmixed.linalg.kernels`, :mod:`~sklmixed.linalg.schur` and :mod:`~sklmixed.linalg.dense`
(the operations), :mod:`~sklmixed.linalg.tail` (the dense trailing blocks as one array),
:mod:`~sklmixed.linalg.update` (``update_L`` compiled into a program) and
:mod:`~sklmixed.linalg.factor` (:class:`BlockedCholesky`, which owns ``A``, ``L`` and the program).
"""

from .blocks import BlockedSparse, UniformBlockDiagonal
from .factor import BlockedCholesky
from .symbolic import Layout, Thresholds, use_thresholds

__all__ = ["BlockedCholesky", "UniformBlockDiagonal", "BlockedSparse", "Layout", "Thresholds", "use_thresholds"]

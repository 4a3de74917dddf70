"""The terms of a mixed model: grouping factors, random-effects terms (:class:`ReMat`, where θ
becomes λ) and the fixed-effects term (:class:`FeTerm`)."""

from .dependence import check_independent
from .feterm import FeTerm, full_rank_columns
from .grouping import GroupingFactor
from .remat import ArrayColumns, FormulaColumns, ReMat, build_remats

__all__ = ["FeTerm", "full_rank_columns", "check_independent", "GroupingFactor", "ReMat", "ArrayColumns",
           "FormulaColumns", "build_remats"]

"""Plots of fitted mixed models: optimizer convergence, caterpillar plots and shrinkage.

matplotlib is an optional dependency, imported only when a plot is drawn; install it
with ``pip install "sklmixed[plot]"``. The module is not imported by ``import sklmixed``:
use ``from sklmixed.plotting import plot_convergence, caterpillar, shrinkage, zeta_plot``. The plots
are written in :mod:`sklmixed.report.plotting`.
"""

from .report.plotting import caterpillar, plot_convergence, shrinkage, zeta_plot

__all__ = ["plot_convergence", "caterpillar", "shrinkage", "zeta_plot"]

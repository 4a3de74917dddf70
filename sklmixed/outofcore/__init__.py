r"""Mixed models of data larger than memory: fits from a Dask DataFrame.

A linear mixed model needs its data only through
:math:`A = [Z\,X\,y]^\top W [Z\,X\,y]`, the number of observations and the sum of the log
weights, and every block of :math:`A` is a sum over observations (level counts, per-level
sums of :math:`X` and :math:`y`, counts of level pairs of crossed factors, :math:`X^\top X`).
Passes over the partitions of a Dask DataFrame compute them, each partition on the worker
that holds it, and a tree reduction adds them up (:mod:`~sklmixed.outofcore.passes`); the
optimisation then runs as in memory, on blocks whose size depends on the numbers of levels
and of level pairs, not on the number of rows. A generalized model repeats the pass that
sums the reweighted blocks at every PIRLS iteration, over data persisted in the workers.

``LinearMixedModel(formula, ddf)`` and ``GeneralizedLinearMixedModel(formula, ddf)`` build
the classes of this package; Dask is imported only then (``pip install "sklmixed[dask]"``).

Examples
--------
>>> from sklmixed.models import LinearMixedModel
>>> partitioned_class(LinearMixedModel).__name__
'PartitionedLinearMixedModel'
"""

__all__ = ["partitioned_class"]


def partitioned_class(cls):
    """The class that fits a model of class ``cls`` to a Dask DataFrame."""
    from ..models.generalized import GeneralizedLinearMixedModel
    from ..models.linear import LinearMixedModel

    if cls is LinearMixedModel:
        from .linear import PartitionedLinearMixedModel

        return PartitionedLinearMixedModel
    if cls is GeneralizedLinearMixedModel:
        from .generalized import PartitionedGeneralizedLinearMixedModel

        return PartitionedGeneralizedLinearMixedModel
    if getattr(cls, "_partitioned", False):
        return cls
    raise TypeError(f"{cls.__name__} cannot be fit to a Dask DataFrame: LinearMixedModel and "
                    "GeneralizedLinearMixedModel can")

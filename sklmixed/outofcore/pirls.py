r"""PIRLS over partitions: every iteration is one pass that sums the reweighted working ``A``.

:class:`PartitionedPIRLS` is :class:`~sklmixed.models.pirls.PIRLS` (the same iteration, step
halving, warm starts and convergence test) whose one step that touches the rows,
:meth:`laplace_update`, ships :math:`\beta` and :math:`b = \Lambda u` to the workers and gets
back the working :math:`A`, the deviance, and the deviance at :math:`u = 0`
(:func:`~sklmixed.outofcore.working.working_sums`): the factor's ``A`` is installed from them
and refactored on the client. The deviance at :math:`u = 0` for the :math:`\beta` a run starts
from comes with the run's first pass, so that :meth:`zero_u_pdev` costs no pass of its own.
"""

from __future__ import annotations

import numpy as np

from ..models.objective import laplace_deviance, penalised_deviance
from ..models.pirls import PIRLS
from .passes import run_pass
from .working import WorkingSums, working_sums

__all__ = ["PartitionedPIRLS"]


class PartitionedPIRLS(PIRLS):
    """PIRLS whose working LMM is summed over persisted partitions (see the module docstring).

    Parameters
    ----------
    factor : SummaryCholesky or None
        The working LMM's factor (None until the first pass has given its level pairs).
    chunks : list
        The persisted, encoded partitions.
    keep : ndarray of int
        The fixed-effects columns kept at full rank.
    reterms, family, link, settings, beta, log
        As for :class:`~sklmixed.models.pirls.PIRLS`; ``log`` is the model's pass log.
    """

    def __init__(self, factor, chunks, keep, reterms, family, link, settings, beta, log):
        super().__init__(factor, None, reterms, None, None, None, family, link, settings, beta)
        self.chunks, self.keep, self.log = chunks, np.asarray(keep), log
        self.saturated = 0
        self._zero_u = {}
        self.eta = self.mu = None  # the rows' values stay in the workers

    def working_pass(self) -> WorkingSums:
        """One pass at the current β and u."""
        b = [u @ r.lambda_.T for u, r in zip(self.u, self.reterms)]
        nlevs = [r.nlev for r in self.reterms]
        scalar = [r.scalar_intercept for r in self.reterms]
        out = run_pass(self.log, "PIRLS", self.chunks, working_sums, WorkingSums.__add__, self.family, self.link,
                       self.beta, b, self.keep, nlevs, scalar)
        self._zero_u[self.beta.tobytes()] = out.zero_u
        if len(self._zero_u) > 64:  # the runs of one evaluation ask for their first β only
            self._zero_u.pop(next(iter(self._zero_u)))
        return out

    def install(self, out: WorkingSums, fixed: bool = True) -> float:
        """Install a pass's working ``A``, refactor; the Laplace deviance there."""
        if out.nonfinite or not np.all(np.isfinite(out.cross.fixed)):
            raise FloatingPointError("non-finite working response or weights in PIRLS")
        with np.errstate(over="raise", invalid="raise"):  # an overflow (θ far out) is a failed trial point
            self.factor.install(out.cross)
            self.factor.update_L(fixed)
        self.saturated = out.saturated
        self.pdev = penalised_deviance(np.array([out.deviance]), self.u)
        return laplace_deviance(self.pdev, self.factor.logdet())

    def laplace_update(self, fixed: bool = True) -> float:
        return self.install(self.working_pass(), fixed)

    def zero_u_pdev(self, beta) -> float:
        beta = np.asarray(beta, dtype=float)
        if beta.tobytes() not in self._zero_u:  # not the β of the last pass: a pass of its own
            saved, self.beta = self.beta, beta
            try:
                self.working_pass()
            finally:
                self.beta = saved
        return float(self._zero_u[beta.tobytes()])

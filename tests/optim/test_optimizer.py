"""The nlopt wrapper: settings, quirks, return codes, zero snapping, progress display."""

import pickle

import nlopt
import numpy as np
import pytest

from sklmixed import ConvergenceWarning, LinearMixedModel
from sklmixed.exceptions import PosDefError
from sklmixed.optim import OptSummary, check_algorithm, optimize
from sklmixed.optim.nlopt import algorithms as derivative_free_algorithms

SLEEP = "reaction ~ 1 + days + (1 + days|subj)"


def quadratic(x):
    return float((x[0] - 0.5) ** 2 + 2 * (x[1] + 1) ** 2 + 3)


def test_algorithm_names():
    names = derivative_free_algorithms()
    assert {"LN_BOBYQA", "LN_NELDERMEAD", "LN_COBYLA", "LN_NEWUOA", "LN_PRAXIS", "LN_SBPLX"} <= set(names)
    assert "LN_AUGLAG" not in names
    with pytest.raises(ValueError, match="LN_BOBYQA") as err:
        check_algorithm("LN_FOO")
    assert "unknown optimizer 'LN_FOO'" in str(err.value)
    with pytest.raises(ValueError, match="unknown optimizer"):
        check_algorithm(3)


@pytest.mark.parametrize("name", ["LN_BOBYQA", "LN_NELDERMEAD", "LN_COBYLA", "LN_NEWUOA", "LN_NEWUOA_BOUND",
                                  "LN_SBPLX", "LN_PRAXIS"])
def test_every_algorithm_reaches_the_sleepstudy_optimum(name, sleepstudy):
    m = LinearMixedModel(SLEEP, sleepstudy)
    m.optsum.optimizer = name
    m.optsum.maxfeval = 5000
    m.fit(progress=False)
    assert m.objective == pytest.approx(1751.9393444647046, rel=1e-6)
    assert m.theta[0] >= 0 and m.theta[2] >= 0  # rectified when the algorithm ignores bounds


def test_settings_reach_nlopt_and_are_recorded():
    os_ = OptSummary(initial=[1.0, 0.0], lowerbd=[0.0, -np.inf])
    xmin, fmin = optimize(quadratic, os_, progress=False, fitlog=True)
    np.testing.assert_allclose(xmin, [0.5, -1.0], atol=1e-6)
    assert fmin == pytest.approx(3.0)
    assert os_.finitial == quadratic([1.0, 0.0])
    np.testing.assert_array_equal(os_.initial_step, [0.75, 1.0])  # NLopt's heuristic, recorded
    assert os_.feval == len(os_.fitlog)
    np.testing.assert_array_equal(os_.fitlog[0][0], [1.0, 0.0])
    # fit log entries are copies, not nlopt's reused buffer
    assert len({tuple(x) for x, _ in os_.fitlog}) > 3
    pickle.loads(pickle.dumps(os_))  # no nlopt object is kept


def test_explicit_initial_step_and_limits():
    os_ = OptSummary(initial=[1.0, 0.0], lowerbd=[0.0, -np.inf], initial_step=np.array([0.1, 0.1]), maxfeval=6)
    with pytest.warns(ConvergenceWarning, match="MAXEVAL_REACHED"):
        xmin, fmin = optimize(quadratic, os_, progress=False, fitlog=True)
    assert os_.returnvalue == "MAXEVAL_REACHED" and os_.feval == 6
    assert fmin == min(f for _, f in os_.fitlog)


def test_failed_factor_and_nan_return_the_initial_value():
    calls = []

    def f(x):
        calls.append(x.copy())
        if len(calls) == 3:
            raise PosDefError("not positive definite")
        if len(calls) == 4:
            return float("nan")
        return quadratic(x)

    os_ = OptSummary(initial=[1.0, 0.0], lowerbd=[0.0, -np.inf])
    with pytest.warns(ConvergenceWarning, match="2 of .* evaluations of the objective failed"):
        xmin, fmin = optimize(f, os_, progress=False, fitlog=True)
    assert os_.nfailed == 2
    # call 1 is the initial evaluation outside nlopt; nlopt's first point reuses it (fitlog[0])
    assert os_.fitlog[2][1] == os_.finitial and os_.fitlog[3][1] == os_.finitial
    assert np.isfinite(fmin) and fmin == pytest.approx(3.0)


def test_forced_stop_keeps_best_point():
    count = [0]

    def f(x):
        count[0] += 1
        if count[0] > 8:
            raise nlopt.ForcedStop()
        return quadratic(x)

    os_ = OptSummary(initial=[1.0, 0.0], lowerbd=[0.0, -np.inf])
    with pytest.warns(ConvergenceWarning, match="FORCED_STOP"):
        xmin, fmin = optimize(f, os_, progress=False, fitlog=True)
    assert os_.returnvalue == "FORCED_STOP"
    assert fmin == min(v for _, v in os_.fitlog)
    assert quadratic(xmin) == fmin


def test_initial_failure_is_an_error():
    os_ = OptSummary(initial=[1.0], lowerbd=[0.0])
    with pytest.raises(FloatingPointError, match="initial parameters"):
        optimize(lambda x: float("inf"), os_, progress=False)


def test_zero_snapping(dyestuff2):
    m = LinearMixedModel("yield ~ 1 + (1|batch)", dyestuff2).fit(progress=False, fitlog=True)
    assert m.theta[0] == 0.0 and m.issingular()
    assert m.objective == pytest.approx(162.87303665382575, rel=1e-9)


@pytest.mark.parametrize("curvature, snapped", [(1.0, True), (1e4, False)])
def test_zero_snapping_accepts_only_a_small_increase(curvature, snapped):
    # minimum at 5e-4: below xtol_zero_abs; moving to 0 costs curvature * 2.5e-7
    f = lambda x: float(curvature * (x[0] - 5e-4) ** 2 + (x[1] - 2) ** 2)  # noqa: E731
    os_ = OptSummary(initial=[1.0, 1.0], lowerbd=[0.0, 0.0])
    xmin, fmin = optimize(f, os_, progress=False, fitlog=True)
    assert bool(xmin[0] == 0.0) is snapped
    assert fmin == f(xmin)
    # a snapped point is logged after nlopt's own evaluations
    assert len(os_.fitlog) == os_.feval + int(snapped)


def test_progress_display(sleepstudy, capsys):
    LinearMixedModel(SLEEP, sleepstudy).fit(progress=False)
    LinearMixedModel(SLEEP, sleepstudy).fit()  # automatic: stderr is not a terminal under pytest
    assert capsys.readouterr().err == ""
    LinearMixedModel(SLEEP, sleepstudy).fit(progress=True)
    err = capsys.readouterr().err
    assert "Minimizing" in err and "evals" in err


def test_optsum_display_and_edit(sleepstudy):
    m = LinearMixedModel(SLEEP, sleepstudy)
    m.optsum.ftol_rel = 1e-8
    m.fit(progress=False)
    text = str(m.optsum)
    assert "ftol_rel:                 1.0e-8" in text
    assert "Lower bounds:             [0.0, -Inf, 0.0]" in text
    assert "initial_step:             [0.75, 1.0, 0.75]" in text
    table = m.optsum.fitlog_table()
    assert list(table.columns) == ["iter", "objective", "theta"] and len(table) == 0


# ---------------------------------------------------------------------- backends
def test_a_backend_is_one_module(monkeypatch, sleepstudy):
    """The driver finds a backend by name in sklmixed.optim and needs nothing else from it."""
    import sys
    import types

    calls = []
    fake = types.ModuleType("sklmixed.optim.fake")
    fake.SUCCESS = frozenset({"DONE"})
    fake.algorithms = lambda: ["GRID"]
    fake.check_algorithm = lambda name: name if name == "GRID" else (_ for _ in ()).throw(ValueError(name))

    def minimize(f, x0, optsum):
        grid = np.linspace(0.5, 1.5, 101)
        values = [f(np.array([t])) for t in grid]
        calls.append(len(values))
        best = int(np.argmin(values))
        return np.array([grid[best]]), values[best], "DONE", len(values) + 1
    fake.minimize = minimize
    monkeypatch.setitem(sys.modules, "sklmixed.optim.fake", fake)

    m = LinearMixedModel("reaction ~ 1 + days + (1|subj)", sleepstudy)
    m.optsum.backend, m.optsum.optimizer = "fake", "GRID"
    m.fit(progress=False)
    assert calls == [101] and m.optsum.feval == 102 and m.optsum.returnvalue == "DONE"
    reference = LinearMixedModel("reaction ~ 1 + days + (1|subj)", sleepstudy).fit(progress=False)
    assert m.theta[0] == pytest.approx(reference.theta[0], abs=0.01)


def test_unknown_backend_is_a_clear_error():
    from sklmixed.optim import backend

    for name in ("prima", "Nlopt", "../x", 3):
        with pytest.raises(ValueError, match="unknown optimizer backend"):
            backend(name)


def test_failed_evaluations_are_counted_and_warned_not_silent():
    """The guard gives a failed evaluation the initial objective; that must not pass silently."""
    from sklmixed.exceptions import ConvergenceWarning, PIRLSError

    def objective(x):
        if x[0] > 1.5:
            raise PIRLSError("PIRLS could not reduce the deviance")
        return float((x[0] - 1.2) ** 2 + 1.0)

    os_ = OptSummary(initial=np.array([1.0]), lowerbd=np.array([0.0]))
    with pytest.warns(ConvergenceWarning, match=r"evaluations of the objective failed .*PIRLSError: PIRLS could"):
        xmin, fmin = optimize(objective, os_, progress=False)
    assert os_.nfailed > 0
    assert xmin[0] == pytest.approx(1.2, abs=1e-4)
    # a refit starts the count afresh
    os_.reset(np.array([1.0]))
    assert os_.nfailed == 0

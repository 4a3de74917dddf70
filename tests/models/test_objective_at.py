"""``objective_at`` on a fitted model evaluates without changing the fit (θ, β, σ, modes, summary)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from numpy.testing import assert_array_equal

from sklmixed import GeneralizedLinearMixedModel, LinearMixedModel, exceptions


def _snapshot(m):
    return {"theta": m.theta.copy(), "beta": m.beta.copy(), "sigma": m.sigma, "objective": m.objective,
            "summary": str(m), "fitted": m.fitted(), "ranef": [u.copy() for u in m._u()],
            "vcov": np.asarray(m.vcov()).copy(), "predict": m.predict()}


def _same(a, b):
    for key in a:
        if key == "ranef":
            for x, y in zip(a[key], b[key]):
                assert_array_equal(x, y)
        elif isinstance(a[key], np.ndarray):
            assert_array_equal(a[key], b[key], err_msg=key)
        else:
            assert a[key] == b[key] or (np.isnan(a[key]) and np.isnan(b[key])), key


@pytest.mark.parametrize("reml", [False, True])
def test_lmm_objective_at_leaves_the_fit_alone(sleepstudy, reml):
    m = LinearMixedModel("reaction ~ 1 + days + (1 + days|subj)", sleepstudy).fit(progress=False, reml=reml)
    before = _snapshot(m)
    value = m.objective_at([0.5, 0.1, 0.3])
    assert value > m.objective
    assert m.objective_at([0.5, 0.1, 0.3], reml=not reml) != value
    _same(before, _snapshot(m))
    assert m.objective_at(m.theta) == m.objective
    with pytest.raises(ValueError, match="length 3"):
        m.objective_at([1.0])
    _same(before, _snapshot(m))


def test_lmm_objective_at_installs_theta_before_fitting(sleepstudy):
    m = LinearMixedModel("reaction ~ 1 + days + (1 + days|subj)", sleepstudy)
    m.objective_at([0.5, 0.1, 0.3])
    assert_array_equal(m.theta, [0.5, 0.1, 0.3])


@pytest.fixture(scope="module")
def glmm_data():
    rng = np.random.default_rng(8)
    g = np.repeat(np.arange(25), 12)
    x = rng.normal(size=g.size)
    eta = -0.2 + 0.8 * x + rng.normal(0, 1.0, 25)[g]
    import pandas as pd

    return pd.DataFrame({"g": g.astype(str), "x": x, "y": rng.binomial(1, 1 / (1 + np.exp(-eta)))})


@pytest.mark.parametrize("fit_kw", [{"fast": True}, {"fast": False}, {"nagq": 7}], ids=["fast", "full", "agq"])
def test_glmm_objective_at_leaves_the_fit_alone(glmm_data, fit_kw):
    m = GeneralizedLinearMixedModel("y ~ 1 + x + (1|g)", glmm_data).fit(progress=False, **fit_kw)
    before = _snapshot(m)
    nagq = m.optsum.nagq
    assert m.objective_at([2.5], nagq=nagq) > m.objective
    assert m.objective_at([0.2], beta=[1.0, -1.0], nagq=nagq) > m.objective
    _same(before, _snapshot(m))
    with pytest.raises(ValueError):
        m.objective_at([1.0, 2.0])
    _same(before, _snapshot(m))
    # the estimates are a point the objective can be evaluated at again
    assert m.objective_at(m.theta, m.beta, nagq=nagq) == pytest.approx(m.objective, abs=1e-6)


def test_objective_at_errors_are_exported(glmm_data):
    """What ``objective_at`` can raise besides ValueError is in ``sklmixed.exceptions``."""
    for name in ("PosDefError", "PIRLSError"):
        assert name in exceptions.__all__
    assert issubclass(exceptions.PIRLSError, FloatingPointError)
    assert issubclass(exceptions.PosDefError, np.linalg.LinAlgError)
    m = LinearMixedModel("y ~ 1 + x + (1|g)", glmm_data.assign(y=glmm_data["x"] * 3 + glmm_data["y"]))
    m.fit(progress=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(exceptions.PosDefError):
            m.objective_at([1e300])
        with pytest.raises(ValueError, match="finite"):
            m.objective_at([np.inf])

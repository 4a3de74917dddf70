"""Tests for sklmixed.cholesky: the blocked factor against a dense Cholesky factorisation.

For every design the blocked ``A`` and ``L`` are assembled into full matrices and compared
with the dense cross-product ``[ZΛ X y]' W [ZΛ X y] + diag(I, 0)`` and its dense Cholesky
factor; logdet, pwrss, β, u and the conditional variances are compared with dense solves.
"""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from scipy.linalg import cho_solve, solve_triangular

from sklmixed import LinearMixedModel

import _dense
import _designs

RTOL = 1e-9
WEIGHTING = ["unweighted", "weighted"]
#: the small designs are one dense array by default; "blocked" runs the blocked program on them
STORAGE = ["blocked", "auto"]

_MODELS = {}


def _model(design, weighting, seed=0, storage="blocked"):
    key = (design, weighting, seed, storage)
    if key not in _MODELS:
        data, formula = _designs.make(design, seed)
        w = None
        if weighting == "weighted":
            w = np.random.default_rng(seed + 100).uniform(0.3, 3.0, len(data))
        with _dense.factor_storage(storage):
            _MODELS[key] = LinearMixedModel(formula, data, weights=w)
    return _MODELS[key]


def _dense_state(m, X, y):
    """Dense quantities at the θ currently installed in ``m``, for fixed effects ``X`` and response ``y``."""
    Z, Lam = _dense.model_Z_Lambda(m)
    ZL = Z @ Lam
    M = _dense.augmented_matrix(ZL, X, y, m.weights)
    Ld = np.linalg.cholesky(M)
    q, p = ZL.shape[1], X.shape[1]
    Lzz = Ld[:q, :q]  # the Cholesky factor of Λ'Z'WZΛ + I
    beta = solve_triangular(Ld[q:q + p, q:q + p], Ld[-1, q:q + p], lower=True, trans="T")
    u = cho_solve((Lzz, True), M[:q, -1] - M[:q, q:q + p] @ beta)
    Vinv = cho_solve((Lzz, True), np.eye(q))
    return dict(M=M, L=Ld, q=q, p=p, beta=beta, u=u, Vinv=Vinv,
                logdet=2 * np.sum(np.log(np.diag(Ld)[:q])), logdet_x=2 * np.sum(np.log(np.diag(Ld)[q:q + p])),
                pwrss=Ld[-1, -1] ** 2)


def _check_against_dense(m, theta, *, model=True):
    """The factor against the dense computation of what it holds (the model gives it X and y centred
    and scaled) and, with ``model``, the model's numbers against the dense computation in the units
    of the data."""
    obj_ml = m.objective_at(theta, reml=False)
    f = m._factor
    fd = _dense_state(m, f.Xy[:, :-1], f.Xy[:, -1])
    d = _dense_state(m, m.feterm.X, m.y) if model else fd
    n, p = m.nobs, d["p"]
    scale = np.max(np.abs(fd["L"]))

    # the factor itself: unique lower Cholesky factor with positive diagonal
    assert_allclose(_dense.assemble(f.L), fd["L"], rtol=0, atol=RTOL * scale)

    assert f.logdet() == pytest.approx(fd["logdet"], rel=RTOL, abs=RTOL)
    assert f.logdet(reml=True) == pytest.approx(fd["logdet"] + fd["logdet_x"], rel=RTOL, abs=RTOL)
    assert f.pwrss == pytest.approx(fd["pwrss"], rel=RTOL)
    assert_allclose(f.fixef(), fd["beta"], rtol=RTOL, atol=RTOL * np.max(np.abs(fd["beta"]), initial=1))
    if not model:
        return fd
    assert m.pwrss == pytest.approx(d["pwrss"], rel=RTOL)
    assert_allclose(m.beta, d["beta"], rtol=RTOL, atol=RTOL * np.max(np.abs(d["beta"]), initial=1))

    # objective: log|L_Z|² + n(1 + log(2π r²/n)) − Σ log w
    logw = 0.0 if m.weights is None else np.sum(np.log(m.weights))
    expected = d["logdet"] + n * (1 + np.log(2 * np.pi * d["pwrss"] / n)) - logw
    assert obj_ml == pytest.approx(expected, rel=RTOL)
    obj_reml = m.objective_at(theta, reml=True)
    expected = d["logdet"] + d["logdet_x"] + (n - p) * (1 + np.log(2 * np.pi * d["pwrss"] / (n - p))) - logw
    assert obj_reml == pytest.approx(expected, rel=RTOL)

    # conditional modes (in the units of the data) and conditional variances, term by term
    us = m._u()
    offset = 0
    for j, r in enumerate(m.reterms):
        sl = slice(offset, offset + r.nranef)
        u_dense = d["u"][sl].reshape(r.nlev, r.S)
        assert us[j].shape == (r.nlev, r.S)
        assert_allclose(us[j], u_dense, rtol=RTOL, atol=RTOL * max(1.0, np.max(np.abs(d["u"]))))
        V = d["Vinv"][sl, sl]
        expected_cv = np.array([V[r.S * lev:r.S * (lev + 1), r.S * lev:r.S * (lev + 1)] for lev in range(r.nlev)])
        cv = f.condvar_unscaled(j)
        assert cv.shape == (r.nlev, r.S, r.S)
        assert_allclose(cv, expected_cv, rtol=RTOL, atol=RTOL)
        offset += r.nranef
    return d


@pytest.mark.parametrize("storage", STORAGE)
@pytest.mark.parametrize("weighting", WEIGHTING)
@pytest.mark.parametrize("design", list(_designs.DESIGNS))
def test_factor_matches_dense_cholesky(design, weighting, storage):
    m = _model(design, weighting, storage=storage)
    rng = np.random.default_rng(sorted(_designs.DESIGNS).index(design))
    for theta in (_designs.random_theta(m, rng), _designs.random_theta(m, rng, zero_some=True), m.optsum.initial):
        _check_against_dense(m, theta)


@pytest.mark.parametrize("storage", STORAGE)
@pytest.mark.parametrize("weighting", WEIGHTING)
@pytest.mark.parametrize("design", list(_designs.DESIGNS))
def test_A_matches_dense_crossproduct(design, weighting, storage):
    m = _model(design, weighting, storage=storage)
    Z = np.hstack([r.z_matrix().toarray() for r in m.reterms])
    B = np.column_stack([Z, m._factor.Xy])  # the fixed-effects columns and response the factor was given
    w = np.ones(m.nobs) if m.weights is None else m.weights
    expected = np.tril(B.T @ (w[:, None] * B))
    assert_allclose(_dense.assemble(m._factor.A), expected, rtol=0, atol=1e-11 * np.max(np.abs(expected)))


@pytest.mark.parametrize("design", ["crossed_vector", "partially_crossed", "partially_crossed_vector",
                                    "nested3_sparse", "scalar_with_vector_sparse"])
@pytest.mark.parametrize("storage", STORAGE)
def test_no_state_carried_between_evaluations(design, storage):
    m = _model(design, "weighted", storage=storage)
    rng = np.random.default_rng(7)
    th1, th2 = _designs.random_theta(m, rng), _designs.random_theta(m, rng, zero_some=True)
    o1 = m.objective_at(th1)
    L1 = _dense.assemble(m._factor.L)
    m.objective_at(th2)
    assert m.objective_at(th1) == o1
    assert_array_equal(_dense.assemble(m._factor.L), L1)


@pytest.mark.parametrize("design", ["partially_crossed", "partially_crossed_vector", "nested3_sparse"])
@pytest.mark.parametrize("storage", STORAGE)
def test_new_response_refreshes_factor(design, storage):
    with _dense.factor_storage(storage):
        m = LinearMixedModel(*reversed(_designs.make(design, 3)))
    rng = np.random.default_rng(12345)  # not the design's seed: y2 must not be collinear with x
    y2 = rng.normal(size=m.nobs) * 5 + 1
    m._factor.set_response(y2, m.weights)
    d = _check_against_dense(m, _designs.random_theta(m, rng), model=False)  # the model's y is not y2
    assert_array_equal(m._factor.Xy[:, -1], y2)
    assert d["M"][-1, -1] == pytest.approx(y2 @ y2)


@pytest.mark.parametrize(
    "dataset, formula",
    [
        ("dyestuff", "yield ~ 1 + (1|batch)"),
        ("sleepstudy", "reaction ~ 1 + days + (1 + days|subj)"),
        ("sleepstudy", "reaction ~ 1 + days + (1|subj) + (0 + days|subj)"),
        ("penicillin", "diameter ~ 1 + (1|plate) + (1|sample)"),
        ("pastes", "strength ~ 1 + (1|batch/cask)"),
    ],
)
@pytest.mark.parametrize("storage", STORAGE)
def test_bundled_datasets_match_dense(request, dataset, formula, storage):
    with _dense.factor_storage(storage):
        m = LinearMixedModel(formula, request.getfixturevalue(dataset))
    rng = np.random.default_rng(11)
    for _ in range(2):
        _check_against_dense(m, _designs.random_theta(m, rng))


@pytest.mark.parametrize("storage", STORAGE)
def test_dyestuff_cross_products(dyestuff, storage):
    """Z'Z = 5 I_6 and y'Z = [7525, 7640, 7820, 7490, 8000, 7350] (MixedModels' tests)."""
    from sklmixed.linalg import BlockedCholesky

    with _dense.factor_storage(storage):
        m = LinearMixedModel("yield ~ 1 + (1|batch)", dyestuff)
        A = BlockedCholesky(m.reterms, np.column_stack([m.feterm.X, m.y])).A  # the model's factor sees y centred
    assert_array_equal(_dense.block_to_dense(A[0][0]), 5 * np.eye(6))
    assert_array_equal(A[1][0][-1], [7525, 7640, 7820, 7490, 8000, 7350])


@pytest.mark.parametrize("storage", STORAGE)
def test_pickled_factor_evaluates_identically(storage):
    m = _model("partially_crossed_vector", "weighted", storage=storage)
    theta = _designs.random_theta(m, np.random.default_rng(5))
    expected = m.objective_at(theta)
    clone = pickle.loads(pickle.dumps(m))
    assert clone.objective_at(theta) == expected
    assert_array_equal(_dense.assemble(clone._factor.L), _dense.assemble(m._factor.L))


# ---------------------------------------------------------------------- the dense tail
def _tail_designs():
    out = []
    for design in _designs.DESIGNS:
        f = _model(design, "unweighted")._factor
        if f.layout.tail < f.k:
            out.append(design)
    return out


def test_some_designs_have_a_dense_tail():
    assert {"crossed2", "crossed3"} <= set(_tail_designs())


@pytest.mark.parametrize("design", ["crossed2", "crossed3", "crossed_vector"])
def test_dense_tail_is_one_array_factored_whole(design):
    f = _model(design, "weighted")._factor
    t = f.layout.tail
    assert t < f.k
    # every block right of the tail start is dense, every block left of it in its column is not all dense
    assert all(f.layout.kinds[i][j] == "dense" for j in range(t, f.k + 1) for i in range(j, f.k + 1))
    assert t == 0 or any(f.layout.kinds[i][t - 1] != "dense" for i in range(t - 1, f.k + 1))
    for i in range(t, f.k + 1):
        for j in range(t, i + 1):
            assert np.shares_memory(f.L[i][j], f.tail.L), (i, j)
            assert np.shares_memory(f.A[i][j], f.tail.A), (i, j)
    assert f.tail.L.shape == f.tail.A.shape == (sum(f.sizes[t:]),) * 2
    assert f.largest_dense == f.tail.L.shape[0]


def test_pickled_dense_tail_keeps_its_views():
    m = _model("crossed3", "weighted")
    theta = _designs.random_theta(m, np.random.default_rng(2))
    expected = m.objective_at(theta)
    clone = pickle.loads(pickle.dumps(m))
    f = clone._factor
    for i in range(f.layout.tail, f.k + 1):
        for j in range(f.layout.tail, i + 1):
            assert np.shares_memory(f.L[i][j], f.tail.L)
    assert not np.shares_memory(f.tail.L, m._factor.tail.L)
    assert clone.objective_at(theta) == expected
    assert_array_equal(_dense.assemble(f.L), _dense.assemble(m._factor.L))


@pytest.mark.parametrize("design", list(_designs.DESIGNS))
def test_small_factor_is_one_dense_array(design):
    """Of order at most DENSE_ORDER, the factor is one array: one scaling op, one potrf."""
    from sklmixed.linalg.symbolic import thresholds

    m = _model(design, "weighted", storage="auto")
    f = m._factor
    if sum(f.sizes) > thresholds().dense_order:
        assert f.layout.tail > 0 or not f.layout.fused
        return
    assert f.layout.tail == 0 and f.layout.fused and f.layout.patterns is None
    assert all(kind == "dense" for row in f.layout.kinds for kind in row)
    assert len(f._program.ops) + 1 == 2
    for i in range(f.k + 1):
        for j in range(i + 1):
            assert np.shares_memory(f.L[i][j], f.tail.L) and np.shares_memory(f.A[i][j], f.tail.A)
    # the block description still tells what A holds, and that L is dense
    blocked = _model(design, "weighted", storage="blocked")._factor
    text = f.block_description()
    assert f.layout.a_kinds == blocked.layout.a_kinds
    assert "Dense" in text and "Sparse" not in text.replace("Sparse/Dense", "")


@pytest.mark.parametrize("storage", STORAGE)
@pytest.mark.parametrize("design", ["scalar", "crossed2", "vector2"])
def test_singular_fixed_block_is_tolerated_only_when_asked(design, storage):
    """PIRLS with β held fixed needs the random-effects part alone (``fixed=False``)."""
    from sklmixed.exceptions import PosDefError
    from sklmixed.linalg import BlockedCholesky

    m = _model(design, "unweighted", storage=storage)
    Xy = np.column_stack([m.feterm.X, np.zeros(m.nobs), m.y])  # a zero column (no weight left): X'WX singular
    with _dense.factor_storage(storage):
        f = BlockedCholesky(m.reterms, Xy)
    theta = _designs.random_theta(m, np.random.default_rng(4))
    m._install_theta(theta)
    with pytest.raises(PosDefError):
        f.update_L()
    f.update_L(fixed=False)
    assert f.fixed_singular
    m._factor.update_L()
    assert not m._factor.fixed_singular
    assert f.logdet() == pytest.approx(m._factor.logdet(), rel=1e-12)


@pytest.mark.parametrize("storage", STORAGE)
@pytest.mark.parametrize("design", ["crossed3", "nested3_sparse", "partially_crossed_vector", "vector3"])
def test_a_dropped_model_is_freed_at_once(design, storage):
    """No reference cycles through the compiled program: large factors must not wait for the
    cyclic garbage collector (their memory would pile up over refits and cross-validation)."""
    import gc
    import weakref

    data, formula = _designs.make(design, 1)
    with _dense.factor_storage(storage):
        m = LinearMixedModel(formula, data).fit(progress=False)
    factor, model = weakref.ref(m._factor), weakref.ref(m)
    gc.disable()
    try:
        del m
        assert model() is None and factor() is None
    finally:
        gc.enable()


# ---------------------------------------------------------------------- fast paths and their slow twins
@pytest.mark.parametrize("design", ["nested3", "nested3_sparse", "nested_vector", "partially_crossed",
                                    "partially_crossed_vector", "partially_crossed3", "scalar_with_vector_sparse"])
def test_schur_update_equals_the_general_kernels(design, monkeypatch):
    """The constant-coefficient Schur update gives the factor the pairwise products give."""
    from sklmixed.linalg import BlockedCholesky, update

    m = _model(design, "weighted")
    theta = _designs.random_theta(m, np.random.default_rng(7))
    m._install_theta(theta)
    Xy = np.column_stack([m.feterm.X, m.y])
    with _dense.factor_storage("blocked"):
        fast = BlockedCholesky(m.reterms, Xy, m.weights)
        monkeypatch.setattr(update, "schur_op", lambda *args: None)
        monkeypatch.setattr(update, "sparse_syrk_op", lambda *args: None)
        slow = BlockedCholesky(m.reterms, Xy, m.weights)
    assert len(fast._program.refresh) > 0  # the design takes the fast path
    assert len(slow._program.refresh) == 0
    fast.update_L()
    slow.update_L()
    L_fast, L_slow = _dense.assemble(fast.L), _dense.assemble(slow.L)
    assert_allclose(L_fast, L_slow, rtol=1e-10, atol=1e-10 * np.max(np.abs(L_slow)))


@pytest.mark.parametrize("design", list(_designs.DESIGNS))
def test_thresholds_are_parameters_of_the_factor(design):
    """The storage is chosen by the thresholds passed in, not by a module global."""
    from sklmixed.linalg import BlockedCholesky, Thresholds

    m = _model(design, "unweighted", storage="auto")
    Xy = np.column_stack([m.feterm.X, m.y])
    blocked = BlockedCholesky(m.reterms, Xy, thresholds=Thresholds(dense_order=0))
    dense = BlockedCholesky(m.reterms, Xy, thresholds=Thresholds(dense_order=10**9))
    assert dense.layout.fused and dense.layout.tail == 0
    assert blocked.layout.patterns is not None
    theta = _designs.random_theta(m, np.random.default_rng(3))
    blocked.evaluate(theta)
    dense.evaluate(theta)
    assert blocked.logdet() == pytest.approx(dense.logdet(), rel=1e-10)
    assert blocked.pwrss == pytest.approx(dense.pwrss, rel=1e-9)


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
def test_loaded_dense_tail_owns_writable_memory_the_assembly_writes_into(protocol):
    """Protocol 5 rebuilds arrays over the pickle's buffer (base: a 1-D array, maybe read-only);
    the assembly finds the tail's array as its blocks' ``base`` and must still write into it."""
    data, formula = _designs.make("crossed3", 0)
    m = LinearMixedModel(formula, data)  # not the shared cached model: its A is changed below
    clone = pickle.loads(pickle.dumps(m, protocol=protocol))
    tail = clone._factor.tail
    for big in (tail.A, tail.L):
        assert big.flags.owndata and big.flags.writeable and big.flags.f_contiguous
    w = np.random.default_rng(4).uniform(0.2, 5.0, m.n)
    for model in (m, clone):
        model._factor.update_A(w)
    assert_array_equal(_dense.assemble(clone._factor.A), _dense.assemble(m._factor.A))


@pytest.mark.parametrize("design", list(_designs.DESIGNS))
def test_stages_on_two_threads_give_the_same_bits(design, monkeypatch):
    """The program's stages write different blocks: run on two threads, every block has the bits the
    ops give in order on one (whatever size makes a factor worth the threads)."""
    from sklmixed.linalg import parallel
    from sklmixed.linalg.parallel import use_threads

    m = _model(design, "weighted")
    theta = _designs.random_theta(m, np.random.default_rng(11))
    monkeypatch.setattr(parallel, "WORKERS_PAY", 0)
    factors = []
    for threads in (1, 2):
        with use_threads(threads):
            m._factor.evaluate(theta)
        factors.append(_dense.assemble(m._factor.L))
    assert_array_equal(factors[0], factors[1])
    assert m._factor._program.stages is not None

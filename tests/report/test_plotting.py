"""sklmixed.plotting: convergence, caterpillar and shrinkage plots, rendered with Agg."""

from __future__ import annotations

import doctest
import sys

import numpy as np
import pandas as pd
import pytest
from scipy import stats

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

import sklmixed.plotting  # noqa: E402
import sklmixed.report.plotting  # noqa: E402
from sklmixed import GeneralizedLinearMixedModel, LinearMixedModel, LinearMixedRegressor  # noqa: E402
from sklmixed.exceptions import NotFittedError  # noqa: E402
from sklmixed.plotting import caterpillar, plot_convergence, shrinkage  # noqa: E402

SLEEP = "reaction ~ 1 + days + (1 + days|subj)"


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def fm2(sleepstudy):
    return LinearMixedModel(SLEEP, sleepstudy).fit(progress=False, fitlog=True)


@pytest.fixture(scope="module")
def fm2nm(sleepstudy):
    m = LinearMixedModel(SLEEP, sleepstudy)
    m.optsum.optimizer = "LN_NELDERMEAD"
    return m.fit(progress=False, fitlog=True)


@pytest.fixture(scope="module")
def fm1(dyestuff):
    return LinearMixedModel("yield ~ 1 + (1|batch)", dyestuff).fit(progress=False)


@pytest.fixture(scope="module")
def glmm(verbagg):
    form = "r2 ~ 1 + anger + gender + btype + situ + (1|subj) + (1|item)"
    return GeneralizedLinearMixedModel(form, verbagg, family="bernoulli").fit(fast=True, progress=False)


def _save(ax, path):
    ax.figure.savefig(path)
    assert path.is_file() and path.stat().st_size > 0
    with open(path, "rb") as fh:
        assert fh.read(8) == b"\x89PNG\r\n\x1a\n"


# ---------------------------------------------------------------- plot_convergence
def test_convergence_one_line_per_model(fm2, fm2nm, tmp_path):
    ax = plot_convergence(fm2nm, fm2, labels=["NelderMead", "BOBYQA"])
    _save(ax, tmp_path / "convergence.png")
    lines = ax.get_lines()
    assert len(lines) == 2
    for line, m in zip(lines, (fm2nm, fm2)):
        x, y = line.get_data()
        assert len(x) == len(m.optsum.fitlog) == m.optsum.feval
        np.testing.assert_array_equal(x, np.arange(1, len(x) + 1))
        np.testing.assert_allclose(y, [f for _, f in m.optsum.fitlog])
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["NelderMead", "BOBYQA"]
    assert len(lines[0].get_xdata()) > len(lines[1].get_xdata())  # Nelder-Mead needs more steps


def test_convergence_default_labels_and_given_axes(fm2, fm2nm):
    fig, ax = plt.subplots()
    out = plot_convergence(fm2, fm2nm, fm2.optsum, ax=ax)
    assert out is ax and len(ax.get_lines()) == 3
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["LN_BOBYQA (model 1)", "LN_NELDERMEAD", "LN_BOBYQA (model 3)"]
    ax = plot_convergence(fm2)
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["LN_BOBYQA"]


def test_convergence_errors(fm1, fm2):
    with pytest.raises(ValueError, match="fitlog=True"):
        plot_convergence(fm2, fm1)  # fm1 was fit without a fit log
    with pytest.raises(ValueError, match="model 2 .*empty fit log"):
        plot_convergence(fm2, fm1)
    with pytest.raises(ValueError, match="at least one"):
        plot_convergence()
    with pytest.raises(ValueError, match="2 label"):
        plot_convergence(fm2, labels=["a", "b"])
    with pytest.raises(TypeError, match="no optimizer summary"):
        plot_convergence("not a model")
    assert plt.get_fignums() == []  # no figure is left behind by a failed call


# ---------------------------------------------------------------- caterpillar
def _points_line(ax):
    (line,) = [ln for ln in ax.get_lines() if ln.get_marker() == "o"]
    return line


def test_caterpillar_points_and_intervals(fm2, tmp_path):
    ax = caterpillar(fm2, "subj", column="days", level=0.9)
    _save(ax, tmp_path / "caterpillar.png")
    x, y = _points_line(ax).get_data()
    modes = fm2.ranef()["subj"]["days"]
    assert len(x) == modes.shape[0] == 18
    np.testing.assert_allclose(np.sort(modes.to_numpy()), x)  # sorted by conditional mode
    np.testing.assert_array_equal(y, np.arange(18))
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels == list(modes.sort_values(kind="stable").index.astype(str))
    # interval half-widths: z(0.95) * conditional standard deviation
    (bars,) = [c for c in ax.collections if len(c.get_segments()) == 18]
    half = np.array([abs(seg[1][0] - seg[0][0]) / 2 for seg in bars.get_segments()])
    sd = np.sqrt(fm2.condvar()["subj"][:, 1, 1])[np.argsort(modes.to_numpy(), kind="stable")]
    np.testing.assert_allclose(half, stats.norm.ppf(0.95) * sd, rtol=1e-10)
    assert "days" in ax.get_xlabel() and "90%" in ax.get_xlabel()


def test_caterpillar_defaults_and_factor_choice(fm2, penicillin):
    ax = caterpillar(fm2)  # first factor, first column
    assert len(_points_line(ax).get_xdata()) == 18
    assert ax.get_xlabel().startswith("(Intercept)")
    assert len(_points_line(caterpillar(fm2, column=1)).get_xdata()) == 18
    fm4 = LinearMixedModel("diameter ~ 1 + (1|sample) + (1|plate)", penicillin).fit(progress=False)
    assert len(_points_line(caterpillar(fm4, "sample")).get_xdata()) == 6
    assert len(_points_line(caterpillar(fm4)).get_xdata()) == 24  # plate comes first


@pytest.mark.filterwarnings("ignore::sklmixed.exceptions.NoRandomEffectsWarning")  # a fit without groups, on purpose
def test_caterpillar_of_an_estimator(sleepstudy):
    reg = LinearMixedRegressor(random_slopes=["days"]).fit(sleepstudy[["days"]], sleepstudy["reaction"],
                                                           groups=sleepstudy["subj"])
    assert len(_points_line(caterpillar(reg)).get_xdata()) == 18
    plain = LinearMixedRegressor().fit(sleepstudy[["days"]], sleepstudy["reaction"])
    with pytest.raises(ValueError, match="without groups"):
        caterpillar(plain)
    with pytest.raises(ValueError, match="not fitted"):
        caterpillar(LinearMixedRegressor())


def test_caterpillar_errors(fm2, glmm, sleepstudy):
    # a GLMM has conditional variances too (sklmixed.models.prediction): its caterpillar draws
    ax = caterpillar(glmm, "item")
    assert len(_points_line(ax).get_xdata()) == 24
    plt.close(ax.figure)
    with pytest.raises(ValueError, match="no grouping factor 'item'"):
        caterpillar(fm2, "item")
    with pytest.raises(ValueError, match="no column 'age'"):
        caterpillar(fm2, column="age")
    with pytest.raises(ValueError, match="out of range"):
        caterpillar(fm2, column=2)
    for level in (0, 1, 95, "0.95"):
        with pytest.raises(ValueError, match="level"):
            caterpillar(fm2, level=level)
    with pytest.raises(NotFittedError):
        caterpillar(LinearMixedModel(SLEEP, sleepstudy))
    assert plt.get_fignums() == []


# ---------------------------------------------------------------- shrinkage
def test_shrinkage_two_random_effects(fm2, sleepstudy, tmp_path):
    ax = shrinkage(fm2, "subj")
    _save(ax, tmp_path / "shrinkage.png")
    within, mixed, population = (c.get_offsets() for c in ax.collections)
    assert within.shape == mixed.shape == (18, 2) and population.shape == (1, 2)
    ols = np.array([np.polyfit(g["days"], g["reaction"], 1)[::-1]
                    for _, g in sleepstudy.groupby("subj", observed=True, sort=True)])
    np.testing.assert_allclose(within, ols, rtol=1e-8)
    expected = fm2.fixef().to_numpy() + fm2.ranef()["subj"].to_numpy()
    np.testing.assert_allclose(mixed, expected, rtol=1e-10)
    np.testing.assert_allclose(population[0], fm2.fixef().to_numpy())
    assert len(ax.texts) == 18  # one arrow per subject
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("(Intercept)", "days")
    # shrinkage: the mixed-model estimates are closer to the population values
    spread = lambda pts: np.linalg.norm(pts - population[0], axis=1).mean()  # noqa: E731
    assert spread(mixed) < spread(within)


def test_shrinkage_one_random_effect(fm1, dyestuff, tmp_path):
    ax = shrinkage(fm1)
    _save(ax, tmp_path / "shrinkage1.png")
    (points,) = ax.collections
    xy = points.get_offsets()
    means = dyestuff.groupby("batch", observed=True, sort=True)["yield"].mean().to_numpy()
    np.testing.assert_allclose(xy[:, 0], means)
    np.testing.assert_allclose(xy[:, 1], fm1.fixef().iloc[0] + fm1.ranef()["batch"].iloc[:, 0].to_numpy())
    # every batch estimate lies between its own mean and the population mean
    mu = fm1.fixef().iloc[0]
    assert np.all(np.abs(xy[:, 1] - mu) <= np.abs(xy[:, 0] - mu) + 1e-9)


def test_shrinkage_partial_response_with_other_terms(penicillin):
    fm4 = LinearMixedModel("diameter ~ 1 + (1|sample) + (1|plate)", penicillin).fit(progress=False)
    ax = shrinkage(fm4, "sample")
    (points,) = ax.collections
    assert points.get_offsets().shape == (6, 2)
    # the within-level estimate removes the plate effects: mean of diameter less the plate modes
    b_plate = fm4.ranef()["plate"].iloc[:, 0]
    adj = penicillin["diameter"] - penicillin["plate"].astype(str).map(b_plate.rename(index=str)).to_numpy()
    means = adj.groupby(penicillin["sample"], observed=True, sort=True).mean().to_numpy()
    np.testing.assert_allclose(points.get_offsets()[:, 0], means, rtol=1e-10)


def test_shrinkage_level_without_own_fit(sleepstudy):
    one = sleepstudy.copy()
    keep = (one["subj"] != "S308") | (one["days"] == 0)  # S308 keeps a single day: no own line
    one = one[keep].reset_index(drop=True)
    m = LinearMixedModel(SLEEP, one).fit(progress=False)
    ax = shrinkage(m)
    within, mixed, _ = (c.get_offsets() for c in ax.collections)
    assert within.shape == (17, 2) and mixed.shape == (18, 2)
    assert len(ax.texts) == 17


def test_shrinkage_errors(glmm, fm2, sleepstudy):
    with pytest.raises(NotImplementedError, match="linear mixed models only"):
        shrinkage(glmm)
    with pytest.raises(ValueError, match="no grouping factor"):
        shrinkage(fm2, "plate")
    with pytest.raises(NotFittedError):
        shrinkage(LinearMixedModel(SLEEP, sleepstudy))
    with pytest.raises(TypeError, match="LinearMixedModel"):
        shrinkage(pd.DataFrame())


# ---------------------------------------------------------------- matplotlib missing, docstrings
def test_clear_import_error_without_matplotlib(fm2, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    for call in (lambda: plot_convergence(fm2), lambda: caterpillar(fm2), lambda: shrinkage(fm2)):
        with pytest.raises(ImportError, match=r"sklmixed\[plot\]"):
            call()


def test_plotting_docstring_examples(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = doctest.testmod(sklmixed.report.plotting, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE,
                             verbose=False, report=False)
    assert result.attempted > 0
    assert result.failed == 0

"""The ζ plot of a profile."""

from __future__ import annotations

import numpy as np
import pytest

from sklmixed import LinearMixedModel, load_dataset, profile

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
plt = pytest.importorskip("matplotlib.pyplot")

from sklmixed.plotting import zeta_plot  # noqa: E402


@pytest.fixture(scope="module")
def prof():
    m = LinearMixedModel("yield ~ 1 + (1|batch)", load_dataset("dyestuff")).fit(progress=False)
    return profile(m)


def test_one_panel_per_parameter_with_the_curve(prof):
    axes = zeta_plot(prof)
    visible = [ax for ax in axes if ax.get_visible()]
    assert [ax.get_xlabel() for ax in visible] == ["(Intercept)", "sd_(Intercept)|batch", "sigma"]
    x, y = visible[2].lines[0].get_data()
    rows = prof.table[prof.table["parameter"] == "sigma"].sort_values("value")
    np.testing.assert_allclose(x, rows["value"])
    np.testing.assert_allclose(y, rows["zeta"])
    assert visible[0].lines[1].get_ydata()[0] == pytest.approx(-1.959964, abs=1e-5)
    plt.close("all")


def test_a_subset_and_bad_arguments(prof):
    _, ax = plt.subplots()
    axes = zeta_plot(prof, ["sigma"], axes=[ax], level=0.9)
    assert axes[0] is ax and ax.lines[1].get_ydata()[0] == pytest.approx(-1.644854, abs=1e-5)
    with pytest.raises(ValueError, match="no parameter"):
        zeta_plot(prof, ["tau"])
    with pytest.raises(TypeError, match="Profile"):
        zeta_plot(object())
    plt.close("all")

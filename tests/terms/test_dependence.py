"""Dependent random-effects columns are refused, by formula and by terms built elsewhere."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from sklmixed import GeneralizedLinearMixedModel, LinearMixedModel
from sklmixed.terms import ArrayColumns, FeTerm, GroupingFactor, ReMat, check_independent


@pytest.fixture(scope="module")
def data(sleepstudy):
    rng = np.random.default_rng(0)
    return sleepstudy.assign(c=2.5, z0=0.0, b=rng.binomial(1, 0.5, len(sleepstudy)),
                             other=np.arange(len(sleepstudy)) % 4)


@pytest.mark.parametrize("bars, column, why", [
    ("(1|subj) + (1|subj)", "(Intercept)", "depends on the columns before it"),
    ("(1|subj/subj)", "(Intercept)", r"same groups \('subj', 'subj:subj'\)"),
    ("(days|subj) + (days|subj)", "(Intercept)", "depends on the columns before it"),
    ("(1 + c|subj)", "c", "random slope of a constant"),
    ("(1|subj) + (0 + c|subj)", "c", "depends on the columns before it"),
    ("(0 + z0|subj)", "z0", "is all zero"),
    ("(1 + z0|subj)", "z0", "is all zero"),
])
@pytest.mark.parametrize("model", ["lmm", "glmm"])
def test_dependent_random_effects_are_refused(data, bars, column, why, model):
    with pytest.raises(ValueError, match=rf"random-effects column '{re_escape(column)}' of .*{why}"):
        if model == "lmm":
            LinearMixedModel(f"reaction ~ 1 + days + {bars}", data)
        else:
            GeneralizedLinearMixedModel(f"b ~ 1 + days + {bars}", data)


def re_escape(text):
    import re

    return re.escape(text)


@pytest.mark.parametrize("bars", ["(1|subj) + (0 + days|subj)", "(days||subj)", "(1|subj) + (1|other)",
                                  "(1|subj/other)", "(1 + days|subj) + (1|subj:other)"])
def test_independent_terms_are_accepted(data, bars):
    m = LinearMixedModel(f"reaction ~ 1 + days + {bars}", data)
    check_independent(m.reterms)


def test_terms_built_from_arrays_are_checked_too(data):
    codes = data["subj"].cat.codes.to_numpy()
    grouping = GroupingFactor(("subj",), pd.Index(data["subj"].cat.categories))
    z = np.column_stack([np.ones(len(data)), np.full(len(data), 3.0)])
    remat = ReMat(grouping, codes, [ArrayColumns(z, ["(Intercept)", "three"])])
    fe = FeTerm(np.column_stack([np.ones(len(data)), data["days"]]), ["(Intercept)", "days"])
    with pytest.raises(ValueError, match="'three' of \\(1 \\+ three \\| subj\\)"):
        LinearMixedModel.from_terms(data["reaction"].to_numpy(), fe, [remat])


def test_the_check_is_quick_for_many_observations():
    rng = np.random.default_rng(1)
    n = 200_000
    d = pd.DataFrame({"g": rng.integers(0, 500, n), "h": rng.integers(0, 50, n), "x": rng.normal(size=n)})
    d["y"] = d["x"] + rng.normal(size=n)
    m = LinearMixedModel("y ~ 1 + x + (1 + x|g) + (1|h)", d)
    import time

    t = time.perf_counter()
    check_independent(m.reterms)
    assert time.perf_counter() - t < 1.0

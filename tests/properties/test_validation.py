"""Bad input to the formula interface: every kind gets a clear error that names the problem.

``CASES`` lists one representative call per kind of bad input with the exception and
(a pattern of) the message the user sees; ``bad_input_messages()`` renders the same table
with the actual messages.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from sklmixed import GeneralizedLinearMixedModel, LinearMixedModel, load_dataset
from sklmixed.exceptions import RankDeficiencyWarning

LMM = LinearMixedModel
GLMM = GeneralizedLinearMixedModel
F = "reaction ~ 1 + days + (1|subj)"


def _sleep():
    return load_dataset("sleepstudy").copy()


def _counts(n=120, seed=0):
    rng = np.random.default_rng(seed)
    d = pd.DataFrame({"g": np.repeat([f"g{k}" for k in range(12)], n // 12), "x": rng.normal(size=n)})
    d["y"] = rng.binomial(1, 1 / (1 + np.exp(-d["x"])))
    d["c"] = rng.poisson(np.exp(0.5 + 0.3 * d["x"]))
    d["trials"] = rng.integers(1, 6, n)
    d["p"] = rng.binomial(d["trials"], 0.4) / d["trials"]
    return d


def _with(data, col, rows, value):
    data = data.copy()
    if not isinstance(value, float) or not np.isnan(value):
        data[col] = data[col].astype(object) if value is None else data[col].astype(float)
    else:
        data[col] = data[col].astype(float)
    data.loc[rows, col] = value
    return data


def _fitted_lmm():
    return LMM(F, _sleep()).fit(progress=False)


def _fitted_glmm():
    return GLMM("y ~ 1 + x + (1|g)", _counts()).fit(fast=True, progress=False)


def _optimizer(name):
    m = LMM(F, _sleep())
    m.optsum.optimizer = name
    return m.fit(progress=False)


# (kind of bad input, call, exception, message pattern)
CASES = [
    # ---------------------------------------------------------------- missing and non-finite values
    ("missing values in the response", lambda: LMM(F, _with(_sleep(), "reaction", [1, 2], np.nan)),
     ValueError, r"missing or non-finite values in column\(s\) 'reaction' \(2\); remove those rows or pass "
                 r"missing='drop'"),
    ("infinite value in a fixed-effects column", lambda: LMM(F, _with(_sleep(), "days", [4], np.inf)),
     ValueError, r"'days' \(1\)"),
    ("missing level of a grouping factor", lambda: LMM(F, _with(_sleep(), "subj", [0, 5, 9], None)),
     ValueError, r"'subj' \(3\)"),
    ("missing values in several columns",
     lambda: LMM(F, _with(_with(_sleep(), "reaction", [1], np.nan), "subj", [2, 3], None)),
     ValueError, r"'subj' \(2\), 'reaction' \(1\)|'reaction' \(1\), 'subj' \(2\)"),
    ("missing values in a weights column", lambda: LMM(F, _sleep().assign(w=np.r_[np.nan, np.ones(179)]),
                                                       weights="w"),
     ValueError, r"'w' \(1\)"),
    ("missing values in a weights array", lambda: LMM(F, _sleep(), weights=np.r_[np.nan, np.inf, np.ones(178)]),
     ValueError, r"weights has 2 missing or non-finite values"),
    ("missing values in an offset array",
     lambda: GLMM("c ~ 1 + x + (1|g)", _counts(), family="poisson", offset=np.r_[np.nan, np.zeros(119)]),
     ValueError, r"offset has 1 missing or non-finite values"),
    ("non-finite transformed response", lambda: LMM("log(r) ~ 1 + days + (1|subj)",
                                                    _sleep().assign(r=np.r_[0.0, -1.0, np.ones(178)])),
     ValueError, r"the response 'log\(r\)' is missing or non-finite in 2 row\(s\)"),
    ("non-finite transformed fixed-effects column", lambda: LMM("reaction ~ 1 + np.log(days) + (1|subj)", _sleep()),
     ValueError, r"fixed-effects column\(s\) 'np.log\(days\)' \(18\) have non-finite values"),
    ("non-finite transformed random-effects column",
     lambda: LMM("reaction ~ 1 + (1 + np.log(days)|subj)", _sleep()),
     ValueError, r"'np.log\(days\)' \(18\) of random-effects term"),
    ("unknown missing= option", lambda: LMM(F, _sleep(), missing="omit"),
     ValueError, r"missing must be 'raise' or 'drop', got 'omit'"),
    ("every row incomplete with missing='drop'",
     lambda: LMM(F, _sleep().assign(reaction=np.nan), missing="drop"),
     ValueError, r"no complete rows remain after dropping the 180 row\(s\)"),
    # ---------------------------------------------------------------- shapes and lengths
    ("weights of the wrong length", lambda: LMM(F, _sleep(), weights=np.ones(3)),
     ValueError, r"weights has 3 entries but the data has 180 rows"),
    ("two-dimensional weights", lambda: LMM(F, _sleep(), weights=np.ones((180, 2))),
     ValueError, r"weights must be one-dimensional, got shape \(180, 2\)"),
    ("offset of the wrong length", lambda: GLMM("c ~ 1 + x + (1|g)", _counts(), family="poisson",
                                                offset=np.zeros(3)),
     ValueError, r"offset must have one entry per row of the data \(120\), got shape \(3,\)"),
    ("empty data", lambda: LMM(F, _sleep().iloc[:0]), ValueError, r"data has no rows"),
    ("data that is not a DataFrame", lambda: LMM(F, [[1, 2], [3, 4]]),
     TypeError, r"data must be a pandas DataFrame, got list"),
    # ---------------------------------------------------------------- formulas and columns
    ("unknown column in the fixed effects", lambda: LMM("reaction ~ 1 + dayz + (1|subj)", _sleep()),
     ValueError, r"uses column\(s\) \['dayz'\] not in the data; available: \['subj', 'days', 'reaction'\]"),
    ("unknown grouping factor", lambda: LMM("reaction ~ 1 + days + (1|subject)", _sleep()),
     ValueError, r"\['subject'\] not in the data"),
    ("unknown random-slope column", lambda: LMM("reaction ~ 1 + days + (1 + hours|subj)", _sleep()),
     ValueError, r"\['hours'\] not in the data"),
    ("unknown response column", lambda: LMM("rt ~ 1 + days + (1|subj)", _sleep()),
     ValueError, r"\['rt'\] not in the data"),
    ("unknown weights column", lambda: LMM(F, _sleep(), weights="wt"), ValueError, r"\['wt'\] not in the data"),
    ("unknown offset column", lambda: GLMM("c ~ 1 + x + (1|g)", _counts(), family="poisson", offset="exposure"),
     ValueError, r"\['exposure'\] not in the data"),
    ("unknown contrasts column", lambda: LMM(F, _sleep(), contrasts={"dose": "sum"}),
     ValueError, r"contrasts names column 'dose', which is not in the data"),
    ("unknown contrast coding", lambda: LMM("reaction ~ 1 + subj + (1|subj)", _sleep(), contrasts={"subj": "bogus"}),
     ValueError, r"unknown contrast coding 'bogus' for 'subj'"),
    ("formula without random effects", lambda: LMM("reaction ~ 1 + days", _sleep()),
     ValueError, r"has no random-effects term such as \(1 \| g\)"),
    ("unbalanced parentheses", lambda: LMM("reaction ~ days + (1|subj", _sleep()),
     ValueError, r"unbalanced parentheses"),
    ("formula that is not a string", lambda: LMM(3, _sleep()), TypeError, r"formula must be a string, got int"),
    ("same column on both sides of a bar", lambda: LMM("reaction ~ 1 + (1 + subj|subj)", _sleep()),
     ValueError, r"uses \['subj'\] on both sides of the bar"),
    # ---------------------------------------------------------------- responses and families
    ("non-numeric response (LMM)", lambda: LMM(F, _sleep().assign(reaction="fast")),
     TypeError, r"the response 'reaction' must be numeric for a linear mixed model"),
    ("Bernoulli response not 0/1", lambda: GLMM("c ~ 1 + x + (1|g)", _counts()),
     ValueError, r"a Bernoulli response must be 0 or 1 \(or a two-level factor\); \d+ value\(s\) are not"),
    ("Bernoulli factor with three levels",
     lambda: GLMM("k ~ 1 + x + (1|g)", _counts().assign(k=np.resize(["a", "b", "c"], 120))),
     ValueError, r"a Bernoulli response needs exactly two levels; 'k' has 3"),
    ("negative Poisson response", lambda: GLMM("c ~ 1 + x + (1|g)", _counts().assign(c=lambda d: d["c"] - 3),
                                               family="poisson"),
     ValueError, r"a Poisson response must be a non-negative whole number"),
    ("non-integer Poisson response", lambda: GLMM("c ~ 1 + x + (1|g)", _counts().assign(c=lambda d: d["c"] + 0.5),
                                                  family="poisson"),
     ValueError, r"a Poisson response must be a non-negative whole number"),
    ("binomial response above 1", lambda: GLMM("trials ~ 1 + x + (1|g)", _counts(), family="binomial"),
     ValueError, r"a Binomial response must be a proportion in \[0, 1\]"),
    ("binomial successes not whole", lambda: GLMM("p ~ 1 + x + (1|g)", _counts(), family="binomial",
                                                  weights=_counts()["trials"] + 0.5),
     ValueError, r"must be whole numbers of successes"),
    ("zero or negative weights", lambda: LMM(F, _sleep(), weights=np.r_[0.0, -1.0, np.ones(178)]),
     ValueError, r"weights must be positive; 2 are zero or negative"),
    ("unknown family", lambda: GLMM("y ~ 1 + x + (1|g)", _counts(), family="gaussian"),
     ValueError, r"unknown family 'gaussian'; choose one of \['bernoulli', 'binomial', 'gamma', 'inverse_gaussian', "
     r"'negative_binomial', 'poisson'\]"),
    ("link the family does not allow", lambda: GLMM("c ~ 1 + x + (1|g)", _counts(), family="poisson", link="logit"),
     ValueError, r"the logit link is not available for the Poisson family"),
    ("unknown link", lambda: GLMM("c ~ 1 + x + (1|g)", _counts(), family="poisson", link="loglog"),
     ValueError, r"unknown link"),
    # ---------------------------------------------------------------- fitting options
    ("nagq not an integer", lambda: GLMM("y ~ 1 + x + (1|g)", _counts()).fit(nagq=2.5, progress=False),
     ValueError, r"nagq must be a positive integer, got 2.5"),
    ("nagq of zero", lambda: GLMM("y ~ 1 + x + (1|g)", _counts()).fit(nagq=0, progress=False),
     ValueError, r"nagq must be a positive integer, got 0"),
    ("nagq > 1 with a vector-valued term", lambda: GLMM("y ~ 1 + x + (1 + x|g)", _counts()).fit(nagq=5, progress=False),
     ValueError, r"nagq > 1\) needs a single scalar random-effects term such as \(1\|g\)"),
    ("nagq > 1 with two terms",
     lambda: GLMM("y ~ 1 + x + (1|g) + (1|h)", _counts().assign(h=np.tile([0, 1, 2], 40))).fit(nagq=3, progress=False),
     ValueError, r"needs a single scalar random-effects term"),
    ("unknown optimizer name", lambda: _optimizer("BOBYQA"),
     ValueError, r"unknown optimizer 'BOBYQA'; choose one of the derivative-free NLopt algorithms: LN_BOBYQA"),
    ("fitting twice", lambda: _fitted_lmm().fit(progress=False),
     ValueError, r"already been fit; use refit\(\)"),
    ("refit with a response of the wrong length", lambda: _fitted_lmm().refit(np.ones(3), progress=False),
     ValueError, r"y must have 180 entries, got shape \(3,\)"),
    ("refit with missing values", lambda: _fitted_lmm().refit(np.r_[np.nan, np.ones(179)], progress=False),
     ValueError, r"y has missing or non-finite values"),
    ("results before fitting", lambda: LMM(F, _sleep()).coef(),
     ValueError, r"has not been fit yet; call fit\(\) first"),
    # ---------------------------------------------------------------- prediction
    ("predict without a fixed-effects column", lambda: _fitted_lmm().predict(_sleep()[["subj"]]),
     ValueError, r"new data for the fixed effects lacks the column\(s\) \['days'\]; available: \['subj'\]"),
    ("predict without a grouping column", lambda: _fitted_lmm().predict(_sleep()[["days"]]),
     ValueError, r"new data lacks the grouping column\(s\) \['subj'\]"),
    ("predict with missing values", lambda: _fitted_lmm().predict(_with(_sleep(), "days", [0, 1], np.nan)),
     ValueError, r"new data for the fixed effects has missing or non-finite values in column\(s\) 'days' \(2\)"),
    ("predict with an unseen categorical level",
     lambda: LMM("reaction ~ 1 + period + (1|subj)", _sleep().assign(period=lambda d: np.where(d["days"] < 5, "early",
                                                                                                "late")))
     .fit(progress=False).predict(_sleep().assign(period="never")),
     ValueError, r"categorical levels not seen in fitting"),
    ("predict with a column of the wrong type", lambda: _fitted_lmm().predict(_sleep().assign(days="many")),
     ValueError, r"cannot encode new data for the fixed effects"),
    ("predict with unseen levels when asked to refuse them",
     lambda: _fitted_lmm().predict(_sleep().assign(subj="S999"), new_levels="error"),
     ValueError, r"180 row\(s\) have levels of 'subj' not seen in fitting"),
    ("predict with an unknown new_levels option", lambda: _fitted_lmm().predict(_sleep(), new_levels="zero"),
     ValueError, r"new_levels must be 'population' or 'error', got 'zero'"),
    ("predict on a numpy array", lambda: _fitted_lmm().predict(_sleep().to_numpy()),
     TypeError, r"data must be a pandas DataFrame, got ndarray"),
    ("GLMM predict with an unknown type", lambda: _fitted_glmm().predict(_counts(), type="probability"),
     ValueError, r"type must be 'response' or 'link', got 'probability'"),
    ("GLMM predict with an offset of the wrong length", lambda: _fitted_glmm().predict(_counts(), offset=np.ones(3)),
     ValueError, r"offset must be a number or have one entry per row of data \(120\), got shape \(3,\)"),
    # ---------------------------------------------------------------- data that cannot be fit
    ("constant response (LMM)", lambda: LMM(F, _sleep().assign(reaction=250.0)).fit(progress=False),
     ValueError, r"the response 'reaction' is constant; there is nothing to fit"),
    ("response a linear function of the fixed effects",
     lambda: LMM(F, _sleep().assign(reaction=lambda d: 200 + 3 * d["days"])).fit(progress=False),
     ValueError, r"the fixed effects fit the response 'reaction' exactly"),
    ("as many fixed effects as observations", lambda: LMM(F, _sleep().iloc[:2]).fit(progress=False),
     ValueError, r"2 fixed-effects coefficients for 2 observation\(s\)"),
    ("one observation per level (LMM)",
     lambda: LMM("reaction ~ 1 + days + (1|obs)", _sleep().assign(obs=np.arange(180))).fit(progress=False),
     ValueError, r"the grouping factor 'obs' has 180 levels for 180 observations: its variance cannot be told apart "
                 r"from the residual variance"),
    ("as many random effects as observations (LMM)",
     lambda: LMM("reaction ~ 1 + days + (1 + days|pair)", _sleep().assign(pair=np.arange(180) // 2))
     .fit(progress=False),
     ValueError, r"the random-effects term \(\(Intercept\) \+ days \| pair\) has 180 random effects \(2 for each of 90 "
                 r"levels\) for 180 observations"),
    ("constant response (GLMM)", lambda: GLMM("y ~ 1 + x + (1|g)", _counts().assign(y=0)),
     ValueError, r"the response 'y' is constant \(every value is 0\): the fixed effects fit it exactly"),
]


@pytest.mark.parametrize("kind, call, exc, pattern", CASES, ids=[c[0] for c in CASES])
def test_bad_input_gets_a_clear_error(kind, call, exc, pattern):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RankDeficiencyWarning)
        warnings.simplefilter("ignore", RuntimeWarning)  # numpy's log(0) in a transformed column
        with pytest.raises(exc, match=pattern) as info:
            call()
    # raised at the boundary, with a message of its own, not from numpy, scipy, formulaic or NLopt
    assert isinstance(info.value, (ValueError, TypeError))
    assert not isinstance(info.value, np.linalg.LinAlgError)  # sklmixed's PosDefError is one
    assert info.value.__traceback__ is not None
    last = info.traceback[-1].path
    assert "sklmixed" in str(last), f"raised from {last}"


def bad_input_messages() -> list[tuple[str, str, str]]:
    """``(kind, exception type, message)`` for every case of ``CASES``."""
    out = []
    for kind, call, _exc, _pattern in CASES:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                call()
        except Exception as err:  # noqa: BLE001 - the message is what is collected
            out.append((kind, type(err).__name__, str(err)))
        else:
            out.append((kind, "(no error)", ""))
    return out


# ---------------------------------------------------------------------- missing="drop"
@pytest.mark.parametrize("model", ["lmm", "glmm"])
def test_missing_drop_warns_with_the_count(model):
    if model == "lmm":
        data = _with(_with(_sleep(), "reaction", [3, 7, 9], np.nan), "subj", [20], None)
        with pytest.warns(UserWarning, match=r"dropped 4 of 180 row\(s\) with missing or non-finite values in "
                                             r"column\(s\) 'subj' \(1\), 'reaction' \(3\)"):
            m = LMM(F, data, missing="drop")
        assert (m.n_dropped, m.nobs) == (4, 176)
    else:
        data = _with(_counts(), "x", [0, 1], np.inf)
        with pytest.warns(UserWarning, match=r"dropped 2 of 120 row\(s\)"):
            m = GLMM("y ~ 1 + x + (1|g)", data, missing="drop")
        assert (m.n_dropped, m.nobs) == (2, 118)


def test_missing_drop_is_silent_when_nothing_is_dropped():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        m = LMM(F, _sleep().assign(unused=np.nan), missing="drop")
    assert m.n_dropped == 0


def test_missing_drop_aligns_weights_and_offset_arrays():
    data = _with(_counts(), "x", [5, 17], np.nan)
    off = np.linspace(-0.2, 0.2, len(data))
    with pytest.warns(UserWarning, match="dropped 2"):
        m = GLMM("c ~ 1 + x + (1|g)", data, family="poisson", offset=off, weights=data["trials"].to_numpy(float),
                 missing="drop")
    keep = data["x"].notna().to_numpy()
    ref = GLMM("c ~ 1 + x + (1|g)", data[keep].reset_index(drop=True), family="poisson", offset=off[keep],
               weights=data["trials"].to_numpy(float)[keep])
    np.testing.assert_array_equal(m.offset, ref.offset)
    np.testing.assert_array_equal(m.prior, ref.prior)
    assert m.objective_at([0.7], [0.4, 0.3]) == ref.objective_at([0.7], [0.4, 0.3])


# ---------------------------------------------------------------------- things that are not errors
def test_predict_with_no_rows_gives_no_predictions():
    m = _fitted_lmm()
    assert m.predict(_sleep().iloc[:0]).shape == (0,)


def test_predict_ignores_extra_columns_and_missing_values_there():
    m = _fitted_lmm()
    data = _sleep()
    extra = data.assign(unused=np.nan, reaction=np.nan)
    np.testing.assert_array_equal(m.predict(extra), m.predict(data))


def test_dict_data_is_accepted():
    data = _sleep()
    m = LMM(F, {c: data[c].to_numpy() for c in data.columns})
    assert m.nobs == 180

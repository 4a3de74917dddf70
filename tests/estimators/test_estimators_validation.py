"""Bad input to the estimators: every kind gets a clear error that names the problem.

Messages of scikit-learn's own validation (lengths, empty arrays, feature names) are kept;
missing values in X, y, sample_weight and groups are reported with the column, the count
and the rows. ``CASES`` lists one call per kind of bad input with the message pattern;
``bad_input_messages()`` renders the table with the actual messages.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from sklmixed import (
    GeneralizedMixedClassifier,
    GeneralizedMixedRegressor,
    LinearMixedRegressor,
    RankDeficiencyWarning,
    load_dataset,
)
from sklmixed.exceptions import PopulationPredictionWarning

LMR = LinearMixedRegressor
GMC = GeneralizedMixedClassifier
GMR = GeneralizedMixedRegressor


def _sleep():
    d = load_dataset("sleepstudy")
    return d[["days"]].copy(), d["reaction"].copy(), d["subj"].copy()


def _X(**changes):
    X = _sleep()[0].astype({"days": float})
    for col, (rows, value) in changes.items():
        if value is None:
            X[col] = X[col].astype(object)
        X.loc[rows, col] = value
    return X


def _y():
    return _sleep()[1]


def _g():
    return _sleep()[2]


def _binary():
    return (_y() > 300).to_numpy()


def _with_kind():
    X = _X()
    X["kind"] = np.resize(np.array(["a", "b", "c"], dtype=object), len(X))
    return X


def _fitted(est=None, X=None, groups="subj"):
    est = LMR() if est is None else est
    X = _X() if X is None else X
    y = _binary() if isinstance(est, GMC) else _y()
    return est.fit(X, y, groups=_g() if groups == "subj" else groups)


def _nan_at(values, rows, value=np.nan):
    values = np.array(values, dtype=float if value is not None else object)
    values[rows] = value
    return values


CASES = [
    # ---------------------------------------------------------------- missing and non-finite values
    ("NaN in a column of X", lambda: LMR().fit(_X(days=([3], np.nan)), _y(), groups=_g()),
     r"Input X contains NaN or infinity: 1 missing or non-finite value\(s\) in column 'days' \(1\); first in row 3"),
    ("infinity in a numpy X", lambda: LMR().fit(_nan_at(_X().to_numpy(), [5, 6], np.inf), _y(), groups=_g()),
     r"Input X contains NaN or infinity: 2 missing or non-finite value\(s\) in column 0 \(2\); first in rows 5, 6"),
    ("None in a text column of X", lambda: LMR().fit(_with_kind().assign(kind=lambda d: d["kind"].where(d.index > 0)),
                                                     _y(), groups=_g()),
     r"column 'kind' \(1\); first in row 0"),
    ("NaN in y", lambda: LMR().fit(_X(), _nan_at(_y(), [3, 8]), groups=_g()),
     r"Input y contains NaN or infinity: 2 missing or non-finite value\(s\), in rows 3, 8"),
    ("None among class labels", lambda: GMC().fit(_X(), np.where(np.arange(180) == 4, None,
                                                                 np.where(_binary(), "yes", "no")), groups=_g()),
     r"Input y contains NaN or infinity: 1 missing or non-finite value\(s\), in row 4"),
    ("NaN in sample_weight", lambda: LMR().fit(_X(), _y(), groups=_g(), sample_weight=_nan_at(np.ones(180), [0])),
     r"Input sample_weight contains NaN or infinity: 1 missing or non-finite value\(s\), in row 0"),
    ("negative sample_weight", lambda: LMR().fit(_X(), _y(), groups=_g(), sample_weight=np.r_[-1.0, np.ones(179)]),
     r"Negative values in data passed to `sample_weight`"),
    ("missing group labels", lambda: LMR().fit(_X(), _y(), groups=_g().astype(object).where(_g().index % 50 != 0)),
     r"groups column 'subj' has missing values: 4, in rows 0, 50, 100, 150; every sample needs a level"),
    ("missing labels in the second grouping factor",
     lambda: LMR().fit(_X(), _y(), groups=pd.DataFrame({"subj": _g(), "day": _nan_at(_X()["days"] // 3, [7])})),
     r"groups column 'day' has missing values: 1, in row 7"),
    ("missing labels in a grouping column of X",
     lambda: LMR(group_columns=["subj"]).fit(_X().assign(subj=_g().astype(object).where(_g().index > 1)), _y()),
     r"Input X contains NaN or infinity: 2 missing or non-finite value\(s\) in column 'subj' \(2\)"),
    # ---------------------------------------------------------------- shapes and lengths
    ("X and y of different lengths", lambda: LMR().fit(_X(), _y()[:10], groups=_g()),
     r"Found input variables with inconsistent numbers of samples: \[180, 10\]"),
    ("groups of the wrong length", lambda: LMR().fit(_X(), _y(), groups=_g()[:10]),
     r"groups has 10 rows but X has 180 samples"),
    ("sample_weight of the wrong length", lambda: LMR().fit(_X(), _y(), groups=_g(), sample_weight=np.ones(3)),
     r"sample_weight.shape == \(3,\), expected \(180,\)"),
    ("three-dimensional groups", lambda: LMR().fit(_X(), _y(), groups=np.zeros((180, 1, 1))),
     r"groups must be 1-D \(one grouping factor\) or 2-D \(one column per factor\), got an array of shape "
     r"\(180, 1, 1\)"),
    ("two-dimensional y", lambda: LMR().fit(_X(), np.column_stack([_y(), _y()]), groups=_g()),
     r"y should be a 1d array, got an array of shape \(180, 2\) instead"),
    ("no samples", lambda: LMR().fit(_X().iloc[:0], _y().iloc[:0], groups=_g().iloc[:0]),
     r"Found array with 0 sample\(s\) \(shape=\(0, 1\)\) while a minimum of 1 is required"),
    ("no features", lambda: LMR().fit(np.zeros((180, 0)), _y(), groups=_g()),
     r"Found array with 0 feature\(s\) \(shape=\(180, 0\)\) while a minimum of 1 is required"),
    ("no fixed effects at all", lambda: LMR(group_columns=["subj"], fit_intercept=False).fit(
        _X().assign(subj=_g())[["subj"]], _y()),
     r"there are no fixed effects"),
    ("groups given twice", lambda: LMR(group_columns=["subj"]).fit(_X().assign(subj=_g()), _y(), groups=_g()),
     r"groups were given both as the group_columns of X and as the groups argument"),
    ("unknown group column", lambda: LMR(group_columns=["subject"]).fit(_X().assign(subj=_g()), _y()),
     r"group_columns names column 'subject', which is not in X"),
    # ---------------------------------------------------------------- targets
    ("more than two classes", lambda: GMC().fit(_X(), np.arange(180) % 3, groups=_g()),
     r"Only binary classification is supported. The type of the target is multiclass"),
    ("a single class", lambda: GMC().fit(_X(), np.full(180, "yes"), groups=_g()),
     r"GeneralizedMixedClassifier needs samples of two classes; y has only one class: \['yes'\]"),
    ("a single class with non-zero weight", lambda: GMC().fit(_X(), _binary(), groups=_g(),
                                                              sample_weight=_binary().astype(float)),
     r"only one class is left after leaving out the samples with zero sample_weight"),
    ("continuous target for the classifier", lambda: GMC().fit(_X(), np.linspace(0, 1, 180), groups=_g()),
     r"Unknown label type"),
    ("negative Poisson response", lambda: GMR().fit(_X(), -_y(), groups=_g()),
     r"Some value\(s\) of y are negative which is not allowed for the Poisson family"),
    ("binomial response above 1", lambda: GMR(family="binomial").fit(_X(), _y(), groups=_g()),
     r"a Binomial response must be a proportion in \[0, 1\] with the numbers of trials as weights; 180 value\(s\)"),
    ("Bernoulli response not 0/1", lambda: GMR(family="bernoulli").fit(_X(), _y(), groups=_g()),
     r"a Bernoulli response must be 0 or 1"),
    ("constant response", lambda: LMR().fit(_X(), np.full(180, 250.0), groups=_g()),
     r"the response 'y' is constant; there is nothing to fit"),
    ("all-zero counts", lambda: GMR().fit(_X(), np.zeros(180), groups=_g()),
     r"the response 'y' is constant \(every value is 0\): the fixed effects fit it exactly"),
    ("one sample per group (linear)", lambda: LMR().fit(_X(), _y(), groups=np.arange(180)),
     r"the grouping factor 'group' has 180 levels for 180 observations: its variance cannot be told apart"),
    # ---------------------------------------------------------------- hyper-parameters
    ("nagq of zero", lambda: GMC(nagq=0).fit(_X(), _binary(), groups=_g()),
     r"nagq must be a positive integer, got 0"),
    ("nagq not an integer", lambda: GMC(nagq=2.0).fit(_X(), _binary(), groups=_g()),
     r"nagq must be an int, got 2.0"),
    ("nagq > 1 with random slopes", lambda: GMC(nagq=5, random_slopes=["days"]).fit(_X(), _binary(), groups=_g()),
     r"needs a single scalar random-effects term such as \(1\|g\); this model has \['subj S=2'\]"),
    ("nagq > 1 with two grouping factors",
     lambda: GMC(nagq=5).fit(_X(), _binary(), groups=pd.DataFrame({"subj": _g(), "day": _X()["days"] // 3})),
     r"needs a single scalar random-effects term"),
    ("nagq > 1 without groups", lambda: GMC(nagq=3).fit(_X(), _binary()),
     r"nagq=3 \(adaptive Gauss-Hermite quadrature\) needs a grouping factor, but fit got no groups"),
    ("unknown optimizer", lambda: LMR(optimizer="bobyqa").fit(_X(), _y(), groups=_g()),
     r"unknown optimizer 'bobyqa'; choose one of the derivative-free NLopt algorithms"),
    ("negative tolerance", lambda: LMR(ftol_abs=-1.0).fit(_X(), _y(), groups=_g()),
     r"ftol_abs must be >= 0, got -1.0"),
    ("maxfeval not an integer", lambda: LMR(maxfeval=10.5).fit(_X(), _y(), groups=_g()),
     r"maxfeval must be an int, got 10.5"),
    ("unknown family", lambda: GMR(family="gamma").fit(_X(), _y(), groups=_g()),
     r"family must be one of \['poisson', 'binomial', 'bernoulli'\], got 'gamma'"),
    ("link the family does not allow", lambda: GMR(link="logit").fit(_X(), _y().round(), groups=_g()),
     r"the logit link is not available for the Poisson family; choose one of \['log', 'identity', 'sqrt'\]"),
    ("link that is not a name", lambda: GMR(link=3).fit(_X(), _y().round(), groups=_g()),
     r"link must be a str or None, got 3"),
    # ---------------------------------------------------------------- predicting with other features
    ("predict with a renamed column", lambda: _fitted().predict(_X().rename(columns={"days": "day"}), groups=_g()),
     r"The feature names should match those that were passed during fit"),
    ("predict with an extra column", lambda: _fitted().predict(_X().assign(extra=1.0), groups=_g()),
     r"Feature names unseen at fit time:\n- extra"),
    ("predict with another number of features", lambda: _fitted(X=_X().to_numpy()).predict(np.zeros((3, 2))),
     r"X has 2 features, but LinearMixedRegressor is expecting 1 features as input"),
    ("predict with another number of grouping factors",
     lambda: _fitted().predict(_X(), groups=pd.DataFrame({"a": _g(), "b": _g()})),
     r"groups has 2 column\(s\), but the model was fit with 1 grouping factor\(s\) \['subj'\]"),
    ("predict with NaN in X", lambda: _fitted().predict(_X(days=([0, 1, 2], np.nan)), groups=_g()),
     r"Input X contains NaN or infinity: 3 missing or non-finite value\(s\) in column 'days' \(3\)"),
    ("predict with an unseen category", lambda: _fitted(X=_with_kind()).predict(_with_kind().assign(kind="z"),
                                                                                  groups=_g()),
     r"X column 'kind' has categories not seen in fit: \['z'\]"),
    ("predict with groups of the wrong length", lambda: _fitted().predict(_X(), groups=_g()[:5]),
     r"groups has 5 rows but X has 180 samples"),
    ("predict with groups besides group_columns",
     lambda: LMR(group_columns=["subj"]).fit(_X().assign(subj=_g()), _y()).predict(_X().assign(subj=_g()),
                                                                                   groups=_g()),
     r"this estimator takes its groups from the group_columns of X; do not pass groups as well"),
]


@pytest.mark.parametrize("kind, call, pattern", CASES, ids=[c[0] for c in CASES])
def test_bad_input_gets_a_clear_error(kind, call, pattern):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RankDeficiencyWarning)
        with pytest.raises(ValueError, match=pattern) as info:
            call()
    assert not isinstance(info.value, np.linalg.LinAlgError)  # sklmixed's PosDefError is one


def bad_input_messages() -> list[tuple[str, str, str]]:
    """``(kind, exception type, message)`` for every case of ``CASES``."""
    out = []
    for kind, call, _pattern in CASES:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                call()
        except Exception as err:  # noqa: BLE001 - the message is what is collected
            out.append((kind, type(err).__name__, str(err)))
        else:
            out.append((kind, "(no error)", ""))
    return out


# ---------------------------------------------------------------------- sound answers, not errors
def test_missing_group_labels_at_predict_give_the_population_prediction():
    reg = _fitted()
    groups = _g().astype(object).where(_g().index % 2 == 0)
    pred = reg.predict(_X(), groups=groups)
    with pytest.warns(PopulationPredictionWarning, match="predict got no groups"):
        np.testing.assert_allclose(pred[1::2], reg.predict(_X())[1::2])
    np.testing.assert_allclose(pred[::2], reg.model_.fitted()[::2])


@pytest.mark.parametrize("est", [GMC(), GMR()])
def test_one_sample_per_group_is_allowed_for_glmms(est):
    y = _binary() if isinstance(est, GMC) else np.random.default_rng(0).poisson(3, 180)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est.fit(_X(), y, groups=np.arange(180))
    assert np.all(np.isfinite(est.theta_)) and np.isfinite(est.model_.objective)
    assert np.all(np.isfinite(est.predict(_X(), groups=np.arange(180))))


def test_single_group_fits():
    reg = LMR(random_slopes=["days"]).fit(_X(), _y(), groups=np.zeros(180))
    assert np.all(np.isfinite(reg.theta_)) and np.isfinite(reg.model_.objective)
    clf = GMC().fit(_X(), _binary(), groups=np.zeros(180))
    assert np.all(np.isfinite(clf.predict_proba(_X(), groups=np.zeros(180))))

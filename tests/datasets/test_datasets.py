"""Tests for sklmixed.datasets."""

from __future__ import annotations

import doctest
import filecmp
from pathlib import Path

import pandas as pd
import pytest

import sklmixed.datasets
from sklmixed.datasets import list_datasets, load_dataset

SHARED_REFERENCE = (
    Path(__file__).resolve().parents[2].parent / "shared" / "reference" / "reference_fits.csv"
)
LOCAL_REFERENCE = Path(__file__).resolve().parents[1] / "data" / "reference_fits.csv"

ALL_DATASETS = ["dyestuff", "dyestuff2", "insteval", "pastes", "penicillin", "sleepstudy", "verbagg"]

SHAPES = {
    "dyestuff": (30, 2),
    "dyestuff2": (30, 2),
    "sleepstudy": (180, 3),
    "penicillin": (144, 3),
    "pastes": (60, 4),
    "insteval": (73421, 7),
    "verbagg": (7584, 9),
}

# Columns expected to be categorical / numeric in each dataset.
CATEGORICAL = {
    "dyestuff": ["batch"],
    "dyestuff2": ["batch"],
    "sleepstudy": ["subj"],
    "penicillin": ["plate", "sample"],
    "pastes": ["batch", "cask", "sample"],
    "insteval": ["s", "d", "studage", "lectage", "service", "dept"],
    "verbagg": ["gender", "item", "resp", "subj", "btype", "situ", "mode", "r2"],
}
NUMERIC = {
    "dyestuff": ["yield"],
    "dyestuff2": ["yield"],
    "sleepstudy": ["days", "reaction"],
    "penicillin": ["diameter"],
    "pastes": ["strength"],
    "insteval": ["y"],
    "verbagg": ["anger"],
}

LEVELS = [
    ("dyestuff", "batch", 6),
    ("dyestuff2", "batch", 6),
    ("sleepstudy", "subj", 18),
    ("insteval", "s", 2972),
    ("insteval", "d", 1128),
    ("insteval", "dept", 14),
    ("insteval", "studage", 4),
    ("insteval", "lectage", 6),
    ("insteval", "service", 2),
    ("verbagg", "subj", 316),
    ("verbagg", "item", 24),
    ("penicillin", "plate", 24),
    ("penicillin", "sample", 6),
    ("pastes", "batch", 10),
    ("pastes", "cask", 3),
    ("pastes", "sample", 30),
]


def test_list_datasets():
    names = list_datasets()
    assert names == ALL_DATASETS
    assert names == sorted(names)
    # a fresh list each call
    names.append("bogus")
    assert "bogus" not in list_datasets()


@pytest.mark.parametrize("name", ALL_DATASETS)
def test_shape(name):
    assert load_dataset(name).shape == SHAPES[name]


@pytest.mark.parametrize("name", ALL_DATASETS)
def test_dtypes(name):
    df = load_dataset(name)
    assert sorted(df.columns) == sorted(CATEGORICAL[name] + NUMERIC[name])
    for col in CATEGORICAL[name]:
        dtype = df[col].dtype
        assert isinstance(dtype, pd.CategoricalDtype), (name, col, dtype)
        assert not dtype.ordered
        cats = list(dtype.categories)
        assert cats == sorted(cats), (name, col)
        assert not df[col].isna().any()
    for col in NUMERIC[name]:
        assert pd.api.types.is_numeric_dtype(df[col].dtype), (name, col, df[col].dtype)
        assert not isinstance(df[col].dtype, pd.CategoricalDtype)


@pytest.mark.parametrize(("name", "column", "nlevels"), LEVELS)
def test_level_counts(name, column, nlevels):
    df = load_dataset(name)
    assert len(df[column].cat.categories) == nlevels
    # every level is used
    assert df[column].nunique() == nlevels


def test_specific_levels():
    insteval = load_dataset("insteval")
    assert list(insteval["service"].cat.categories) == ["N", "Y"]
    assert list(insteval["studage"].cat.categories) == [2, 4, 6, 8]
    assert list(insteval["lectage"].cat.categories) == [1, 2, 3, 4, 5, 6]
    verbagg = load_dataset("verbagg")
    assert list(verbagg["btype"].cat.categories) == ["curse", "scold", "shout"]
    assert list(verbagg["situ"].cat.categories) == ["other", "self"]
    assert list(verbagg["gender"].cat.categories) == ["F", "M"]
    assert list(verbagg["r2"].cat.categories) == ["N", "Y"]
    assert list(verbagg["resp"].cat.categories) == ["no", "perhaps", "yes"]
    sleepstudy = load_dataset("sleepstudy")
    assert sorted(sleepstudy["days"].unique().tolist()) == list(range(10))


def test_known_values():
    dyestuff = load_dataset("dyestuff")
    assert dyestuff["yield"].mean() == pytest.approx(1527.5)
    sleepstudy = load_dataset("sleepstudy")
    assert sleepstudy["reaction"].mean() == pytest.approx(298.50789, rel=1e-6)
    penicillin = load_dataset("penicillin")
    assert penicillin["diameter"].mean() == pytest.approx(22.972222, rel=1e-6)


@pytest.mark.parametrize("bad", ["nosuchdata", "sleep study", ""])
def test_unknown_name(bad):
    with pytest.raises(ValueError) as excinfo:
        load_dataset(bad)
    message = str(excinfo.value)
    assert repr(bad) in message
    for name in ALL_DATASETS:
        assert name in message


def test_non_string_name():
    with pytest.raises(TypeError):
        load_dataset(3)


def test_case_insensitive():
    pd.testing.assert_frame_equal(load_dataset("SleepStudy"), load_dataset("sleepstudy"))


def test_returns_independent_copies():
    first = load_dataset("sleepstudy")
    original = first.copy()
    first.loc[0, "reaction"] = -1.0
    first["days"] = 0
    first["subj"] = first["subj"].cat.rename_categories(lambda s: "X" + s)
    first["extra"] = 1
    second = load_dataset("sleepstudy")
    assert second is not first
    pd.testing.assert_frame_equal(second, original)


def test_session_fixtures(dyestuff, dyestuff2, sleepstudy, penicillin, pastes, insteval, verbagg):
    frames = {
        "dyestuff": dyestuff,
        "dyestuff2": dyestuff2,
        "sleepstudy": sleepstudy,
        "penicillin": penicillin,
        "pastes": pastes,
        "insteval": insteval,
        "verbagg": verbagg,
    }
    for name, frame in frames.items():
        assert frame.shape == SHAPES[name]


def test_reference_fits_fixture(reference_fits):
    assert set(reference_fits) >= {"dyestuff_ml", "sleepstudy_ml", "verbagg_laplace"}
    for fit_id, fit in reference_fits.items():
        assert fit["id"] == fit_id
        assert fit["dataset"] in ALL_DATASETS
        assert isinstance(fit["objective"], float)
        assert all(isinstance(v, float) for v in fit["theta"])
        assert all(isinstance(v, float) for v in fit["beta"])
    sleep = reference_fits["sleepstudy_ml"]
    assert sleep["theta"] == pytest.approx([0.929191, 0.018166, 0.222643])
    assert sleep["beta"] == pytest.approx([251.405105, 10.467286])
    assert sleep["evals_reference"] == 57
    assert reference_fits["dyestuff2_ml"]["theta"] == [0.0]
    assert reference_fits["verbagg_laplace"]["sigma"] is None
    assert reference_fits["verbagg_laplace"]["evals_reference"] is None


@pytest.mark.skipif(not SHARED_REFERENCE.is_file(), reason="../shared not available")
def test_reference_copy_up_to_date():
    assert filecmp.cmp(SHARED_REFERENCE, LOCAL_REFERENCE, shallow=False)


def test_docstring_examples():
    result = doctest.testmod(sklmixed.datasets, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0
    assert result.failed == 0

"""Shared pytest fixtures: the bundled datasets and the reference fits."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest

from sklmixed.datasets import load_dataset

import _hypothesis_profiles  # noqa: E402,F401  (registers and loads the hypothesis profile)

_TESTS_DIR = Path(__file__).resolve().parent
# CI runs a clean clone with ``../shared`` beside the repository.
SHARED_REFERENCE = (
    Path(__file__).resolve().parents[1].parent / "shared" / "reference" / "reference_fits.csv"
)
# Copy kept in the repository so the tests work from any checkout.
LOCAL_REFERENCE = _TESTS_DIR / "data" / "reference_fits.csv"


def reference_fits_path() -> Path:
    """The reference-fits CSV: ``../shared`` if present, else the bundled copy."""
    return SHARED_REFERENCE if SHARED_REFERENCE.is_file() else LOCAL_REFERENCE


def _float_list(cell: str) -> list[float] | None:
    cell = cell.strip()
    if not cell:
        return None
    return [float(v) for v in cell.split(";") if v.strip()]


def _float_or_none(cell: str) -> float | None:
    cell = cell.strip()
    return float(cell) if cell else None


def _int_or_none(cell: str) -> int | None:
    cell = cell.strip()
    if not cell:
        return None
    value = float(cell)
    return int(value) if math.isfinite(value) else None


def parse_reference_fits(path: Path) -> dict[str, dict]:
    """Parse the reference-fits CSV into ``{id: record}``.

    ``theta`` and ``beta`` become lists of floats, ``objective`` and ``sigma``
    floats, ``evals_reference`` an int; empty cells become ``None``.
    """
    table = pd.read_csv(path, dtype=str, keep_default_na=False)
    fits: dict[str, dict] = {}
    for row in table.to_dict(orient="records"):
        record = {key: value.strip() for key, value in row.items()}
        record["objective"] = _float_or_none(row["objective"])
        record["theta"] = _float_list(row["theta"])
        record["beta"] = _float_list(row["beta"])
        record["sigma"] = _float_or_none(row["sigma"])
        record["evals_reference"] = _int_or_none(row["evals_reference"])
        fits[record["id"]] = record
    return fits


@pytest.fixture(scope="session")
def reference_fits() -> dict[str, dict]:
    """Reference fits keyed by ``id`` (see ``../shared/reference/README.md``)."""
    return parse_reference_fits(reference_fits_path())


@pytest.fixture(scope="session")
def dyestuff() -> pd.DataFrame:
    return load_dataset("dyestuff")


@pytest.fixture(scope="session")
def dyestuff2() -> pd.DataFrame:
    return load_dataset("dyestuff2")


@pytest.fixture(scope="session")
def sleepstudy() -> pd.DataFrame:
    return load_dataset("sleepstudy")


@pytest.fixture(scope="session")
def penicillin() -> pd.DataFrame:
    return load_dataset("penicillin")


@pytest.fixture(scope="session")
def pastes() -> pd.DataFrame:
    return load_dataset("pastes")


@pytest.fixture(scope="session")
def insteval() -> pd.DataFrame:
    return load_dataset("insteval")


@pytest.fixture(scope="session")
def verbagg() -> pd.DataFrame:
    return load_dataset("verbagg")


@pytest.fixture(scope="session")
def binomial_data() -> pd.DataFrame:
    """Simulated binomial counts with 20 groups (the data of tests/data/glmm_lme4_reference.json)."""
    return pd.read_csv(_TESTS_DIR / "data" / "glmm_binomial.csv")


@pytest.fixture(scope="session")
def poisson_data() -> pd.DataFrame:
    """Simulated Poisson counts with 20 groups (the data of tests/data/glmm_lme4_reference.json)."""
    return pd.read_csv(_TESTS_DIR / "data" / "glmm_poisson.csv")


@pytest.fixture(scope="session")
def dask_client():
    """A ``distributed`` LocalCluster of two in-process workers and its client (skipped without Dask)."""
    pytest.importorskip("dask.dataframe")
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None) \
            as cluster, distributed.Client(cluster) as client:
        yield client

"""Dask stays optional: importing and using sklmixed in memory never imports it."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_sklmixed_works_without_importing_dask():
    code = ("import sys; import sklmixed; from sklmixed import LinearMixedModel, LinearMixedRegressor, load_dataset; "
            "d = load_dataset('sleepstudy'); LinearMixedModel('reaction ~ 1 + days + (1|subj)', d).fit(progress=False); "
            "LinearMixedRegressor(group_columns=['subj']).fit(d[['days', 'subj']], d['reaction']).predict(d[['days', 'subj']]); "
            "import sklmixed.outofcore, sklmixed.estimators._partitioned; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('dask', 'distributed')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                         env={"PYTHONPATH": str(ROOT), "PATH": ""}, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_the_dask_extra_is_declared_and_tested_in_ci():
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    extras = {name: set(re.findall(r'"([^"]+)"', items)) for name, items in re.findall(r"^(\w+) = \[(.*)\]$", text, re.M)}
    assert {"dask[dataframe]", "distributed"} <= extras["dask"] <= extras["test"]

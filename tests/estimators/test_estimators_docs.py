"""The docstring examples of the estimators and the example script run."""

import doctest
import runpy
from pathlib import Path

import pytest

import sklmixed.estimators._classifier
import sklmixed.estimators._generalized
import sklmixed.estimators._linear
import sklmixed.estimators._scoring

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "estimators_pipeline.py"


@pytest.mark.parametrize("module", [sklmixed.estimators._linear, sklmixed.estimators._generalized,
                                    sklmixed.estimators._classifier, sklmixed.estimators._scoring],
                         ids=lambda m: m.__name__)
def test_docstring_examples(module):
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE, verbose=False,
                             report=False)
    assert result.attempted > 0
    assert result.failed == 0, f"{result.failed} docstring example(s) of {module.__name__} failed"


def test_example_script(capsys):
    runpy.run_path(str(EXAMPLE), run_name="__main__")
    out = capsys.readouterr().out
    assert "how groups are passed" in out
    trap = next(line for line in out.splitlines() if "no routing" in line)
    assert "[] (no random effects)" in trap
    group_columns = next(line for line in out.splitlines() if "group_columns + GridSearchCV" in line)
    assert "[0.929, 0.018, 0.223]" in group_columns
    # the trap and the scorer by name say so; the routes that deliver groups do not warn
    assert "NoRandomEffectsWarning" in trap
    by_name = next(line for line in out.splitlines() if "scoring='r2'" in line)
    assert "PopulationPredictionWarning" in by_name
    grouped = next(line for line in out.splitlines() if "get_scorer('r2')" in line)
    known = next(line for line in out.splitlines() if "group_columns + cross_validate" in line)
    assert grouped.split()[-5] == known.split()[-5]  # the same R², either route
    assert float(by_name.split()[-5]) < float(known.split()[-5]) - 0.3  # population level
    for line in (group_columns, grouped, known):
        assert line.rstrip().endswith("-")

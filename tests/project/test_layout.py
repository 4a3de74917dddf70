"""The tree reads as the method: no import cycles, small modules, old paths deprecated loudly,
and every docstring example runs."""

from __future__ import annotations

import ast
import doctest
import importlib
import pkgutil
import warnings
from pathlib import Path

import pytest

import sklmixed

PACKAGE = Path(sklmixed.__file__).resolve().parent


def _modules():
    return sorted(info.name for info in pkgutil.walk_packages([str(PACKAGE)], prefix="sklmixed.")
                  if not info.name.startswith("sklmixed._deprecated"))


def _imports(path: Path, name: str, modules) -> set:
    """The sklmixed modules a module imports at its top level (relative imports).

    ``from .x import y`` imports module ``x.y`` if there is one, else module ``x``; a module's
    own enclosing packages are being imported already and are not edges.
    """
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out = set()
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.level:
            base = package.split(".")[: len(package.split(".")) - node.level + 1]
            target = ".".join(base + ([node.module] if node.module else []))
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                out.add(sub if sub in modules else target)
    return {t for t in out if t in modules and t != name and not name.startswith(t + ".")}


def test_no_import_cycles():
    files = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        files[name] = path
    graph = {name: _imports(path, name, files) for name, path in files.items()}
    state, cycles = {}, []

    def visit(node, stack):
        state[node] = "open"
        for nxt in graph[node]:
            if state.get(nxt) == "open":
                cycles.append(stack[stack.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt, stack + [nxt])
        state[node] = "done"

    for node in graph:
        if node not in state:
            visit(node, [node])
    assert cycles == []


def test_modules_are_small():
    sizes = {str(p.relative_to(PACKAGE)): len(p.read_text(encoding="utf-8").splitlines())
             for p in PACKAGE.rglob("*.py")}
    assert {name: n for name, n in sizes.items() if n > 460} == {}


@pytest.mark.parametrize("module", _modules())
def test_docstring_examples_run(module, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    mod = importlib.import_module(module)
    result = doctest.testmod(mod, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE, verbose=False,
                             report=False)
    assert result.failed == 0


@pytest.mark.parametrize("old, name", [("linearmixedmodel", "LinearMixedModel"), ("blocks", "PosDefError"),
                                       ("cholesky", "BlockedCholesky"), ("optimizer", "optimize"),
                                       ("families", "get_family"), ("remat", "GroupingFactor"),
                                       ("data", "prepare_data"), ("mixedmodel", "NotFittedError")])
def test_old_module_paths_still_import_with_a_warning(old, name):
    import sys

    sys.modules.pop(f"sklmixed.{old}", None)
    with pytest.warns(FutureWarning, match=f"sklmixed.{old} is deprecated"):
        module = importlib.import_module(f"sklmixed.{old}")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert getattr(module, name) is not None
    with pytest.raises(AttributeError):
        module.no_such_name  # noqa: B018


def test_public_names():
    for name in sklmixed.__all__:
        assert getattr(sklmixed, name) is not None
    from sklmixed.exceptions import NotFittedError, PosDefError  # noqa: F401
    from sklmixed.plotting import caterpillar, plot_convergence, shrinkage  # noqa: F401

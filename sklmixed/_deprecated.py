"""Module paths of sklmixed 0.1's flat layout, kept importable with a ``FutureWarning``.

The package was reorganised by stage of the method (``formula``, ``terms``, ``linalg``,
``glm``, ``optim``, ``models``, ``report``). Code that imported a module of the old layout
(``from sklmixed.linearmixedmodel import LinearMixedModel``) keeps working: the old name is
an alias of a module that looks its attributes up in the new modules, and importing it says
where they went. Everything public is, as before, importable from ``sklmixed`` itself.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
import types
import warnings

__all__ = ["MOVED", "install"]

#: old module (under ``sklmixed.``) -> the modules its names now live in
MOVED = {
    "blocks": ("linalg.blocks", "linalg.kernels", "linalg.dense", "exceptions"),
    "cholesky": ("linalg.factor", "linalg.symbolic"),
    "data": ("formula.frame", "formula.design"),
    "display": ("report.summary",),
    "families": ("glm.families",),
    "fixed": ("terms.feterm", "formula.design"),
    "gausshermite": ("glm.gausshermite",),
    "generalizedlinearmixedmodel": ("models.generalized",),
    "linearmixedmodel": ("models.linear",),
    "links": ("glm.links",),
    "lrt": ("models.lrt",),
    "mixedmodel": ("models.mixedmodel", "exceptions"),
    "optimizer": ("optim.driver", "optim.nlopt", "optim.threads"),
    "optsummary": ("optim.optsummary",),
    "remat": ("terms.remat", "terms.grouping", "formula.design"),
}


class _Alias(types.ModuleType):
    def __init__(self, name, targets):
        super().__init__(name)
        self.__targets = targets

    def __getattr__(self, attr):
        for target in self.__targets:
            module = importlib.import_module(f"sklmixed.{target}")
            if hasattr(module, attr):
                return getattr(module, attr)
        raise AttributeError(f"module {self.__name__!r} has no attribute {attr!r}")


class _Finder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(self, fullname, path, target=None):
        head, _, tail = fullname.partition(".")
        if head == "sklmixed" and tail in MOVED:
            return importlib.util.spec_from_loader(fullname, self)
        return None

    def create_module(self, spec):
        old = spec.name.partition(".")[2]
        new = ", ".join(f"sklmixed.{t}" for t in MOVED[old])
        warnings.warn(f"the module {spec.name} is deprecated: its contents moved to {new} (the public names are "
                      "importable from sklmixed itself)", FutureWarning, stacklevel=2)
        return _Alias(spec.name, MOVED[old])

    def exec_module(self, module):
        pass


def install() -> None:
    """Make the old module paths importable (once)."""
    if not any(isinstance(f, _Finder) for f in sys.meta_path):
        sys.meta_path.append(_Finder())

"""Packages that export names without importing the modules behind them until a name is used
(PEP 562): the router, gateway and worker front-end import the plain types they need without
pulling in torch through a package's other exports."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any


def lazy_getattr(package: str, homes: dict[str, str]) -> Callable[[str], Any]:
    """A module `__getattr__` for `package`: `homes` maps each exported name to the module that
    defines it (".submodule" relative to `package`, or an absolute name)."""

    def __getattr__(name: str) -> Any:
        home = homes.get(name)
        if home is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(home, package), name)

    return __getattr__

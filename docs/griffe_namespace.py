"""A griffe extension for the API reference: the folders that install as ``coordrl.agents``
and ``coordrl.envs`` (pyproject.toml's ``package-dir``) are found where setuptools puts them.

griffe reads the ``coordrl`` package from ``coordrl/`` and would look for ``coordrl.agents``
in ``coordrl/agents/``; this attaches ``agents/`` and ``envs/`` (each mapped subpackage whose
folder has an ``__init__.py``) under their installed names. mkdocs.yml names it.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import griffe

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]


class CoordrlNamespace(griffe.Extension):
    def on_package(self, *, pkg: griffe.Module, loader: griffe.GriffeLoader, **kwargs: Any) -> None:
        if pkg.name != "coordrl":
            return
        setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
        for dotted, folder in setuptools["package-dir"].items():
            parent, _, name = dotted.rpartition(".")
            if parent == "coordrl" and (ROOT / folder / "__init__.py").is_file():
                module = loader.load(ROOT / folder)
                module.name = name
                pkg.set_member(name, module)

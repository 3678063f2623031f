"""``lint-imports`` on coordrl as it installs: pyproject.toml's import contracts (the floors).

import-linter finds a package's modules in its folder, but agents/ and envs/ are not inside
coordrl/: they install as coordrl.agents and coordrl.envs (the package-dir mapping). So the
sources are copied into a temporary folder in that installed layout and the contracts are
checked there. ``python .ci/lint_imports.py [ROOT]`` checks the checkout at ROOT (default:
this one); its exit code is lint-imports' (0: every contract kept).
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: pytest's own dependency
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]


def lay_out(root: Path, into: Path) -> None:
    """Copy ``root``'s Python sources into ``into`` as they install (``coordrl.agents`` from
    agents/ as coordrl/agents/, ...): the package-dir mapping of its pyproject.toml."""
    setuptools = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]
    for package, folder in setuptools["package-dir"].items():
        target = into.joinpath(*package.split("."))
        for source in (root / folder).rglob("*.py"):
            relative = source.relative_to(root / folder)
            (target / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target / relative)


def lint(root: Path) -> int:
    """lint-imports' exit code for the checkout at ``root``, with its own contracts."""
    from importlinter.cli import lint_imports

    with tempfile.TemporaryDirectory() as folder:
        lay_out(root, Path(folder))
        # lint-imports looks for packages in its working folder first, then on the path
        # (where an editable install would find agents/ and envs/ under their own names)
        previous = Path.cwd()
        os.chdir(folder)
        try:
            return lint_imports(
                config_filename=str(root / "pyproject.toml"), no_cache=True, no_logo=True
            )
        finally:
            os.chdir(previous)


if __name__ == "__main__":
    sys.exit(lint(Path(sys.argv[1]).resolve() if len(sys.argv) > 1 else ROOT))

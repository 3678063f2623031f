"""Package-level contracts: the public names, one namespace, and the import floors."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: pytest's own dependency
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
SETUPTOOLS = PYPROJECT["tool"]["setuptools"]


def test_public_names():
    import coordrl
    from coordrl.extractors import CoordNatureCNN, NatureCNN, make_policy_kwargs

    assert {"AddCoords", "CoordConv2d", "coordify"} <= set(coordrl.__all__)
    assert callable(make_policy_kwargs) and issubclass(CoordNatureCNN, NatureCNN)


def test_import_coordrl_pulls_in_no_trainer_env_or_atari():
    code = (
        "import sys, coordrl; "
        "print(sorted(m for m in ('stable_baselines3', 'gymnasium', 'ale_py', 'cv2', "
        "'coordrl.agents', 'coordrl.envs', 'agents', 'envs') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def _package_dirs() -> dict[str, Path]:
    """Every package the repository holds, by its installed name (the package-dir mapping)."""
    found = {}
    for name, folder in SETUPTOOLS["package-dir"].items():
        for init in sorted((ROOT / folder).rglob("__init__.py")):
            relative = init.parent.relative_to(ROOT / folder)
            found[".".join([name, *relative.parts])] = init.parent
    return found


def test_every_package_folder_installs_and_nothing_under_a_bare_name():
    assert sorted(SETUPTOOLS["packages"]) == sorted(_package_dirs())
    assert all(p == "coordrl" or p.startswith("coordrl.") for p in SETUPTOOLS["packages"])


def test_the_checkout_folders_refuse_their_bare_names():
    for bare in ("agents", "envs"):
        result = subprocess.run(
            [sys.executable, "-c", f"import {bare}"], cwd=ROOT, capture_output=True, text=True
        )
        assert result.returncode != 0
        assert f"this folder installs as coordrl.{bare}" in result.stderr


def test_gymnasium_registration_follows_its_convention():
    code = (
        "import gymnasium as gym, coordrl.envs; gym.register_envs(coordrl.envs); "
        "print(sorted(i for i in gym.registry if i.startswith('coordrl/')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    games = ("Asterix", "Breakout", "Freeway", "Seaquest", "SpaceInvaders")
    minatar = [f"coordrl/MinAtar-{game}-v0" for game in games]
    assert out.stdout.strip() == str([*minatar, "coordrl/Navigate-v0", "coordrl/Point-v0"])


def _imports(path: Path) -> set[str]:
    """Every module a file imports, at the top or inside a function."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add(node.module)
    return found


# the floors, bottom up: the library, the envs, the agents, the command
FLOORS = {
    "library": ("coordrl.agents", "coordrl.envs", "coordrl.cli", "coordrl.commands"),
    "envs": ("coordrl.agents", "coordrl.cli", "coordrl.commands"),
    "agents": ("coordrl.cli", "coordrl.commands"),
}


def _floor(package: str) -> str | None:
    if package.startswith(("coordrl.envs", "coordrl.agents")):
        return package.split(".")[1]
    if package.startswith("coordrl.commands") or package == "coordrl.configs":
        return None
    return "library"


@pytest.mark.parametrize("package", sorted(_package_dirs()))
def test_no_import_runs_up_the_floors(package):
    floor = _floor(package)
    if floor is None:
        return
    folder = _package_dirs()[package]
    for path in folder.glob("*.py"):
        if package == "coordrl" and path.name == "cli.py":
            continue  # the command itself, the top floor
        above = {m for m in _imports(path) if m.startswith(FLOORS[floor])}
        assert not above, f"{path.relative_to(ROOT)} ({floor}) imports {sorted(above)}"

"""Package-level contracts: the public names, one namespace, and the import floors
(pyproject.toml's import-linter contracts)."""

from __future__ import annotations

import shutil
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


LINT_IMPORTS = ROOT / ".ci" / "lint_imports.py"  # pyproject.toml's contracts, as installed


def lint_imports(root: Path) -> subprocess.CompletedProcess:
    """The floors' contracts checked on the checkout at ``root`` (as CI checks this one)."""
    command = [sys.executable, str(LINT_IMPORTS), str(root)]
    return subprocess.run(command, capture_output=True, text=True, timeout=120)


def test_the_tree_keeps_the_floors():
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


# (file, code appended to it, what the check must name): up a floor (in a function too),
# across independent siblings, torch under the config
UPWARD = [
    ("coordrl/config.py", "def up():\n    from coordrl.agents import trainers\n", "coordrl.agents"),
    ("envs/toy/targets.py", "from coordrl.toy.data import make_dataset\n", "coordrl.toy"),
    ("agents/sweep.py", "from coordrl.commands import train\n", "coordrl.commands"),
    ("coordrl/runs.py", "from coordrl.cli import main\n", "coordrl.cli"),
    ("coordrl/toy/plots.py", "from coordrl.analysis import stats\n", "coordrl.analysis"),
    ("coordrl/sweeps.py", "from coordrl.extractors import ARCHS\n", "torch"),
]


@pytest.mark.parametrize(("path", "code", "named"), UPWARD)
def test_the_floors_check_fails_on_an_import_that_breaks_them(tmp_path, path, code, named):
    for folder in ("coordrl", "agents", "envs", "configs"):
        shutil.copytree(ROOT / folder, tmp_path / folder, ignore=shutil.ignore_patterns("*.pyc"))
    shutil.copyfile(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    assert lint_imports(tmp_path).returncode == 0  # the copy as it is keeps them
    with (tmp_path / path).open("a") as f:
        f.write(f"\n\n{code}")
    result = lint_imports(tmp_path)
    assert result.returncode != 0, result.stdout
    assert f"is not allowed to import {named}:" in result.stdout, result.stdout

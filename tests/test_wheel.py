"""coordrl installed as a user installs it: a wheel in a fresh venv, used from another project.

The venv reuses this environment's packages (torch and the rest) through a ``.pth`` line, so
nothing is downloaded twice; coordrl itself comes from the wheel only. The user's project has
its own ``envs/`` and ``agents/`` folders, and PyPI's ``envs`` package is installed beside
coordrl for the second round: none of them may shadow or be shadowed by coordrl's.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ("pyproject.toml", "README.md", "coordrl", "agents", "envs", "configs")

pytestmark = pytest.mark.slow


def sh(*args: str | Path, cwd: Path, timeout: int = 600) -> str:
    """Run a command; its output, or a failure that shows it."""
    result = subprocess.run(
        [str(a) for a in args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "PYTHONNOUSERSITE": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1"},
    )
    assert result.returncode == 0, f"{args}:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result.stdout


def build_wheel(tmp: Path) -> Path:
    """The wheel, built from a copy of the sources (the checkout stays untouched)."""
    source = tmp / "source"
    source.mkdir()
    for name in SOURCES:
        if (ROOT / name).is_dir():
            shutil.copytree(
                ROOT / name, source / name, ignore=shutil.ignore_patterns("__pycache__")
            )
        else:
            shutil.copy2(ROOT / name, source / name)
    dist = tmp / "dist"
    sh(
        sys.executable,
        "-m",
        "pip",
        "wheel",
        "--no-deps",
        "--no-build-isolation",
        "-w",
        dist,
        ".",
        cwd=source,
    )
    (wheel,) = dist.glob("coordrl-*.whl")
    return wheel


def fresh_venv(tmp: Path) -> Path:
    """A new venv that sees this one's packages (torch, pip...) but not its coordrl: no
    packages of its own, so nothing there (an older setuptools) shadows this one's."""
    venv = tmp / "venv"
    sh(sys.executable, "-m", "venv", "--without-pip", venv, cwd=tmp)
    python = venv / "bin" / "python"
    site = Path(
        sh(
            python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])", cwd=tmp
        ).strip()
    )
    (site / "borrowed.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return venv


def user_project(tmp: Path) -> Path:
    """A researcher's project folder, with its own envs/ and agents/ packages."""
    project = tmp / "project"
    for name in ("envs", "agents"):
        (project / name).mkdir(parents=True)
        (project / name / "__init__.py").write_text(f"WHO = 'the project\\'s own {name}'\n")
    return project


def use_it(venv: Path, project: Path) -> None:
    """What a new user does: import, list the configs, train Atari and a toy task, evaluate."""
    python, coordrl = venv / "bin" / "python", venv / "bin" / "coordrl"
    where = sh(
        python,
        "-c",
        "import coordrl, coordrl.envs, coordrl.agents, envs, agents; "
        "print(coordrl.__file__); print(coordrl.envs.__file__); print(envs.WHO, agents.WHO)",
        cwd=project,
    ).splitlines()
    site = str(venv)
    assert where[0].startswith(site) and where[1].startswith(site), where
    assert where[2] == "the project's own envs the project's own agents"
    listed = sh(coordrl, "configs", cwd=project)
    assert "atari/ppo" in listed and "toy/point" in listed and "sweeps/toyrl" in listed
    before = set((project / "runs").rglob("config.yaml")) if (project / "runs").exists() else set()
    out = sh(coordrl, "train", "--timesteps", "512", "--device", "cpu", cwd=project)
    assert "done: 1,024 steps" in out  # one PPO rollout: 8 envs x 128 steps
    out = sh(
        coordrl,
        "train",
        "--config",
        "toy/point",
        "--timesteps",
        "512",
        "--device",
        "cpu",
        cwd=project,
    )
    assert "done: 2,048 steps" in out  # one rollout: 256 envs x 8 steps
    new = sorted(p.parent for p in set((project / "runs").rglob("config.yaml")) - before)
    atari, toy = (next(p for p in new if family in p.parts) for family in ("atari", "toyrl"))
    out = sh(coordrl, "evaluate", atari, "--episodes", "2", "--device", "cpu", cwd=project)
    assert "ALE/Breakout-v5, 2 games: mean" in out
    out = sh(coordrl, "evaluate", toy, "--episodes", "100", "--device", "cpu", cwd=project)
    assert "held-out positions" in out and "training positions" in out


def test_the_wheel_installs_and_runs_outside_the_checkout(tmp_path):
    wheel = build_wheel(tmp_path)
    names = zipfile.ZipFile(wheel).namelist()
    assert not [n for n in names if n.startswith(("agents/", "envs/", "configs/"))]
    assert {
        "coordrl/agents/sb3_trainer.py",
        "coordrl/envs/toy/point.py",
        "coordrl/configs/atari/ppo.yaml",
        "coordrl/configs/sweeps/toyrl.yaml",
    } <= set(names)

    venv = fresh_venv(tmp_path)
    python = venv / "bin" / "python"
    # every dependency is already there: nothing may be downloaded for coordrl
    sh(python, "-m", "pip", "install", "--no-index", wheel, cwd=tmp_path)
    project = user_project(tmp_path)
    use_it(venv, project)

    # PyPI's `envs` (an environment-variable helper) beside coordrl: both keep working
    sh(python, "-m", "pip", "install", "envs", cwd=tmp_path)
    pypi_envs = sh(python, "-c", "import envs; print(envs.__file__)", cwd=tmp_path).strip()
    assert pypi_envs.startswith(str(venv)) and "coordrl" not in pypi_envs
    use_it(venv, project)

"""benchmarks/gpu.py: its CPU dry run works end to end, so the GPU command cannot rot."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def load(name: str):
    """A benchmarks/ module, loaded by path (benchmarks/ stays off sys.path for other tests)."""
    spec = importlib.util.spec_from_file_location(f"benchmarks_{name}", BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


gpu = load("gpu")
PARTS = load("gpu_parts").PARTS


def gpu_py(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(BENCHMARKS / "gpu.py"), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_the_cpu_dry_run_runs_every_part_within_its_budget(tmp_path):
    out = tmp_path / "gpu.json"
    done = gpu_py("--device", "cpu", "--budget-s", "90", "--out", str(out))
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith("device cpu (cpu), torch ")
    report = json.loads(out.read_text())
    assert report["device_name"] == "cpu" and report["torch"] and report["budget_s"] == 90
    assert list(report["parts"]) == list(PARTS)
    statuses = {name: part["status"] for name, part in report["parts"].items()}
    assert all(s in ("ok", "cut short") for n, s in statuses.items() if n in gpu.CORE), statuses
    assert statuses["atari-device"] in ("ok", "cut short"), statuses
    rows = {row["measured"]: row for part in report["parts"].values() for row in part["rows"]}
    assert rows["tests marked cuda: failed"]["value"] == 0
    ratio = rows["CoordConv / conv fwd+bwd, fp32, eager"]
    assert ratio["value"] > 0 and ratio["target"] == "<= 1.05" and ratio["met"] in (True, False)
    assert rows["toy env point, N=64, random actions"]["value"] > 0
    assert rows["on-device PPO / SB3 PPO"]["value"] > 0
    assert rows["Atari PPO fps, CoordConv / conv on cpu"]["value"] > 0
    assert rows["MinAtar breakout, N=64, random actions"]["value"] > 0
    if statuses["atari-device"] == "ok":
        assert rows["Atari PPO, 2 envs: on-device / SB3"]["value"] > 0
        assert rows["Atari A2C, 2 envs: on-device / SB3"]["target"] == ">= 1x"
    if statuses["population"] == "ok":
        assert rows["MinAtar population of 2, breakout, fp32"]["value"] > 0
    assert sum(p["seconds"] for p in report["parts"].values()) < 90 + 30  # one part's grace
    # the table printed last is the one --report prints from the saved JSON
    table = gpu_py("--report", str(out))
    assert table.returncode == 0 and table.stdout.strip() in done.stdout
    assert "| atari-device | " in table.stdout


def test_a_wheelhouse_is_checked_for_what_this_machine_lacks(tmp_path):
    nothing_installed = lambda module: None  # noqa: E731
    assert gpu.missing_from(tmp_path, nothing_installed) == [d for d, _ in gpu.OFFLINE_PACKAGES]
    (tmp_path / "stable_baselines3-2.9.2-py3-none-any.whl").touch()
    (tmp_path / "Farama_Notifications-0.0.6-py3-none-any.whl").touch()
    assert gpu.missing_from(tmp_path, nothing_installed) == ["gymnasium", "ale-py"]
    assert gpu.missing_from(tmp_path) == []  # all importable here


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--budget-s", "0"], "error: --budget-s must be positive, not 0.0"),
        (["--parts", "layers", "warp"], "error: unknown part(s) warp; choose from tests, "),
        (["--device", "cuda:9"], "error: device 'cuda:9' asked for"),
        (["--wheelhouse", "no-such-folder"], "error: --wheelhouse no-such-folder: no such folder"),
    ],
)
def test_bad_input_is_one_error_line(args, message):
    done = gpu_py(*args, timeout=60)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.startswith(message) and done.stderr.count("\n") == 1, done.stderr

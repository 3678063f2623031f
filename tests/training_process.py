"""``train.py`` as a separate process, for the tests that signal, kill or race a training run."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from coordrl.runs import list_checkpoints

ROOT = Path(__file__).resolve().parents[1]


def start_training(*args: str | Path) -> subprocess.Popen:
    """``python train.py ARGS...``, its output (stdout and stderr) collected as text."""
    return subprocess.Popen(
        [sys.executable, str(ROOT / "train.py"), *map(str, args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def wait_until_learning(run_dir: Path, proc: subprocess.Popen, timeout: float = 120) -> bool:
    """Wait until the run is past start-up (its TensorBoard events exist); False if the
    process ended first."""
    deadline = time.monotonic() + timeout
    while not list(run_dir.glob("events.out.tfevents.*")):
        if proc.poll() is not None:
            return False
        assert time.monotonic() < deadline, "the run never started learning"
        time.sleep(0.1)
    return True


def wait_for_checkpoints(
    run_dir: Path, count: int, proc: subprocess.Popen | None = None, timeout: float = 120
) -> None:
    """Wait until the run holds ``count`` checkpoints (failing if ``proc`` ends first)."""
    deadline = time.monotonic() + timeout
    while len(list_checkpoints(run_dir)) < count:
        assert proc is None or proc.poll() is None, "the run ended before its checkpoints"
        assert time.monotonic() < deadline, "no checkpoint appeared"
        time.sleep(0.2)

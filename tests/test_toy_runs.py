"""Toy RL runs through ``coordrl train`` / ``coordrl evaluate``: on-device PPO and SB3 agents."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from cli_helpers import run
from devices import DEVICES
from training_process import start_training

from coordrl.agents.trainers import preflight, train
from coordrl.config import validate
from coordrl.runs import list_checkpoints

ROOT = Path(__file__).resolve().parents[1]
TINY = {
    "algo": "device_ppo",
    "env": "coordrl/Point-v0",
    "env_kwargs": {"canvas": 36, "bins": 6},
    "timesteps": 2048,
    "n_envs": 64,
    "device": "cpu",
    "checkpoint_every": 512,
    "hyperparams": {"n_steps": 8, "batch_size": 128, "learning_rate": 1e-3},
}


def write(path: Path, **changes) -> Path:
    path.write_text(yaml.safe_dump({**TINY, **changes}))
    return path


@pytest.mark.parametrize("device", DEVICES)
def test_device_ppo_run_then_held_out_evaluation(tmp_path, capsys, device):
    config = write(tmp_path / "c.yaml", device=device)
    code, out, err = run(capsys, "train", "--config", config, "--run-dir", tmp_path / "run")
    assert code == 0, err
    assert "evaluate on held-out positions: coordrl evaluate" in out
    run_dir = tmp_path / "run"
    assert (run_dir / "model.pt").is_file() and list(run_dir.glob("events.out.tfevents.*"))
    rows = (run_dir / "episodes.csv").read_text().splitlines()
    assert rows[0] == "step,env,score,length,success,time"
    assert len(rows) == 1 + 2048  # every pointing episode is one step long
    assert {row.split(",")[4] for row in rows[1:]} <= {"0", "1"}
    code, out, err = run(capsys, "evaluate", run_dir, "--episodes", "200", "--deterministic")
    assert code == 0, err
    assert "held-out positions" in out and "training positions" in out
    result = json.loads((run_dir / "eval" / "model.json").read_text())
    assert result["test"]["episodes"] == 200 and 0 <= result["test"]["success_rate"] <= 1
    assert result["train"]["success_rate"] > result["test"]["success_rate"] - 0.2


@pytest.mark.parametrize("device", DEVICES)
def test_device_ppo_sigterm_then_resume(tmp_path, device):
    config = write(tmp_path / "c.yaml", timesteps=10**7, checkpoint_every=10**9, device=device)
    run_dir = tmp_path / "run"
    proc = start_training("--config", config, "--run-dir", run_dir)
    deadline = time.monotonic() + 120
    while (
        not (run_dir / "episodes.csv").exists()
        or len((run_dir / "episodes.csv").read_text().splitlines()) < 3 * 512
    ):
        assert time.monotonic() < deadline
        time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 0, out
    step = list_checkpoints(run_dir)[-1][0]
    assert step > 0 and not (run_dir / "model.pt").exists()
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "train.py"),
            "--resume",
            str(run_dir),
            "--timesteps",
            str(step + 1024),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert (run_dir / "model.pt").is_file()
    rows = (run_dir / "episodes.csv").read_text().splitlines()[1:]
    steps = [int(row.split(",")[0]) for row in rows]
    assert steps == sorted(steps) and steps[-1] == step + 1024
    assert len(steps) == step + 1024  # no episode lost or logged twice across the resume


def test_sb3_ppo_trains_on_a_toy_env_through_the_adapter(tmp_path, capsys):
    raw = {
        **TINY,
        "algo": "ppo",
        "timesteps": 256,
        "n_envs": 8,
        "hyperparams": {"n_steps": 32, "batch_size": 64},
    }
    config = preflight(validate(raw, "test"), "test")
    outcome = train(config, tmp_path / "run")
    assert outcome.finished and (tmp_path / "run" / "model.zip").is_file()
    code, out, err = run(capsys, "evaluate", tmp_path / "run", "--episodes", "50")
    assert code == 0, err
    assert "held-out positions" in out
    # a config that no longer matches its model is refused, in one line
    saved = yaml.safe_load((tmp_path / "run" / "config.yaml").read_text())
    (tmp_path / "run" / "config.yaml").write_text(yaml.safe_dump({**saved, "arch": "conv"}))
    code, _, err = run(capsys, "evaluate", tmp_path / "run")
    assert code == 2 and "holds a coordconv agent, but its config says arch conv" in err


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        (
            {"env": "coordrl/Pointt-v0"},
            "env: unknown coordrl env 'coordrl/Pointt-v0' (did you mean",
        ),
        ({"backend": "ale"}, "backend: only for Atari envs"),
        ({"env_kwargs": {"canvas": 8}}, "env_kwargs: canvas must be an integer >= 18"),
        ({"env_kwargs": {"canvas": 20}}, "NatureCNN needs images of at least 36x36"),
        ({"env_kwargs": {"bins": "many"}}, "env_kwargs.bins: expected a number, got 'many'"),
        ({"env_kwargs": {"bin": 4}}, "env_kwargs.bin: unknown key (did you mean bins?)"),
        ({"env": "Breakout"}, "env_kwargs: only for coordrl's torch envs (coordrl/*)"),
        (
            {"env": "Breakout", "env_kwargs": {}, "backend": "sb3"},
            "algo: device_ppo steps Atari through ale-py's C++ env: use backend: ale",
        ),
        (
            {"n_envs": 3},
            "hyperparams: n_steps x n_envs (8 x 3) must be a multiple of batch_size (128)",
        ),
        ({"device": "cuda:5"}, "device 'cuda:5'"),
        ({"env_kwargs": {"action": "polar"}}, "env_kwargs.action: expected one of cells, xy"),
        ({"env_kwargs": {"device": "cuda"}}, "env_kwargs.device: unknown key"),
        (
            {"algo": "dqn", "hyperparams": {}, "env_kwargs": {"action": "xy"}},
            "dqn needs discrete actions",
        ),
    ],
)
def test_bad_toy_input_is_one_error_line(tmp_path, capsys, changes, expected):
    config = write(tmp_path / "c.yaml", **changes)
    code, _, err = run(capsys, "train", "--config", config, "--run-dir", tmp_path / "run")
    assert code == 2 and err.startswith("error: ") and len(err.strip().splitlines()) == 1, err
    assert expected in err


def test_an_on_device_run_written_by_coordrl_0_1_is_refused_with_the_reason(tmp_path, capsys):
    config = write(tmp_path / "c.yaml", timesteps=1024)
    run_dir = tmp_path / "run"
    code, _, err = run(capsys, "train", "--config", config, "--run-dir", run_dir)
    assert code == 0, err
    (run_dir / "model.pt").unlink()
    (run_dir / "episodes.csv").rename(run_dir / "rollouts.csv")  # 0.1's per-rollout log
    before = sorted(p.name for p in run_dir.rglob("*"))
    code, _, err = run(capsys, "train", "--resume", run_dir)
    assert code == 2 and err.count("\n") == 1
    assert "written by coordrl 0.1" in err and "train it again" in err
    assert sorted(p.name for p in run_dir.rglob("*")) == before  # nothing touched

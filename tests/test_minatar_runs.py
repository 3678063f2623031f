"""MinAtar through ``coordrl train`` and ``coordrl evaluate``: run directory, scores, errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from cli_helpers import run

TINY = {
    "algo": "device_ppo",
    "env": "coordrl/MinAtar-Breakout-v0",
    "network": "minatar",
    "timesteps": 1024,
    "n_envs": 8,
    "device": "cpu",
    "checkpoint_every": 512,
    "hyperparams": {"n_steps": 16, "batch_size": 32},
}


def write(path: Path, **changes) -> Path:
    path.write_text(yaml.safe_dump({**TINY, **changes}))
    return path


@pytest.mark.parametrize("algo", ["device_ppo", "device_a2c", "a2c"])
def test_a_minatar_run_trains_and_evaluates_by_score(tmp_path, capsys, monkeypatch, algo):
    monkeypatch.chdir(tmp_path)
    hyper = TINY["hyperparams"] if algo == "device_ppo" else {"n_steps": 5}  # A2Cs
    code, out, err = run(
        capsys, "train", "--config", write(tmp_path / "c.yaml", algo=algo, hyperparams=hyper)
    )
    assert code == 0, err
    run_dir = tmp_path / "runs" / "minatar" / f"MinAtar-Breakout-{algo}-coordconv-seed0"
    assert f"evaluate: coordrl evaluate {run_dir.relative_to(tmp_path)}" in out
    rows = (run_dir / "episodes.csv").read_text().splitlines()
    assert rows[0] == "step,env,score,length,success,time" and len(rows) > 1
    code, out, err = run(capsys, "evaluate", run_dir, "--episodes", "30")
    assert code == 0, err
    assert out.startswith("coordrl/MinAtar-Breakout-v0, 30 games: mean ")
    result = json.loads(next((run_dir / "eval").glob("*.json")).read_text())
    assert len(result["scores"]) == 30 and result["mean_return"] >= 0
    code, _, err = run(capsys, "evaluate", run_dir, "--video", tmp_path / "v")
    assert code == 2 and err.startswith("error: --video and --env apply to Atari runs")


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"network": "nature"}, "network: CoordNatureCNN needs images of at least 36x36"),
        ({"env": "coordrl/MinAtar-Pong-v0"}, "env: unknown coordrl env 'coordrl/MinAtar-Pong-v0'"),
        ({"env_kwargs": {"sticky_action_prob": 1.5}}, "sticky_action_prob must be a probability"),
        ({"env_kwargs": {"sticky": 0.1}}, "env_kwargs.sticky: unknown"),
        ({"n_envs": 0}, "n_envs"),
        ({"device": "cuda:7"}, "device 'cuda:7'"),
        ({"repeat_action_probability": 0.1}, "repeat_action_probability: only for Atari envs"),
    ],
)
def test_bad_minatar_input_is_one_error_line(tmp_path, capsys, changes, expected):
    code, _, err = run(capsys, "train", "--config", write(tmp_path / "c.yaml", **changes))
    assert code == 2 and err.startswith("error: ") and err.count("\n") == 1, err
    assert expected in err, err

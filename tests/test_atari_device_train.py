"""The on-device PPO and A2C on Atari: run directories, true scores, resume, evaluation."""

from __future__ import annotations

import csv
import json

import imageio_ffmpeg
import pytest
import torch
import yaml
from atari_helpers import tiny_config, write_config
from cli_helpers import run
from devices import DEVICES
from torch.distributions import Categorical
from training_process import start_training, wait_for_checkpoints

from coordrl.agents.actor_critic import ActorCritic
from coordrl.agents.trainers import make_trainer, preflight, train
from coordrl.config import load_config, validate
from coordrl.runs import TORCH_MODEL, list_checkpoints


def tiny(algo: str, **overrides):
    return preflight(validate(tiny_config(algo, **overrides), "test"), "test")


@pytest.mark.parametrize("arch", ["conv", "coordconv"])
@pytest.mark.parametrize("algo", ["device_ppo", "device_a2c"])
@pytest.mark.parametrize("device", DEVICES)
def test_each_on_device_algorithm_and_arch_trains_on_atari(tmp_path, algo, arch, device):
    config = tiny(algo, arch=arch, timesteps=1200, n_envs=4, device=device)
    run_dir = tmp_path / "run"
    outcome = train(config, run_dir)
    assert outcome.finished and outcome.timesteps >= 1200
    assert load_config(run_dir / "config.yaml") == config
    weights = torch.load(run_dir / TORCH_MODEL, weights_only=True)["model"]
    has_coord = any("coord" in name for name in weights)
    assert has_coord == (arch == "coordconv")
    with (run_dir / "episodes.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert rows, "random Breakout games end within 300 steps per env"
    # whole games: true scores, and lengths longer than one life lasts (Breakout has 5)
    assert all(float(r["score"]) >= 0 for r in rows)
    assert min(int(r["length"]) for r in rows) > 50


def test_on_device_atari_run_resumes_after_sigkill_and_evaluates_with_a_video(tmp_path, capsys):
    config = write_config(
        tmp_path / "c.yaml",
        "device_ppo",
        timesteps=4096,
        n_envs=2,
        checkpoint_every=256,
        keep_checkpoints=50,
    )
    run_dir = tmp_path / "run"
    proc = start_training("--config", config, "--run-dir", run_dir)
    wait_for_checkpoints(run_dir, 2, proc)
    proc.kill()
    proc.wait()
    killed_at = list_checkpoints(run_dir)[-1][0]
    assert killed_at < 4096 and not (run_dir / TORCH_MODEL).exists()

    code, out, err = run(capsys, "train", "--resume", str(run_dir))
    assert code == 0, err
    assert "done: 4,096 steps" in out and (run_dir / TORCH_MODEL).is_file()
    with (run_dir / "episodes.csv").open() as f:
        steps = [int(row["step"]) for row in csv.DictReader(f)]
    assert steps == sorted(steps)

    video_dir = tmp_path / "videos"
    code, out, err = run(
        capsys, "evaluate", str(run_dir), "--episodes", "2", "--video", str(video_dir)
    )
    assert code == 0, err
    assert "ALE/Breakout-v5, 2 games: mean" in out
    result = json.loads((run_dir / "eval" / "model.json").read_text())
    assert len(result["scores"]) == 2 and result["model"].endswith(TORCH_MODEL)
    video = video_dir / "episode-000.mp4"
    frames = imageio_ffmpeg.count_frames_and_secs(str(video))[0]
    assert frames == result["lengths"][0] + 1  # the first screen, then one per agent step


class Greedy(Categorical):
    def sample(self, sample_shape=torch.Size()):  # noqa: B008 (torch's own default)
        return self.logits.argmax(-1)


def test_a_rollout_over_two_emulator_groups_is_the_rollout_over_one(monkeypatch):
    """Stepping half the envs while the network acts on the other half changes the order of
    work, not the rollout (a greedy policy, so both consume no random numbers)."""
    monkeypatch.setattr(
        ActorCritic, "distribution", lambda self, head: Greedy(logits=head, validate_args=False)
    )
    hyper = {"n_steps": 64, "batch_size": 64, "n_epochs": 1}
    config = tiny("device_ppo", n_envs=4, hyperparams=hyper)
    one, two = make_trainer(config), make_trainer(config.replace(env_batch_size=2))
    assert len(one.env.groups) == 1 and len(two.env.groups) == 2
    for trainer in (one, two):
        trainer._obs, _ = trainer.env.reset(seed=0)
        trainer._collect()
    for key in ("obs", "actions", "rewards", "dones"):
        assert torch.equal(one.buffers[key], two.buffers[key]), key
    for key in ("values", "logprobs", "advantages", "returns"):
        torch.testing.assert_close(one.buffers[key], two.buffers[key], atol=1e-5, rtol=0)
    assert torch.equal(one._obs, two._obs)
    assert one.buffers["dones"].any(), "lost lives within 64 steps"
    one.close()
    two.close()


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"env_batch_size": 3}, "env_batch_size (3) must divide n_envs (4)"),
        ({"algo": "a2c", "env_batch_size": 2}, "env_batch_size: only for the on-device algos"),
        ({"env": "coordrl/Point-v0", "env_batch_size": 2}, "env_batch_size: only for Atari"),
    ],
)
def test_bad_emulator_groups_are_one_error_line(tmp_path, capsys, changes, expected):
    changes = dict(changes)  # pytest shares the parameter's dict between runs
    algo = changes.pop("algo", "device_a2c")
    config = tiny_config(algo, n_envs=4, **changes)
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(config))
    code, _, err = run(capsys, "train", "--config", str(path), "--run-dir", str(tmp_path / "r"))
    assert code == 2 and err.count("\n") == 1 and expected in err, err
    assert not (tmp_path / "r").exists()


def test_backend_sb3_is_refused_for_the_on_device_trainers(tmp_path, capsys):
    config = write_config(tmp_path / "c.yaml", "device_a2c", backend="sb3")
    code, _, err = run(capsys, "train", "--config", str(config), "--run-dir", str(tmp_path / "r"))
    assert code == 2 and err.count("\n") == 1
    assert "algo: device_a2c steps Atari through ale-py's C++ env: use backend: ale" in err
    assert not (tmp_path / "r").exists()

"""Training Atari agents into run directories: every algorithm x arch, checkpoints, resume."""

from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
from atari_helpers import tiny_config, write_config
from devices import DEVICES
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from torch.utils.tensorboard import SummaryWriter
from training_process import start_training, wait_for_checkpoints, wait_until_learning

from coordrl.agents.builders import ALGORITHMS, extractor_of
from coordrl.agents.replay import FrameReplayBuffer
from coordrl.agents.sb3_trainer import SB3Trainer
from coordrl.agents.trainers import preflight, train
from coordrl.config import load_config, validate
from coordrl.extractors import CoordNatureCNN, NatureCNN
from coordrl.runs import list_checkpoints, load_newest_checkpoint, write_checkpoint

ROOT = Path(__file__).resolve().parents[1]


def scalars(run_dir: Path, tag: str) -> list[tuple[int, float]]:
    """(step, value) of a TensorBoard tag as TensorBoard shows it (purged events hidden)."""
    events = EventAccumulator(str(run_dir))
    events.Reload()
    return [(e.step, e.value) for e in events.Scalars(tag)]


def tiny(algo: str = "ppo", **overrides):
    """A tiny Breakout config, checked and resolved as ``coordrl train`` does."""
    return preflight(validate(tiny_config(algo, **overrides), "test"), "test")


def restore(config, run_dir: Path) -> tuple[SB3Trainer, int]:
    """A trainer loaded from the newest readable checkpoint, and its step."""
    trainer = SB3Trainer(config, "cpu")
    loaded = load_newest_checkpoint(run_dir, trainer.load_state)
    assert loaded is not None
    return trainer, loaded[1]


def episode_steps(run_dir: Path) -> list[int]:
    with (run_dir / "episodes.csv").open() as f:
        return [int(row["step"]) for row in csv.DictReader(f)]


@pytest.mark.parametrize("arch", ["conv", "coordconv"])
@pytest.mark.parametrize("algo", ["a2c", "ppo", "dqn"])
@pytest.mark.parametrize("device", DEVICES)
def test_each_algorithm_and_arch_trains_into_a_run_directory(tmp_path, algo, arch, device):
    config = tiny(algo, arch=arch, timesteps=400, device=device)
    run_dir = tmp_path / "run"
    outcome = train(config, run_dir)
    assert outcome.finished and outcome.timesteps >= 400
    assert load_config(run_dir / "config.yaml") == config  # the resolved config, re-loadable
    model = ALGORITHMS[algo].load(run_dir / "model.zip", device="cpu")
    assert model.num_timesteps == outcome.timesteps
    assert type(extractor_of(model)) is {"conv": NatureCNN, "coordconv": CoordNatureCNN}[arch]
    assert list(run_dir.glob("events.out.tfevents.*"))
    assert list_checkpoints(run_dir)[-1][0] == outcome.timesteps
    if algo == "dqn":  # Atari's default: each frame stored once, checkpointed by segments
        assert model.replay_buffer_class is FrameReplayBuffer
        assert (list_checkpoints(run_dir)[-1][1] / "replay.json").is_file()


def test_episode_log_holds_true_scores(tmp_path):
    config = tiny("ppo", timesteps=1200, n_envs=4)
    train(config, tmp_path / "run")
    with (tmp_path / "run" / "episodes.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert rows, "random Breakout games end within 1200 steps"
    assert all(float(r["score"]) >= 0 and int(r["length"]) > 0 for r in rows)
    assert {r["success"] for r in rows} == {""}  # Atari defines no success
    steps = [int(r["step"]) for r in rows]
    assert steps == sorted(steps)
    ep_rew = scalars(tmp_path / "run", "rollout/ep_rew_mean")
    assert ep_rew  # the curve of the same true scores


def test_resume_after_sigkill_reaches_the_total_with_one_continuous_curve(tmp_path):
    config = write_config(
        tmp_path / "c.yaml", "ppo", timesteps=1536, checkpoint_every=128, keep_checkpoints=50
    )
    run_dir = tmp_path / "run"
    proc = start_training("--config", str(config), "--run-dir", str(run_dir))
    wait_for_checkpoints(run_dir, 3)
    time.sleep(0.5)  # killed somewhere between checkpoints, events already written
    proc.kill()
    proc.wait()
    killed_at = list_checkpoints(run_dir)[-1][0]
    assert killed_at < 1536

    resumed = start_training("--resume", str(run_dir))
    out, _ = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, out
    assert "done: 1,536 steps" in out
    model = ALGORITHMS["ppo"].load(run_dir / "model.zip", device="cpu")
    assert model.num_timesteps == 1536
    for tag in ("time/fps", "train/learning_rate"):
        steps = [step for step, _ in scalars(run_dir, tag)]
        assert steps == sorted(set(steps)), f"{tag} repeats or goes back: {steps}"
    # the linear schedule goes on from where it was, down towards 0 at step 1536
    rates = [value for _, value in scalars(run_dir, "train/learning_rate")]
    assert rates == sorted(rates, reverse=True) and rates[-1] < 2.5e-4 * 0.2
    steps = episode_steps(run_dir)
    assert steps == sorted(steps)
    assert (run_dir / "model.zip").is_file()


def test_sigterm_saves_a_checkpoint_exits_0_and_resumes(tmp_path):
    config = write_config(tmp_path / "c.yaml", "ppo", timesteps=100_000, checkpoint_every=10**6)
    run_dir = tmp_path / "run"
    proc = start_training("--config", str(config), "--run-dir", str(run_dir))
    assert wait_until_learning(run_dir, proc)
    time.sleep(1.0)
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 0, out
    assert "SIGTERM received" in out and f"--resume {run_dir}" in out
    step, _ = list_checkpoints(run_dir)[-1]
    assert 0 < step < 100_000 and not (run_dir / "model.zip").exists()
    assert step % (32 * 2) == 0  # stopped on a rollout boundary: no step counted untrained
    more = subprocess.run(
        [
            sys.executable,
            str(ROOT / "train.py"),
            "--resume",
            str(run_dir),
            "--timesteps",
            str(step + 128),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert more.returncode == 0, more.stdout + more.stderr
    assert ALGORITHMS["ppo"].load(run_dir / "model.zip").num_timesteps == step + 128


def test_an_interrupted_checkpoint_write_leaves_the_previous_one_loadable(tmp_path):
    config = tiny("ppo", timesteps=64)
    run_dir = tmp_path / "run"
    outcome = train(config, run_dir)
    good = list_checkpoints(run_dir)

    trainer, _ = restore(config, run_dir)

    def dies_half_way(path, *args, **kwargs):
        Path(path).write_bytes(b"PK\x03\x04 half a zip")
        raise KeyboardInterrupt

    trainer.model.save = dies_half_way
    with pytest.raises(KeyboardInterrupt):
        write_checkpoint(run_dir, outcome.timesteps + 1000, 2, trainer.save_state)
    assert list_checkpoints(run_dir) == good
    trainer.close()
    trainer, step = restore(config, run_dir)
    assert step == trainer.num_timesteps == outcome.timesteps
    trainer.close()


def test_a_damaged_checkpoint_is_skipped_for_the_one_before(tmp_path, capsys):
    config = tiny("ppo", timesteps=192, checkpoint_every=64)
    run_dir = tmp_path / "run"
    train(config, run_dir)
    (older_step, _), (_, newest) = list_checkpoints(run_dir)[-2:]
    (newest / "model.zip").write_bytes(b"not a zip")
    trainer, step = restore(config, run_dir)
    trainer.close()
    assert step == older_step
    assert "skipping unreadable checkpoint" in capsys.readouterr().out
    assert not zipfile.is_zipfile(newest / "model.zip")


def test_dqn_resume_keeps_the_replay_buffer(tmp_path):
    config = tiny("dqn", timesteps=200)
    run_dir = tmp_path / "run"
    train(config, run_dir)
    trainer, step = restore(config, run_dir)
    trainer.close()
    assert trainer.model.replay_buffer.size() == step == 200
    outcome = train(config.replace(timesteps=300), run_dir, resume=True)
    assert outcome.finished and outcome.timesteps == 300


def same_buffers(a: FrameReplayBuffer, b: FrameReplayBuffer) -> None:
    """Every transition the two buffers hold is the same: stacks, actions, rewards, ends."""
    assert (a.added, a.pos, a.full) == (b.added, b.pos, b.full)
    filled = a.buffer_size if a.full else a.pos
    adds = a.add_index(np.arange(filled))
    envs = np.zeros(filled, np.int64)
    for rebuild in ("observations_at", "next_observations_at"):
        np.testing.assert_array_equal(
            getattr(a, rebuild)(adds, envs), getattr(b, rebuild)(adds, envs)
        )
    for name in ("actions", "rewards", "dones", "timeouts"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)


def test_a_killed_dqn_run_resumes_with_exactly_the_buffer_its_checkpoint_saw(tmp_path):
    """SIGKILL mid-run: the newest checkpoint's buffer equals, transition by transition, the
    buffer of a run that was never interrupted, at the same step; --resume then finishes."""
    hyper = {**tiny_config("dqn")["hyperparams"], "buffer_size": 150}  # wraps between checkpoints
    path = write_config(
        tmp_path / "c.yaml",
        "dqn",
        timesteps=2000,
        checkpoint_every=64,
        keep_checkpoints=1,
        hyperparams=hyper,
    )
    run_dir = tmp_path / "run"
    proc = start_training("--config", path, "--run-dir", run_dir)
    wait_for_checkpoints(run_dir, 1, proc)
    while list_checkpoints(run_dir)[-1][0] < 400:
        assert proc.poll() is None
        time.sleep(0.1)
    proc.kill()
    proc.wait()
    config = load_config(run_dir / "config.yaml")
    restored, step = restore(config, run_dir)
    restored.close()
    uninterrupted = SB3Trainer(config, "cpu")
    with SummaryWriter(str(tmp_path / "tb")) as writer:
        # towards the same total (exploration decays over it), stopped at the same step
        uninterrupted.learn(config.timesteps, lambda progress: progress.step < step, writer)
    uninterrupted.close()
    assert uninterrupted.num_timesteps == step
    same_buffers(restored.model.replay_buffer, uninterrupted.model.replay_buffer)
    # one checkpoint kept: the segments on disk are the ones it names, about one buffer
    segments = {p.name for p in (run_dir / "checkpoints" / "replay").iterdir()}
    named = set(
        json.loads((list_checkpoints(run_dir)[-1][1] / "replay.json").read_text())["segments"]
    )
    assert named <= segments and len(segments - named) <= 1  # at most an unpruned older one
    proc = start_training("--resume", run_dir)
    out, _ = proc.communicate(timeout=300)
    assert proc.returncode == 0 and "done: 2,000 steps" in out, out


def test_a_dqn_checkpoint_without_its_replay_buffer_is_skipped_saying_so(tmp_path, capsys):
    hyper = {**tiny_config("dqn")["hyperparams"], "replay_buffer": "sb3"}
    config = tiny("dqn", timesteps=192, checkpoint_every=64, hyperparams=hyper)
    train(config, tmp_path / "run")
    (older, _), (_, newest) = list_checkpoints(tmp_path / "run")[-2:]
    (newest / "replay_buffer.pkl").unlink()
    trainer, step = restore(config, tmp_path / "run")
    trainer.close()
    assert step == older and trainer.model.replay_buffer.size() == older
    assert "no replay_buffer.pkl: dqn would go on with an empty buffer" in capsys.readouterr().out


def test_dqn_trains_with_sb3s_memory_saving_buffer(tmp_path):
    hyper = {
        **tiny_config("dqn")["hyperparams"],
        "replay_buffer": "sb3",
        "optimize_memory_usage": True,
    }
    outcome = train(tiny("dqn", timesteps=200, hyperparams=hyper), tmp_path / "run")
    assert outcome.finished and outcome.timesteps == 200
    trainer, _ = restore(tiny("dqn", timesteps=200, hyperparams=hyper), tmp_path / "run")
    assert trainer.model.replay_buffer.optimize_memory_usage
    trainer.close()


def test_checkpoints_are_pruned_to_keep(tmp_path):
    config = tiny("ppo", timesteps=320, checkpoint_every=64)
    train(config, tmp_path / "run")
    kept = list_checkpoints(tmp_path / "run")
    assert len(kept) == 2 and kept[-1][0] == 320
    assert not [p for p in (tmp_path / "run" / "checkpoints").iterdir() if p.name.startswith(".")]


def test_sb3_reference_backend_trains_too(tmp_path):
    config = tiny("ppo", backend="sb3")
    assert train(config, tmp_path / "run").finished
    assert os.path.getsize(tmp_path / "run" / "model.zip") > 0


def test_resuming_a_run_killed_before_its_first_checkpoint_starts_it_over(tmp_path, capsys):
    config = tiny("ppo", timesteps=128, checkpoint_every=10**6)
    run_dir = tmp_path / "run"
    train(config, run_dir)
    shutil.rmtree(run_dir / "checkpoints")  # as if killed before any checkpoint
    (run_dir / "model.zip").unlink()
    outcome = train(config, run_dir, resume=True)
    assert "no readable checkpoint: starting it over" in capsys.readouterr().out
    assert outcome.finished and outcome.timesteps == 128
    steps = episode_steps(run_dir)
    assert steps == sorted(steps)


def test_a_signal_after_the_last_step_still_finishes_the_run(tmp_path, monkeypatch):
    from coordrl.signals import StopSignals

    restore = StopSignals.__exit__

    def late_signal(self, *exc):  # SIGTERM lands while learn() is returning
        self.received = signal.SIGTERM
        restore(self, *exc)

    monkeypatch.setattr(StopSignals, "__exit__", late_signal)
    outcome = train(tiny("ppo", timesteps=64), tmp_path / "run")
    assert outcome.finished and (tmp_path / "run" / "model.zip").is_file()


def test_a_run_written_by_coordrl_0_1_resumes_with_its_episode_log_upgraded(tmp_path):
    config = tiny("ppo", timesteps=768, checkpoint_every=128)
    run_dir = tmp_path / "run"
    train(config, run_dir)
    log = run_dir / "episodes.csv"
    rows = [line.split(",") for line in log.read_text().splitlines()[1:]]
    assert rows, "random Breakout games end within 384 steps of each env"
    legacy = ["step,env,score,length,time"] + [",".join(r[:4] + r[5:]) for r in rows]
    log.write_text("\n".join(legacy) + "\n")  # as 0.1 wrote it: no success column
    outcome = train(config.replace(timesteps=1024), run_dir, resume=True)
    assert outcome.finished and outcome.timesteps == 1024
    lines = log.read_text().splitlines()
    assert lines[0] == "step,env,score,length,success,time"
    assert [line.split(",") for line in lines[1 : 1 + len(rows)]] == rows  # kept, upgraded


def test_a_full_disk_at_a_checkpoint_is_one_line_and_keeps_the_one_before(
    tmp_path, capsys, monkeypatch
):
    import errno

    from cli_helpers import run

    config = write_config(tmp_path / "c.yaml", "ppo", timesteps=512, checkpoint_every=128)
    run_dir = tmp_path / "run"
    real_save = SB3Trainer.save_state

    def fills_the_disk(self, folder):
        if self.num_timesteps >= 256:
            (folder / "model.zip").write_bytes(b"half")
            raise OSError(errno.ENOSPC, "No space left on device")
        real_save(self, folder)

    monkeypatch.setattr(SB3Trainer, "save_state", fills_the_disk)
    code, _, err = run(capsys, "train", "--config", str(config), "--run-dir", str(run_dir))
    last = err.rstrip().splitlines()[-1]  # (the progress bar also writes to stderr)
    assert code == 2 and err.count("error:") == 1 and last.startswith("error: "), err
    assert (
        "the disk is full (No space left on device) while writing the checkpoint at step 256"
        in last
    )
    assert "the one at step 192 is intact" in err or "the one at step 128 is intact" in err, err
    monkeypatch.setattr(SB3Trainer, "save_state", real_save)
    step = list_checkpoints(run_dir)[-1][0]
    trainer, loaded = restore(tiny("ppo", timesteps=512), run_dir)
    trainer.close()
    assert loaded == step < 256  # the previous checkpoint loads; no half one is listed
    assert not (run_dir / ".lock").exists()


@pytest.mark.parametrize("algo", ["ppo", "a2c", "device_ppo", "device_a2c"])
def test_every_update_has_its_train_point_at_its_step_across_resumes(tmp_path, algo):
    """SB3 writes an update's train/* values one rollout late and drops the last update's
    before learn() returns (a resumed run would lose a point per resume); the on-device
    trainers write their own after each update."""
    config = tiny(algo, timesteps=256, checkpoint_every=64)
    rollout = config.hyperparams["n_steps"] * config.n_envs
    train(config, tmp_path / "run")
    final = train(config.replace(timesteps=512), tmp_path / "run", resume=True).timesteps
    steps = [step for step, _ in scalars(tmp_path / "run", "train/value_loss")]
    assert steps == list(range(rollout, final + 1, rollout))

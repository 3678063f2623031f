"""SIGKILL at random moments, then ``--resume``: nothing lost, nothing doubled (slow).

Each trainer family (SB3 on-policy, SB3 off-policy with its replay buffer, the on-device
trainer) is killed several times at random points of its training, resumed each time, and
must then reach exactly the requested steps with only whole checkpoints on disk, an
``episodes.csv`` with its header and no repeated episode, and one TensorBoard curve.
"""

from __future__ import annotations

import csv
import json
import random
import time

import pytest
from atari_helpers import write_config
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from training_process import start_training, wait_until_learning

from coordrl.agents.trainers import make_trainer
from coordrl.config import load_config
from coordrl.episodes import COLUMNS
from coordrl.runs import (
    CONFIG_FILE,
    LOCK_FILE,
    REPLAY_MANIFEST,
    REPLAY_SEGMENTS,
    list_checkpoints,
)

KILLS = 3


@pytest.mark.slow
@pytest.mark.parametrize(
    ("algo", "total", "overrides"),
    [
        ("ppo", 1024, {}),
        ("dqn", 600, {}),
        ("device_ppo", 1024, {}),
    ],
)
def test_random_sigkills_then_resume_reach_exactly_the_total(tmp_path, algo, total, overrides):
    rng = random.Random(f"{algo}-kills")
    config = write_config(
        tmp_path / "c.yaml",
        algo,
        timesteps=total,
        checkpoint_every=64,
        keep_checkpoints=2,
        **overrides,
    )
    run_dir = tmp_path / "run"
    proc = start_training("--config", config, "--run-dir", run_dir)
    killed = 0
    for _ in range(KILLS):
        if wait_until_learning(run_dir, proc):
            time.sleep(rng.uniform(0.2, 2.5))  # anywhere: mid-rollout, mid-checkpoint, ...
        if proc.poll() is not None:
            break  # finished before this kill
        proc.kill()
        proc.wait()
        killed += 1
        proc = start_training("--resume", run_dir)
    out, _ = proc.communicate(timeout=600)
    assert proc.returncode == 0, out
    assert f"done: {total:,} steps" in out, out
    assert killed >= 2, "the run outpaced the kills: make it longer"

    checkpoints = list_checkpoints(run_dir)
    assert checkpoints[-1][0] == total
    leftovers = [p.name for p in (run_dir / "checkpoints").iterdir() if p.name.startswith(".")]
    assert leftovers == [] and not (run_dir / LOCK_FILE).exists()

    with (run_dir / "episodes.csv").open(newline="") as f:
        rows = list(csv.reader(f))
    assert tuple(rows[0]) == COLUMNS
    keys = [(int(r[0]), int(r[1])) for r in rows[1:]]
    assert len(keys) == len(set(keys)), "an episode logged twice"
    assert [k[0] for k in keys] == sorted(k[0] for k in keys)

    events = EventAccumulator(str(run_dir))
    events.Reload()
    for tag in [t for t in events.Tags()["scalars"] if t.startswith(("time/", "train/"))]:
        steps = [e.step for e in events.Scalars(tag)]
        assert steps == sorted(set(steps)), f"{tag} repeats or goes back: {steps}"

    config = load_config(run_dir / CONFIG_FILE)
    for _, folder in checkpoints:  # every kept checkpoint loads, replay buffer and all
        trainer = make_trainer(config)
        trainer.load_state(folder)
        trainer.close()
    segments = run_dir / "checkpoints" / REPLAY_SEGMENTS
    if segments.is_dir():  # the frame replay buffer's: each named one there, no leftovers
        named = set()
        for _, folder in checkpoints:
            named.update(json.loads((folder / REPLAY_MANIFEST).read_text())["segments"])
        on_disk = {p.name for p in segments.iterdir()}
        assert named <= on_disk and not [n for n in on_disk if n.startswith(".")]

"""FrameReplayBuffer: the same transitions and samples as SB3's ReplayBuffer, in less memory."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch
from gymnasium import spaces
from stable_baselines3 import DQN
from stable_baselines3.common.buffers import ReplayBuffer

from coordrl.agents.replay import FrameReplayBuffer
from coordrl.agents.replay_store import ReplayStore
from coordrl.envs.atari import make_vec_env
from coordrl.runs import write_checkpoint

try:
    from sb3_contrib import QRDQN
except ImportError:  # sb3-contrib is an optional extra
    QRDQN = None


def fill(
    buffer_class, steps: int, *, backend: str = "ale", n_envs: int = 2, size: int = 300, algo=DQN
):
    """An SB3 agent that only plays (no learning), its buffer filled the way SB3 fills it:
    terminal observations as next_obs at episode ends, life losses included."""
    env = make_vec_env("Breakout", n_envs, seed=3, backend=backend)
    model = algo(
        "CnnPolicy",
        env,
        buffer_size=size,
        learning_starts=10**9,
        seed=3,
        replay_buffer_class=buffer_class,
        policy_kwargs={"net_arch": [8]},
        device="cpu",
    )
    model.learn(steps)
    env.close()
    return model.replay_buffer


def assert_same_contents(mine: FrameReplayBuffer, theirs: ReplayBuffer) -> None:
    assert (mine.pos, mine.full) == (theirs.pos, theirs.full)
    filled = mine.buffer_size if mine.full else mine.pos
    positions = np.repeat(np.arange(filled), mine.n_envs)
    envs = np.tile(np.arange(mine.n_envs), filled)
    adds = mine.add_index(positions)
    np.testing.assert_array_equal(
        mine.observations_at(adds, envs), theirs.observations[positions, envs]
    )
    np.testing.assert_array_equal(
        mine.next_observations_at(adds, envs), theirs.next_observations[positions, envs]
    )
    for name in ("actions", "rewards", "dones", "timeouts"):
        np.testing.assert_array_equal(
            getattr(mine, name)[:filled], getattr(theirs, name)[:filled], err_msg=name
        )


@pytest.mark.parametrize("backend", ["ale", "sb3"])
def test_same_transitions_and_samples_as_sb3(backend):
    steps = 700  # x 2 envs through a 150-per-env ring: wrapped over twice, games and lives lost
    mine, theirs = (
        fill(FrameReplayBuffer, steps, backend=backend),
        fill(ReplayBuffer, steps, backend=backend),
    )
    assert mine.full and theirs.dones.sum() >= 2
    assert_same_contents(mine, theirs)
    for seed in range(3):
        np.random.seed(seed)
        a = mine.sample(64)
        np.random.seed(seed)
        b = theirs.sample(64)
        for field in a._fields:
            mine_field, their_field = getattr(a, field), getattr(b, field)
            assert (mine_field is None and their_field is None) or torch.equal(
                mine_field, their_field
            ), field


def test_partly_filled_buffer_and_newest_transition():
    mine, theirs = fill(FrameReplayBuffer, 60), fill(ReplayBuffer, 60)
    assert not mine.full
    assert_same_contents(mine, theirs)


@pytest.mark.skipif(QRDQN is None, reason="sb3-contrib not installed")
def test_qrdqn_uses_it():
    mine = fill(FrameReplayBuffer, 200, algo=QRDQN, n_envs=1)
    theirs = fill(ReplayBuffer, 200, algo=QRDQN, n_envs=1)
    assert isinstance(mine, FrameReplayBuffer)
    assert_same_contents(mine, theirs)


def test_any_padding_and_unchained_adds_are_rebuilt_exactly():
    """Stacks that start with repeated (not zero) frames, and a caller whose next_obs is not
    the next add's obs: kept aside, rebuilt exactly."""
    rng = np.random.default_rng(0)
    space = spaces.Box(0, 255, (3, 4, 4), np.uint8)
    mine = FrameReplayBuffer(20, space, spaces.Discrete(2), device="cpu")
    theirs = ReplayBuffer(20, space, spaces.Discrete(2), device="cpu")
    frame = rng.integers(0, 255, (4, 4), np.uint8)
    obs = np.stack([frame] * 3)[None]
    for step in range(50):
        nxt = np.concatenate([obs[:, 1:], rng.integers(0, 255, (1, 1, 4, 4), np.uint8)], axis=1)
        done = np.array([step % 7 == 6])
        for buffer in (mine, theirs):
            buffer.add(obs, nxt, np.array([[step % 2]]), np.array([1.0]), done, [{}])
        if done[0]:
            first = rng.integers(0, 255, (4, 4), np.uint8)
            obs = np.stack([first] * 3)[None]
        elif step % 11 == 10:
            obs = rng.integers(0, 255, (1, 3, 4, 4), np.uint8)  # not chained to nxt
        else:
            obs = nxt
    assert_same_contents(mine, theirs)


def test_memory_is_a_fraction_of_sb3s():
    space = spaces.Box(0, 255, (4, 84, 84), np.uint8)
    mine = FrameReplayBuffer(1000, space, spaces.Discrete(4), device="cpu")
    theirs = ReplayBuffer(1000, space, spaces.Discrete(4), device="cpu")
    sb3_bytes = theirs.observations.nbytes + theirs.next_observations.nbytes
    assert mine.nbytes() * 7 < sb3_bytes


def test_optimize_memory_usage_is_refused():
    space = spaces.Box(0, 255, (4, 84, 84), np.uint8)
    with pytest.raises(ValueError, match="optimize_memory_usage"):
        FrameReplayBuffer(
            10,
            space,
            spaces.Discrete(4),
            optimize_memory_usage=True,
            handle_timeout_termination=False,
        )


def synthetic_adds(buffer: FrameReplayBuffer, count: int, rng: np.random.Generator) -> None:
    """``count`` chained adds of random frames, episodes of 5-40 steps (zero-padded starts)."""
    stack, shape = buffer.obs_shape[0], buffer.obs_shape[1:]
    obs = getattr(buffer, "_test_obs", None)
    if obs is None:
        obs = np.zeros((1, *buffer.obs_shape), np.uint8)
        obs[0, -1] = rng.integers(0, 255, shape)
    for _ in range(count):
        nxt = np.concatenate([obs[:, 1:], rng.integers(0, 255, (1, 1, *shape), np.uint8)], 1)
        done = np.array([rng.random() < 0.08])
        buffer.add(obs, nxt, rng.integers(0, 4, (1, 1)), rng.random(1), done, [{}])
        if done[0]:
            obs = np.zeros_like(obs)
            obs[0, -1] = rng.integers(0, 255, shape)
        else:
            obs = nxt
    assert stack == obs.shape[1]
    buffer._test_obs = obs


def frame_buffer(size: int = 100) -> FrameReplayBuffer:
    space = spaces.Box(0, 255, (4, 6, 6), np.uint8)
    return FrameReplayBuffer(size, space, spaces.Discrete(4), device="cpu")


def same_contents(a: FrameReplayBuffer, b: FrameReplayBuffer) -> None:
    assert (a.added, a.pos, a.full) == (b.added, b.pos, b.full)
    filled = a.buffer_size if a.full else a.pos
    adds, envs = a.add_index(np.arange(filled)), np.zeros(filled, np.int64)
    np.testing.assert_array_equal(a.observations_at(adds, envs), b.observations_at(adds, envs))
    np.testing.assert_array_equal(
        a.next_observations_at(adds, envs), b.next_observations_at(adds, envs)
    )
    for name in ("actions", "rewards", "dones", "timeouts"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))


def checkpoint(store: ReplayStore, buffer: FrameReplayBuffer, run_dir, keep: int = 1):
    return write_checkpoint(run_dir, buffer.added, keep, lambda tmp: store.save(buffer, tmp))


def segment_frames(run_dir) -> dict[str, int]:
    folder = run_dir / "checkpoints" / "replay"
    return {p.name: len(np.load(p / "frames.npy", mmap_mode="r")) for p in folder.iterdir()}


def test_each_checkpoint_writes_only_the_new_adds_and_restores_exactly(tmp_path):
    rng = np.random.default_rng(1)
    live, store = frame_buffer(), ReplayStore()
    for step in range(12):  # 30 adds between checkpoints, 100 in the buffer: it wraps
        before = set(segment_frames(tmp_path)) if step else set()
        synthetic_adds(live, 30, rng)
        path = checkpoint(store, live, tmp_path)
        new = {k: v for k, v in segment_frames(tmp_path).items() if k not in before}
        assert list(new.values()) == [30]  # O(new transitions), not the whole buffer
        restored, loader = frame_buffer(), ReplayStore()
        loader.load(restored, path)
        same_contents(restored, live)
    # one checkpoint kept: about one buffer on disk (its 103 frames, in 30-add segments)
    assert sum(segment_frames(tmp_path).values()) <= live.frame_slots + 2 * 30


def test_a_restored_buffer_goes_on_as_the_live_one(tmp_path):
    rng_live, rng_resumed = np.random.default_rng(2), np.random.default_rng(2)
    live, store = frame_buffer(), ReplayStore()
    synthetic_adds(live, 130, rng_live)
    path = checkpoint(store, live, tmp_path)
    resumed, resumed_store = frame_buffer(), ReplayStore()
    resumed_store.load(resumed, path)
    resumed._test_obs = live._test_obs  # the env's next observation, as a resumed env's
    rng_resumed.bit_generator.state = rng_live.bit_generator.state
    synthetic_adds(live, 57, rng_live)
    synthetic_adds(resumed, 57, rng_resumed)
    same_contents(resumed, live)
    path = checkpoint(resumed_store, resumed, tmp_path)  # and saves on from where it resumed
    again = frame_buffer()
    ReplayStore().load(again, path)
    same_contents(again, live)


def test_a_missing_segment_makes_the_checkpoint_unreadable_and_orphans_are_deleted(tmp_path):
    rng = np.random.default_rng(3)
    live, store = frame_buffer(), ReplayStore()
    synthetic_adds(live, 50, rng)
    first = checkpoint(store, live, tmp_path, keep=2)
    orphan = tmp_path / "checkpoints" / "replay" / "adds_000000000050_000000000070_dead"
    orphan.mkdir()  # a segment whose checkpoint was never renamed into place (killed)
    synthetic_adds(live, 20, rng)
    checkpoint(store, live, tmp_path, keep=2)
    assert not orphan.exists()
    for segment in json.loads((first / "replay.json").read_text())["segments"]:
        shutil.rmtree(tmp_path / "checkpoints" / "replay" / segment)
    with pytest.raises(FileNotFoundError):
        ReplayStore().load(frame_buffer(), first)

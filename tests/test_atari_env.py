"""Atari env factory: ids, shapes, true-score bookkeeping, and evaluation parity with training."""

from __future__ import annotations

import numpy as np
import pytest

from coordrl.envs.atari import AleVecEnv, make_eval_env, make_vec_env, resolve_env_id


@pytest.mark.parametrize(
    "name", ["Breakout", "breakout", "ALE/Breakout-v5", "BreakoutNoFrameskip-v4"]
)
def test_env_ids_as_users_type_them(name):
    assert resolve_env_id(name) == "ALE/Breakout-v5"


def test_unknown_env_id_lists_close_matches():
    with pytest.raises(ValueError, match=r"unknown Atari env 'Breakot'; did you mean ALE/Breakout"):
        resolve_env_id("Breakot")
    with pytest.raises(ValueError, match="unknown Atari env 'Zzzz'"):
        resolve_env_id("Zzzz")


@pytest.mark.parametrize("backend", ["ale", "sb3"])
def test_both_backends_give_stacked_uint8_frames_channels_first(backend):
    env = make_vec_env("Pong", 3, seed=0, backend=backend)
    try:
        obs = env.reset()
        assert obs.shape == (3, 4, 84, 84) and obs.dtype == np.uint8
        assert env.observation_space.shape == (4, 84, 84)
        assert env.action_space.n == 6
        obs, rewards, dones, infos = env.step(np.zeros(3, dtype=np.int64))
        assert obs.shape == (3, 4, 84, 84) and rewards.dtype == np.float32
        assert dones.shape == (3,) and len(infos) == 3
    finally:
        env.close()


def play(env_id: str, steps: int, seed: int = 0) -> tuple[list[int], list[float], int]:
    """Hand-play one whole game in the evaluation env: actions, raw rewards, lives lost."""
    env = make_eval_env(env_id, repeat_action_probability=0.0, noop_max=1)
    rng = np.random.default_rng(seed)
    env.reset(seed=seed)
    actions, rewards = [], []
    lives = env.unwrapped.ale.lives()
    losses = 0
    for _ in range(steps):
        action = int(rng.integers(env.action_space.n))
        _, reward, terminated, truncated, _ = env.step(action)
        actions.append(action)
        rewards.append(float(reward))
        now = env.unwrapped.ale.lives()
        losses += int(now < lives and not terminated)
        lives = now
        if terminated or truncated:
            return actions, rewards, losses
    raise AssertionError("the game did not end")


@pytest.mark.parametrize("env_id", ["Breakout", "Seaquest"])
def test_true_scores_and_life_loss_terminals_against_a_hand_played_game(env_id):
    actions, rewards, losses = play(env_id, 5000)
    env = AleVecEnv(env_id, 1, repeat_action_probability=0.0, noop_max=1)
    env.reset()
    learner_rewards, dones, episodes = [], [], []
    for action in actions:
        _, reward, done, infos = env.step(np.array([action]))
        learner_rewards.append(float(reward[0]))
        dones.append(bool(done[0]))
        if "episode" in infos[0]:
            episodes.append(infos[0]["episode"])
    env.close()
    # the whole game's unclipped score and length reach SB3, exactly once, at game over
    assert len(episodes) == 1 and episodes[0]["r"] == sum(rewards)
    assert episodes[0]["l"] == len(actions)
    # the learner sees clipped rewards and an episode end at every lost life
    assert learner_rewards == [float(np.sign(r)) for r in rewards]
    assert sum(dones) == losses + 1 and dones[-1]


def test_evaluation_env_sees_exactly_what_training_env_sees():
    env = AleVecEnv(
        "Breakout",
        1,
        repeat_action_probability=0.0,
        terminal_on_life_loss=False,
        clip_rewards=False,
        noop_max=1,
    )
    eval_env = make_eval_env("Breakout", repeat_action_probability=0.0, noop_max=1)
    train_obs = env.reset()
    eval_obs, _ = eval_env.reset(seed=0)
    assert np.array_equal(train_obs[0], eval_obs)
    rng = np.random.default_rng(1)
    for _ in range(150):
        action = int(rng.integers(4))
        train_obs, reward, done, _ = env.step(np.array([action]))
        eval_obs, eval_reward, *_ = eval_env.step(action)
        if done[0]:
            break
        assert np.array_equal(train_obs[0], eval_obs) and reward[0] == eval_reward
    env.close()


def test_evaluation_env_renders_rgb_frames():
    env = make_eval_env("Breakout", render=True)
    env.reset(seed=0)
    frame = env.render()
    assert frame.shape == (210, 160, 3) and frame.dtype == np.uint8
    env.close()


def test_seeded_vector_env_is_reproducible():
    def rollout() -> np.ndarray:
        env = make_vec_env("Breakout", 2, seed=3)
        env.reset()
        rng = np.random.default_rng(0)
        for _ in range(50):
            obs, *_ = env.step(rng.integers(0, 4, 2))
        env.close()
        return obs

    assert np.array_equal(rollout(), rollout())


@pytest.mark.parametrize("seed", [None, 2**32 - 5, 2**40])
def test_any_seed_sb3_may_pass_is_accepted(seed):
    env = make_vec_env("Pong", 2, seed=seed)
    assert env.reset().shape == (2, 4, 84, 84)
    env.close()

"""Random play in the torch games and in the ``minatar`` package: the same return and length
distributions over 1,000 episodes per game (their means within 3 standard errors)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from minatar.gym import BaseEnv

from coordrl.agents.torch_evaluation import play
from coordrl.config import validate
from coordrl.envs.minatar import GAMES, env_id

EPISODES = 1000


def package_episodes(game: str, episodes: int) -> tuple[np.ndarray, np.ndarray]:
    env = BaseEnv(game, use_minimal_action_set=True)
    rng = np.random.default_rng(0)
    env.reset(seed=0)
    returns, lengths = [], []
    total, length = 0.0, 0
    while len(returns) < episodes:
        _, reward, done, _, _ = env.step(int(rng.integers(env.action_space.n)))
        total, length = total + reward, length + 1
        if done:
            returns.append(total)
            lengths.append(length)
            total, length = 0.0, 0
            env.reset()
    return np.array(returns), np.array(lengths)


def z_score(a: np.ndarray, b: np.ndarray) -> float:
    spread = math.sqrt(a.var(ddof=1) / len(a) + b.var(ddof=1) / len(b))
    return abs(a.mean() - b.mean()) / spread if spread > 0 else 0.0


@pytest.mark.slow
@pytest.mark.parametrize("game", list(GAMES))
def test_random_play_scores_and_lasts_as_in_the_package(game):
    config = validate(
        {"algo": "device_a2c", "env": env_id(game), "network": "minatar", "n_envs": 1}, "test"
    )
    actions = torch.Generator().manual_seed(1)
    n = GAMES[game](1).single_action_space.n

    def random_policy(obs: torch.Tensor) -> torch.Tensor:
        return torch.randint(n, (len(obs),), generator=actions)

    ours, _ = play(config, random_policy, EPISODES, 0, torch.device("cpu"))
    theirs, lengths = package_episodes(game, EPISODES)
    se = float(ours.std()) / math.sqrt(EPISODES)  # shown with -s: docs/minatar.md's random column
    mean, package = float(ours.mean()), float(theirs.mean())
    print(f"\n{game}: random play scores {mean:.2f} +- {se:.2f} (package {package:.2f})")
    assert z_score(ours.numpy(), theirs) < 3, (game, float(ours.mean()), theirs.mean())
    ours_lengths = torch_lengths(game, EPISODES)
    assert z_score(ours_lengths, lengths) < 3, (game, ours_lengths.mean(), lengths.mean())


def torch_lengths(game: str, episodes: int) -> np.ndarray:
    """The lengths of the first episode of each of ``episodes`` torch envs, random play."""
    env = GAMES[game](episodes)
    env.reset(seed=1)
    ended = torch.zeros(episodes, dtype=torch.bool)
    lengths = torch.zeros(episodes, dtype=torch.int64)
    actions = torch.Generator().manual_seed(2)
    while not bool(ended.all()):
        chosen = torch.randint(env.single_action_space.n, (episodes,), generator=actions)
        _, _, _, _, info = env.step(chosen)
        first = info["_episode"] & ~ended
        lengths = torch.where(first, info["episode_length"], lengths)
        ended |= first
    return lengths.numpy()

"""Evaluate an agent on coordrl's torch envs: toy tasks where it matters, MinAtar by score.

A toy-task agent plays ``episodes`` episodes with targets from the split's ``test`` part
(positions never seen in training) and, for comparison, from its ``train`` part; each
reports the success rate (with its binomial standard error) and mean return. A MinAtar
agent plays ``episodes`` games: mean score and its standard error. Works for on-device runs
(``model.pt`` / ``state.pt``) and for SB3 agents trained through the adapter (``model.zip``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from coordrl.agents.actor_critic import load_network
from coordrl.agents.evaluation import load_for_evaluation
from coordrl.config import RunConfig
from coordrl.envs.factory import make_torch_env

Policy = Callable[[torch.Tensor], torch.Tensor]
MAX_BATCH = 1024


def load_policy(
    config: RunConfig, model_path: Path, device: torch.device, deterministic: bool
) -> Policy:
    """A function from a batch of observations to actions, from either kind of model file."""
    if model_path.suffix == ".zip":
        model = load_for_evaluation(config, model_path, str(device))  # arch checked there

        def sb3_policy(obs: torch.Tensor) -> torch.Tensor:
            actions, _ = model.predict(obs.cpu().numpy(), deterministic=deterministic)
            return torch.as_tensor(np.asarray(actions), device=obs.device)

        return sb3_policy
    env = make_torch_env(config, device, num_envs=1)
    network = load_network(
        config, model_path, env.single_observation_space, env.single_action_space, device
    )

    @torch.no_grad()
    def device_policy(obs: torch.Tensor) -> torch.Tensor:
        head, _ = network(obs)
        return network.mode(head) if deterministic else network.distribution(head).sample()

    return device_policy


@torch.no_grad()
def play(
    config: RunConfig, policy: Policy, episodes: int, seed: int, device, **env_options: Any
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Returns (and successes, where the task has them) of ``episodes`` episodes: the first
    episode of each of ``episodes`` envs (in batches of MAX_BATCH, seeded ``seed``, ``seed +
    1``, ...). Taking the first episodes to *end* instead would favour short episodes."""
    returns, successes = [], []
    for batch, start in enumerate(range(0, episodes, MAX_BATCH)):
        n = min(MAX_BATCH, episodes - start)
        env = make_torch_env(config, device, num_envs=n, **env_options)
        obs, _ = env.reset(seed=seed + batch)
        ended = torch.zeros(n, dtype=torch.bool, device=env.device)
        ret = torch.zeros(n, dtype=torch.float64, device=env.device)
        success = torch.zeros(n, dtype=torch.float64, device=env.device)
        while not bool(ended.all()):
            obs, _, _, _, info = env.step(policy(obs))
            first = info["_episode"] & ~ended
            ret = torch.where(first, info["episode_return"].double(), ret)
            if "success" in info:
                success = torch.where(first, info["success"].double(), success)
            ended |= first
        returns.append(ret.cpu())
        if "success" in info:
            successes.append(success.cpu())
    return torch.cat(returns), torch.cat(successes) if successes else None


def evaluate_scores(
    config: RunConfig, policy: Policy, episodes: int, seed: int, device
) -> dict[str, Any]:
    """Mean score of ``episodes`` games, its standard error, and every score."""
    scores, _ = play(config, policy, episodes, seed, device)
    spread = float(scores.std()) if episodes > 1 else 0.0
    return {
        "episodes": episodes,
        "mean_return": float(scores.mean()),
        "std_return": spread,
        "se_return": spread / math.sqrt(episodes),
        "scores": scores.tolist(),
    }


@torch.no_grad()
def evaluate_part(
    config: RunConfig, policy: Policy, part: str, episodes: int, seed: int, device
) -> dict[str, Any]:
    """Success rate and mean return over the first ``episodes`` episodes ended in ``part``."""
    ret, success = play(config, policy, episodes, seed, device, part=part)
    assert success is not None, "toy tasks report success"
    rate = float(success.mean())
    return {
        "part": part,
        "episodes": episodes,
        "success_rate": rate,
        "success_se": math.sqrt(rate * (1 - rate) / episodes),
        "mean_return": float(ret.mean()),
        "std_return": float(ret.std()) if episodes > 1 else 0.0,
    }

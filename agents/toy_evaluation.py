"""Evaluate a toy-task agent where it matters: on the held-out target positions.

Plays ``episodes`` episodes with targets from the split's ``test`` part (positions never
seen in training) and, for comparison, from its ``train`` part; reports the success rate
(with its binomial standard error) and mean return of each. Works for on-device PPO runs
(``model.pt`` / ``state.pt``) and for SB3 agents trained through the adapter (``model.zip``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from coordrl.agents.device_ppo import ActorCritic
from coordrl.agents.evaluation import load_for_evaluation
from coordrl.config import RunConfig
from coordrl.envs.factory import make_torch_env
from coordrl.runs import RunError

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
    network = ActorCritic(
        env.single_observation_space, env.single_action_space, config.arch, **config.network_kwargs
    ).to(device)
    try:
        state = torch.load(model_path, map_location=device, weights_only=True)
        network.load_state_dict(state["model"])
    except (OSError, RuntimeError, EOFError, KeyError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise RunError(f"cannot load {model_path} as a {config.arch} agent: {reason}") from None
    network.eval()

    @torch.no_grad()
    def device_policy(obs: torch.Tensor) -> torch.Tensor:
        head, _ = network(obs)
        return network.mode(head) if deterministic else network.distribution(head).sample()

    return device_policy


@torch.no_grad()
def evaluate_part(
    config: RunConfig, policy: Policy, part: str, episodes: int, seed: int, device
) -> dict[str, Any]:
    """Success rate and mean return over the first ``episodes`` episodes ended in ``part``."""
    env = make_torch_env(config, device, part=part, num_envs=min(episodes, MAX_BATCH))
    obs, _ = env.reset(seed=seed)
    returns, successes = [], []
    ended_count = 0
    while ended_count < episodes:
        obs, _, _, _, info = env.step(policy(obs))
        ended = info["_episode"]
        returns.append(info["episode_return"][ended])
        successes.append(info["success"][ended])
        ended_count += int(ended.sum())
    ret = torch.cat(returns)[:episodes].double().cpu()
    success = torch.cat(successes)[:episodes].double().cpu()
    rate = float(success.mean())
    return {
        "part": part,
        "episodes": episodes,
        "success_rate": rate,
        "success_se": math.sqrt(rate * (1 - rate) / episodes),
        "mean_return": float(ret.mean()),
        "std_return": float(ret.std()) if episodes > 1 else 0.0,
    }

"""Build SB3 A2C, PPO and DQN from a validated :class:`~coordrl.config.RunConfig`.

Hyperparameters the config leaves out take SB3's defaults; the YAML files in
``configs/atari/`` spell out rl-zoo3's Atari values. ``lin_<x>`` schedules decay linearly from
``x`` to 0 over the run, as in rl-zoo3.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from stable_baselines3 import A2C, DQN, PPO
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.sb2_compat.rmsprop_tf_like import RMSpropTFLike
from stable_baselines3.common.utils import LinearSchedule
from stable_baselines3.common.vec_env import VecEnv

from coordrl.agents.replay import FrameReplayBuffer
from coordrl.config import RunConfig
from coordrl.envs.factory import is_torch_env
from coordrl.extractors import make_policy_kwargs
from coordrl.settings import Linear, Schedule

ALGORITHMS: dict[str, type[BaseAlgorithm]] = {"a2c": A2C, "ppo": PPO, "dqn": DQN}
OPTIMIZERS: dict[str, type[torch.optim.Optimizer]] = {
    "rmsprop_tf_like": RMSpropTFLike,
    "rmsprop": torch.optim.RMSprop,
    "adam": torch.optim.Adam,
}
SCHEDULED = ("learning_rate", "clip_range", "clip_range_vf")


def schedule(value: Schedule) -> float | LinearSchedule:
    """A number, or SB3's schedule for ``lin_<x>``: x at the start, linearly to 0 at the end."""
    if isinstance(value, Linear):
        return LinearSchedule(value.start, 0.0, 1.0)
    return value


def algorithm_kwargs(config: RunConfig) -> dict[str, Any]:
    """SB3 constructor keyword arguments: the extractor, schedules and optimizer resolved."""
    hyper = dict(config.hyperparams)
    policy_kwargs = make_policy_kwargs(config.arch, **config.network_kwargs)
    optimizer = hyper.pop("optimizer", None)
    eps = hyper.pop("optimizer_eps", None)
    if optimizer is not None:
        policy_kwargs["optimizer_class"] = OPTIMIZERS[optimizer]
        policy_kwargs["optimizer_kwargs"] = (
            {"alpha": 0.99, "eps": eps or 1e-5, "weight_decay": 0.0}
            if optimizer.startswith("rmsprop")
            else {"eps": eps or 1e-8}
        )
    elif eps is not None:
        hyper["rms_prop_eps"] = eps  # A2C's own RMSprop
    for key in SCHEDULED:
        if hyper.get(key) is not None:
            hyper[key] = schedule(hyper[key])
    hyper.pop("replay_buffer", None)
    if config.algo == "dqn" and replay_buffer_kind(config) == "frames":
        hyper["replay_buffer_class"] = FrameReplayBuffer
    elif hyper.get("optimize_memory_usage"):
        # SB3's buffer cannot share next observations and also keep time-limit flags: a
        # game cut by the frame cap is then learned as if it had ended (rare on Atari)
        hyper["replay_buffer_kwargs"] = {"handle_timeout_termination": False}
    return {"policy_kwargs": policy_kwargs, **hyper}


def replay_buffer_kind(config: RunConfig) -> str:
    """A DQN's replay buffer: ``frames`` (each Atari frame stored once) unless the config
    says ``sb3``; a toy env's observations are not frame stacks, so SB3's."""
    default = "sb3" if is_torch_env(config.env) else "frames"
    return config.hyperparams.get("replay_buffer", default)


def build_algorithm(config: RunConfig, env: VecEnv, device: torch.device) -> BaseAlgorithm:
    """A fresh agent for ``env``, seeded with ``config.seed``."""
    cls = ALGORITHMS[config.algo]
    return cls("CnnPolicy", env, seed=config.seed, device=device, **algorithm_kwargs(config))


def load_algorithm(
    algo: str, path: str | Path, env: VecEnv | None, device: torch.device | str
) -> BaseAlgorithm:
    """A saved agent, attached to ``env`` (``None`` for prediction only)."""
    return ALGORITHMS[algo].load(path, env=env, device=device)


def extractor_of(model: BaseAlgorithm) -> torch.nn.Module:
    """The agent's feature extractor (a DQN keeps it in its Q-network)."""
    policy = model.policy
    return getattr(policy, "q_net", policy).features_extractor

"""Tiny Atari run configs, so a test trains an agent for a few hundred steps in seconds."""

from __future__ import annotations

from pathlib import Path

import yaml

TINY_HYPERPARAMS = {
    "ppo": {"n_steps": 32, "batch_size": 32, "n_epochs": 1, "learning_rate": "lin_2.5e-4"},
    "a2c": {"n_steps": 5, "optimizer": "rmsprop_tf_like", "optimizer_eps": 1e-5},
    "device_ppo": {"n_steps": 32, "batch_size": 32, "n_epochs": 1, "learning_rate": "lin_2.5e-4"},
    "device_a2c": {"n_steps": 5},
    "dqn": {
        "buffer_size": 1000,
        "learning_starts": 64,
        "batch_size": 8,
        "train_freq": 4,
        "target_update_interval": 100,
    },
}


def tiny_config(algo: str = "ppo", **overrides) -> dict:
    """A config dict for a short Breakout run on the CPU."""
    config = {
        "algo": algo,
        "env": "Breakout",
        "arch": "coordconv",
        "timesteps": 256,
        "n_envs": 1 if algo == "dqn" else 2,
        "device": "cpu",
        "checkpoint_every": 64,
        "hyperparams": dict(TINY_HYPERPARAMS[algo]),
    }
    config.update(overrides)
    return config


def write_config(path: Path, algo: str = "ppo", **overrides) -> Path:
    path.write_text(yaml.safe_dump(tiny_config(algo, **overrides)))
    return path

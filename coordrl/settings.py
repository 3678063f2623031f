"""The on-device trainers' settings: each algorithm's hyperparameters, defaults and checks.

One dataclass per algorithm holds, for each hyperparameter, its type, its default and its
bounds; the config checks a run's ``hyperparams`` against it (:mod:`coordrl.config`) and the
trainers run with it (:mod:`coordrl.agents.device_ppo`, :mod:`coordrl.agents.device_a2c`,
:mod:`coordrl.agents.population`). No dependencies, so a config is checked without torch.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Literal


@dataclasses.dataclass(frozen=True)
class Linear:
    """``lin_<start>`` (rl-zoo3's notation): ``start`` at the beginning of the run, decaying
    linearly to 0 at its end. Parsed once, from the config; trainers read ``start``."""

    start: float

    def at(self, progress_remaining: float) -> float:
        """The value when ``progress_remaining`` (1 at the start, 0 at the end) is left."""
        return self.start * progress_remaining

    def __str__(self) -> str:
        return f"lin_{self.start!r}"


Schedule = float | Linear
Precision = Literal["fp32", "bf16"]  # the network's arithmetic: float32, or bfloat16 autocast


def value_at(schedule: Schedule, progress_remaining: float) -> float:
    """A constant, or a :class:`Linear` schedule's value at that point of the run."""
    return schedule.at(progress_remaining) if isinstance(schedule, Linear) else schedule


def setting(
    default: Any, *, low: float | None = None, above: float | None = None, high: float | None = None
) -> Any:
    """A hyperparameter: its default, and the bounds a config's value must keep (``low`` and
    ``high`` inclusive, ``above`` exclusive)."""
    return dataclasses.field(default=default, metadata={"low": low, "above": above, "high": high})


ZOO_ATARI_LEARNING_RATE = Linear(2.5e-4)  # rl-zoo3's lin_2.5e-4


@dataclasses.dataclass(frozen=True)
class PPOSettings:
    """PPO hyperparameters (the config's ``hyperparams``); defaults: rl-zoo3's Atari PPO."""

    n_steps: int = setting(128, low=1)  # per env, per rollout
    batch_size: int = setting(256, low=1)  # minibatch size
    n_epochs: int = setting(4, low=1)
    learning_rate: Schedule = setting(ZOO_ATARI_LEARNING_RATE, above=0.0)
    gamma: float = setting(0.99, low=0.0, high=1.0)
    gae_lambda: float = setting(0.95, low=0.0, high=1.0)
    clip_range: Schedule = setting(0.1, above=0.0)
    ent_coef: float = setting(0.01, low=0.0)
    vf_coef: float = setting(0.5, low=0.0)
    max_grad_norm: float = setting(0.5, above=0.0)
    normalize_advantage: bool = True
    precision: Precision = "fp32"

    def check(self, n_envs: int) -> None:
        """ValueError unless a rollout of ``n_envs`` envs splits into whole minibatches."""
        if (self.n_steps * n_envs) % self.batch_size:
            raise ValueError(
                f"n_steps x n_envs ({self.n_steps} x {n_envs}) must be a multiple of "
                f"batch_size ({self.batch_size})"
            )


@dataclasses.dataclass(frozen=True)
class A2CSettings:
    """A2C hyperparameters (the config's ``hyperparams``); defaults: rl-zoo3's Atari A2C
    (SB3's A2C defaults with ``ent_coef`` 0.01, ``vf_coef`` 0.25, RMSprop eps 1e-5)."""

    n_steps: int = setting(5, low=1)
    learning_rate: Schedule = setting(7e-4, above=0.0)
    gamma: float = setting(0.99, low=0.0, high=1.0)
    gae_lambda: float = setting(1.0, low=0.0, high=1.0)
    ent_coef: float = setting(0.01, low=0.0)
    vf_coef: float = setting(0.25, low=0.0)
    max_grad_norm: float = setting(0.5, above=0.0)
    rms_prop_eps: float = setting(1e-5, above=0.0)
    normalize_advantage: bool = False
    precision: Precision = "fp32"

    def check(self, n_envs: int) -> None:
        """Any rollout works: the whole of it is one batch."""


SETTINGS: dict[str, type[PPOSettings] | type[A2CSettings]] = {
    "device_ppo": PPOSettings,
    "device_a2c": A2CSettings,
}

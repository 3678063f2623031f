"""A2C with the rollout on the env's device: synchronous n-step advantage actor-critic.

The algorithm of SB3's A2C (and of the paper's RL experiments): ``n_steps`` in every env,
GAE with lambda 1 (n-step returns bootstrapped from the last value), one gradient step per
rollout on policy loss + ``vf_coef`` value loss - ``ent_coef`` entropy, gradients clipped to
``max_grad_norm``, RMSprop as TensorFlow has it (SB3's ``RMSpropTFLike``, alpha 0.99). It
shares the on-device PPO's network, rollout, GAE, episode log and checkpoints.
"""

from __future__ import annotations

import dataclasses

import torch
from stable_baselines3.common.sb2_compat.rmsprop_tf_like import RMSpropTFLike
from torch import nn

from coordrl.agents.device_ppo import DevicePPO
from coordrl.config import Schedule, value_at


@dataclasses.dataclass(frozen=True)
class A2CSettings:
    """A2C hyperparameters (the config's ``hyperparams``); defaults: rl-zoo3's Atari A2C
    (SB3's A2C defaults with ``ent_coef`` 0.01, ``vf_coef`` 0.25, RMSprop eps 1e-5)."""

    n_steps: int = 5
    learning_rate: Schedule = 7e-4
    gamma: float = 0.99
    gae_lambda: float = 1.0
    ent_coef: float = 0.01
    vf_coef: float = 0.25
    max_grad_norm: float = 0.5
    rms_prop_eps: float = 1e-5
    normalize_advantage: bool = False
    precision: str = "fp32"  # or "bf16": the network under bfloat16 autocast


class DeviceA2C(DevicePPO):
    """A2C over a batched torch env; ``learn`` runs until ``total_steps`` env steps."""

    settings: A2CSettings

    def _make_optimizer(self) -> torch.optim.Optimizer:
        return RMSpropTFLike(
            self.model.parameters(),
            lr=value_at(self.settings.learning_rate, 1.0),
            alpha=0.99,
            eps=self.settings.rms_prop_eps,
            weight_decay=0,
        )

    def _check_settings(self) -> None:
        """Any n_steps x num_envs works: the whole rollout is one batch."""

    def _update(self, remaining: float) -> dict[str, torch.Tensor]:
        """One gradient step on the whole rollout (its learning rate is set by ``learn``)."""
        del remaining
        s, b = self.settings, self.buffers
        flat = {k: v.reshape(-1, *v.shape[2:]) for k, v in b.items()}
        head, value = self._forward(flat["obs"])
        dist = self.model.distribution(head)
        advantages = flat["advantages"]
        if s.normalize_advantage:
            advantages = (advantages - advantages.mean()) / (advantages.std() + 1e-8)
        policy_loss = -(advantages * dist.log_prob(flat["actions"])).mean()
        value_loss = nn.functional.mse_loss(value, flat["returns"])
        entropy = dist.entropy().mean()
        self._step(policy_loss + s.vf_coef * value_loss - s.ent_coef * entropy)
        losses = {"policy_loss": policy_loss, "value_loss": value_loss, "entropy": entropy}
        return {key: value_.detach() for key, value_ in losses.items()}

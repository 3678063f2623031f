"""A2C with the rollout on the env's device: synchronous n-step advantage actor-critic.

The algorithm of SB3's A2C (and of the paper's RL experiments): ``n_steps`` in every env,
GAE with lambda 1 (n-step returns bootstrapped from the last value), one gradient step per
rollout on policy loss + ``vf_coef`` value loss - ``ent_coef`` entropy, gradients clipped to
``max_grad_norm``, RMSprop as TensorFlow has it (SB3's ``RMSpropTFLike``, alpha 0.99). It
shares the on-device PPO's network, rollout, GAE, episode log and checkpoints.
"""

from __future__ import annotations

import torch
from stable_baselines3.common.sb2_compat.rmsprop_tf_like import RMSpropTFLike
from torch import nn

from coordrl.agents.device_ppo import DevicePPO
from coordrl.settings import A2CSettings, value_at


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

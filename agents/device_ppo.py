"""PPO with rollouts, GAE and updates all on one device, for the torch toy envs.

CleanRL's ``ppo_atari.py`` shape (one readable loop) over a :class:`~envs.toy.base.TorchVectorEnv`:
observations, actions, rewards and advantages never leave the device and no numpy runs in
the loop. The network is the extractor SB3 policies use (``NatureCNN`` / ``CoordNatureCNN``
from :mod:`coordrl.extractors`) with SB3's heads and initialisation, so the two PPOs train
the same model.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from gymnasium import spaces
from torch import nn
from torch.distributions import Categorical, Distribution, Independent, Normal

from coordrl.extractors import CoordNatureCNN, NatureCNN


@dataclasses.dataclass(frozen=True)
class PPOSettings:
    """PPO hyperparameters; the defaults are SB3's PPO defaults."""

    n_steps: int = 128  # per env, per rollout
    batch_size: int = 256  # minibatch size
    n_epochs: int = 4
    learning_rate: float = 2.5e-4
    linear_lr: bool = True  # decay the learning rate linearly to 0, as rl-zoo3's lin_
    gamma: float = 0.99
    gae_lambda: float = 0.95
    clip_range: float = 0.1
    ent_coef: float = 0.01
    vf_coef: float = 0.5
    max_grad_norm: float = 0.5
    normalize_advantage: bool = True


class ActorCritic(nn.Module):
    """A shared NatureCNN (conv or CoordConv) with a policy head and a value head.

    The policy is categorical for a ``Discrete`` action space and a diagonal Gaussian with
    state-independent log standard deviations (initialised to 0) for a ``Box``, as in SB3.
    Initialised as SB3 initialises its ``CnnPolicy`` (``ortho_init``): orthogonal weights
    with gain sqrt(2) in the extractor, 0.01 for the policy head, 1 for the value head, zero
    biases; CoordConv2d's ``coord_weight`` keeps its own initialisation, as under SB3.
    """

    def __init__(
        self,
        observation_space: spaces.Box,
        action_space: spaces.Discrete | spaces.Box,
        arch: str = "coordconv",
        coord_layers: str = "first",
        with_r: bool = False,
    ) -> None:
        super().__init__()
        if arch == "coordconv":
            self.extractor: NatureCNN = CoordNatureCNN(
                observation_space, coord_layers=coord_layers, with_r=with_r
            )
        elif arch == "conv":
            self.extractor = NatureCNN(observation_space)
        else:
            raise ValueError(f"unknown arch {arch!r}; choose conv or coordconv")
        self.continuous = isinstance(action_space, spaces.Box)
        outputs = int(np.prod(action_space.shape)) if self.continuous else int(action_space.n)
        self.policy = nn.Linear(self.extractor.features_dim, outputs)
        self.log_std = nn.Parameter(torch.zeros(outputs)) if self.continuous else None
        self.value = nn.Linear(self.extractor.features_dim, 1)
        for module, gain in ((self.extractor, math.sqrt(2)), (self.policy, 0.01), (self.value, 1)):
            module.apply(lambda m, g=gain: _orthogonal(m, g))

    def forward(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Action logits (or Gaussian means) and state values for uint8 observations."""
        features = self.extractor(obs.float() / 255.0)
        return self.policy(features), self.value(features).squeeze(-1)

    def distribution(self, head: torch.Tensor) -> Distribution:
        """The policy's distribution over actions, from :meth:`forward`'s first output."""
        if self.log_std is None:
            return Categorical(logits=head)
        return Independent(Normal(head, self.log_std.exp().expand_as(head)), 1)

    def mode(self, head: torch.Tensor) -> torch.Tensor:
        """The most likely action: the best logit, or the Gaussian's mean."""
        return head if self.continuous else head.argmax(-1)


def _orthogonal(module: nn.Module, gain: float) -> None:
    if isinstance(module, nn.Linear | nn.Conv2d):  # as SB3's init_weights
        nn.init.orthogonal_(module.weight, gain=gain)
        if module.bias is not None:
            module.bias.data.fill_(0.0)


@dataclasses.dataclass
class RolloutStats:
    """What one rollout + update produced, for logs and progress bars."""

    step: int
    sps: float
    episodes: int
    mean_return: float
    success_rate: float
    losses: dict[str, float]


class DevicePPO:
    """PPO over a batched torch env; ``learn`` runs until ``total_steps`` env steps."""

    def __init__(
        self,
        env,
        settings: PPOSettings,
        arch: str = "coordconv",
        coord_layers: str = "first",
        with_r: bool = False,
        seed: int = 0,
    ) -> None:
        self.env, self.settings = env, settings
        self.device = env.device
        if env.truncates:
            env.final_obs = True  # time-limit cuts are bootstrapped from the last observation
        torch.manual_seed(seed)
        self.model = ActorCritic(
            env.single_observation_space,
            env.single_action_space,
            arch=arch,
            coord_layers=coord_layers,
            with_r=with_r,
        ).to(self.device)
        self.optimizer = torch.optim.Adam(
            self.model.parameters(), lr=settings.learning_rate, eps=1e-5
        )
        self.num_timesteps = 0
        self.seed = seed
        self._obs: torch.Tensor | None = None
        n, t = env.num_envs, settings.n_steps
        shape = env.single_observation_space.shape
        if (n * t) % settings.batch_size:
            raise ValueError(
                f"n_steps x num_envs ({t} x {n}) must be a multiple of batch_size "
                f"({settings.batch_size})"
            )
        self.buffers = {
            "obs": torch.zeros((t, n, *shape), dtype=torch.uint8, device=self.device),
            "actions": torch.zeros(
                (t, n, *env.single_action_space.shape),
                dtype=torch.float32 if self.model.continuous else torch.int64,
                device=self.device,
            ),
            "logprobs": torch.zeros((t, n), device=self.device),
            "rewards": torch.zeros((t, n), device=self.device),
            "dones": torch.zeros((t, n), device=self.device),
            "values": torch.zeros((t, n), device=self.device),
        }

    def learn(
        self,
        total_steps: int,
        on_rollout: Callable[[RolloutStats], bool] | None = None,
    ) -> None:
        """Train until ``total_steps``; ``on_rollout`` returning False stops early."""
        s, env = self.settings, self.env
        if self._obs is None:
            self._obs, _ = env.reset(seed=self.seed + self.num_timesteps)
        per_rollout = s.n_steps * env.num_envs
        while self.num_timesteps < total_steps:
            start = time.perf_counter()
            if s.linear_lr:
                remaining = max(0.0, 1.0 - self.num_timesteps / total_steps)
                for group in self.optimizer.param_groups:
                    group["lr"] = s.learning_rate * remaining
            episodes = self._collect()
            losses = self._update()
            self.num_timesteps += per_rollout
            stats = RolloutStats(
                step=self.num_timesteps,
                sps=per_rollout / (time.perf_counter() - start),
                episodes=episodes["count"],
                mean_return=episodes["return"],
                success_rate=episodes["success"],
                losses=losses,
            )
            if on_rollout is not None and on_rollout(stats) is False:
                break

    @torch.no_grad()
    def _collect(self) -> dict[str, Any]:
        """One rollout of ``n_steps`` in every env; returns the ended episodes' means."""
        s, env, b = self.settings, self.env, self.buffers
        assert self._obs is not None
        total_return = torch.zeros((), device=self.device)
        total_success = torch.zeros((), device=self.device)
        count = torch.zeros((), dtype=torch.int64, device=self.device)
        for t in range(s.n_steps):
            head, value = self.model(self._obs)
            dist = self.model.distribution(head)
            action = dist.sample()  # a Box env clips it; the update scores the sample
            b["obs"][t] = self._obs
            b["actions"][t] = action
            b["logprobs"][t] = dist.log_prob(action)
            b["values"][t] = value
            obs, reward, terminated, truncated, info = env.step(action)
            if "final_obs" in info and truncated.any():  # bootstrap what the time limit cut
                _, final_value = self.model(info["final_obs"])
                reward = reward + s.gamma * final_value * truncated
            b["rewards"][t] = reward
            b["dones"][t] = (terminated | truncated).float()
            ended = info["_episode"]
            count += ended.sum()
            total_return += (info["episode_return"] * ended).sum()
            total_success += (info["success"] & ended).sum()
            self._obs = obs
        _, next_value = self.model(self._obs)
        self._advantages(next_value)
        n = int(count)
        return {
            "count": n,
            "return": float(total_return / n) if n else float("nan"),
            "success": float(total_success / n) if n else float("nan"),
        }

    def _advantages(self, next_value: torch.Tensor) -> None:
        """GAE(lambda) over the rollout, into ``buffers["advantages"]`` and ``["returns"]``."""
        s, b = self.settings, self.buffers
        advantages = torch.zeros_like(b["rewards"])
        last = torch.zeros_like(next_value)
        for t in reversed(range(s.n_steps)):
            following = next_value if t == s.n_steps - 1 else b["values"][t + 1]
            alive = 1.0 - b["dones"][t]
            delta = b["rewards"][t] + s.gamma * following * alive - b["values"][t]
            last = delta + s.gamma * s.gae_lambda * alive * last
            advantages[t] = last
        b["advantages"] = advantages
        b["returns"] = advantages + b["values"]

    def _update(self) -> dict[str, float]:
        """``n_epochs`` passes of clipped-surrogate minibatch updates over the rollout."""
        s, b = self.settings, self.buffers
        flat = {k: v.reshape(-1, *v.shape[2:]) for k, v in b.items()}
        size = flat["actions"].shape[0]
        sums = {"policy_loss": 0.0, "value_loss": 0.0, "entropy": 0.0, "clip_fraction": 0.0}
        updates = 0
        for _ in range(s.n_epochs):
            order = torch.randperm(size, device=self.device)
            for start in range(0, size, s.batch_size):
                idx = order[start : start + s.batch_size]
                head, value = self.model(flat["obs"][idx])
                dist = self.model.distribution(head)
                logprob = dist.log_prob(flat["actions"][idx])
                ratio = torch.exp(logprob - flat["logprobs"][idx])
                advantages = flat["advantages"][idx]
                if s.normalize_advantage and len(idx) > 1:
                    advantages = (advantages - advantages.mean()) / (advantages.std() + 1e-8)
                policy_loss = -torch.min(
                    advantages * ratio,
                    advantages * torch.clamp(ratio, 1 - s.clip_range, 1 + s.clip_range),
                ).mean()
                value_loss = nn.functional.mse_loss(value, flat["returns"][idx])
                entropy = dist.entropy().mean()
                loss = policy_loss + s.vf_coef * value_loss - s.ent_coef * entropy
                self.optimizer.zero_grad(set_to_none=True)
                loss.backward()
                nn.utils.clip_grad_norm_(self.model.parameters(), s.max_grad_norm)
                self.optimizer.step()
                clipped = ((ratio - 1).abs() > s.clip_range).float().mean()
                for key, value_ in zip(
                    sums, (policy_loss, value_loss, entropy, clipped), strict=True
                ):
                    sums[key] += value_.detach()
                updates += 1
        return {key: float(total) / updates for key, total in sums.items()}

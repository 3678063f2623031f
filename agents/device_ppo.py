"""PPO with rollouts, GAE and updates all on one device, over any torch vector env.

CleanRL's ``ppo_atari.py`` shape (one readable loop) over a torch vector env
(:class:`~coordrl.envs.torch_vector.TorchVectorEnv`): observations, actions, rewards and
advantages never leave the device and no numpy runs in the loop; finished episodes cross to
the host once per rollout, for the run's ``episodes.csv``. The network is
:class:`~coordrl.agents.actor_critic.ActorCritic`: the extractor SB3 policies use with SB3's
heads and initialisation, so the two PPOs train the same model. :class:`DevicePPO` is a
trainer of the run lifecycle (:mod:`coordrl.lifecycle`).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from coordrl.agents.actor_critic import ActorCritic
from coordrl.episodes import Episodes
from coordrl.lifecycle import Progress, Report
from coordrl.runs import TORCH_MODEL, TORCH_STATE
from coordrl.settings import PPOSettings, value_at

if TYPE_CHECKING:
    from torch.utils.tensorboard import SummaryWriter


def autocast(device: torch.device, precision: str) -> torch.autocast:
    """The network's arithmetic for ``precision``: bfloat16 autocast (weights, optimizer
    state and the losses stay float32), or as it is for ``fp32``."""
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16")


class DevicePPO:
    """PPO over a batched torch env; ``learn`` runs until ``total_steps`` env steps.

    ``coord``: ``coord_layers`` and ``with_r`` of a CoordConv ``arch``.
    """

    model_file = TORCH_MODEL

    def __init__(
        self,
        env,
        settings: PPOSettings,
        arch: str = "coordconv",
        seed: int = 0,
        **coord: Any,
    ) -> None:
        self.env, self.settings = env, settings
        self.device = env.device
        if env.truncates:
            env.final_obs = True  # time-limit cuts are bootstrapped from the last observation
        torch.manual_seed(seed)
        self.model = ActorCritic(
            env.single_observation_space, env.single_action_space, arch, **coord
        ).to(self.device)
        self.optimizer = self._make_optimizer()
        self.num_timesteps = 0
        self.seed = seed
        self._obs: torch.Tensor | None = None
        n, t = env.num_envs, settings.n_steps
        shape = env.single_observation_space.shape
        settings.check(n)
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
        # the episodes that end in each step of a rollout, sent to the host once per rollout
        self.ends = {
            "ended": torch.zeros((t, n), dtype=torch.bool, device=self.device),
            "score": torch.zeros((t, n), dtype=torch.float64, device=self.device),
            "length": torch.zeros((t, n), dtype=torch.int64, device=self.device),
            "success": torch.full((t, n), math.nan, dtype=torch.float64, device=self.device),
        }

    def _make_optimizer(self) -> torch.optim.Optimizer:
        """Adam (eps 1e-5, as SB3's PPO), fused on a GPU: one kernel per step."""
        return torch.optim.Adam(
            self.model.parameters(),
            lr=value_at(self.settings.learning_rate, 1.0),
            eps=1e-5,
            fused=self.device.type == "cuda" or None,
        )

    def learn(
        self,
        total_steps: int,
        report: Report | None = None,
        writer: SummaryWriter | None = None,
    ) -> None:
        """Train until ``total_steps``; ``report`` (after each update) returning False stops
        early; ``writer`` gets the losses and learning rate of each update."""
        s, env = self.settings, self.env
        if self._obs is None:
            self._obs, _ = env.reset(seed=self.seed + self.num_timesteps)
        per_rollout = s.n_steps * env.num_envs
        while self.num_timesteps < total_steps:
            remaining = max(0.0, 1.0 - self.num_timesteps / total_steps)
            rate = value_at(s.learning_rate, remaining)
            for group in self.optimizer.param_groups:
                group["lr"] = rate
            episodes = self._collect()
            losses = self._update(remaining)
            self.num_timesteps += per_rollout
            if writer is not None:  # the losses cross to the host only to be logged, at once
                values = torch.stack([v.detach().float() for v in losses.values()]).tolist()
                for key, value in zip(losses, values, strict=True):
                    writer.add_scalar(f"train/{key}", value, self.num_timesteps)
                writer.add_scalar("train/learning_rate", rate, self.num_timesteps)
            if report is not None and not report(Progress(self.num_timesteps, episodes)):
                break

    @torch.no_grad()
    def _collect(self) -> Episodes:
        """One rollout of ``n_steps`` in every env; returns the episodes that ended in it.

        The env's groups are stepped in turn: while the env steps one group (``send``), the
        network acts on the next, whose step it has received (``recv``). With one group this
        is act, step, act, step."""
        s, env = self.settings, self.env
        assert self._obs is not None
        groups = env.groups
        if len(groups) > 1:
            self._obs = self._obs.clone()  # written group by group below
        pending: dict[int, int] = {}  # group -> the rollout step it was sent for
        for t in range(s.n_steps):
            for index, envs in enumerate(groups):
                if index in pending:
                    self._receive(index, envs, pending.pop(index))
                env.send(index, self._act(t, envs))
                pending[index] = t
                before = (index - 1) % len(groups)
                if before in pending and before != index:
                    self._receive(before, groups[before], pending.pop(before))
        for index in list(pending):
            self._receive(index, groups[index], pending.pop(index))
        _, next_value = self._forward(self._obs)
        self._advantages(next_value)
        return self._ended_episodes()

    def _forward(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The network's heads in the settings' precision, as float32."""
        with autocast(self.device, self.settings.precision):
            head, value = self.model(obs)
        return head.float(), value.float()

    def _act(self, t: int, envs: slice) -> torch.Tensor:
        """Sample actions for ``envs`` at rollout step ``t``, recording what the update needs."""
        b = self.buffers
        obs = self._obs[envs]
        head, value = self._forward(obs)
        dist = self.model.distribution(head)
        action = dist.sample()  # a Box env clips it; the update scores the sample
        b["obs"][t, envs] = obs
        b["actions"][t, envs] = action
        b["logprobs"][t, envs] = dist.log_prob(action)
        b["values"][t, envs] = value
        return action

    def _receive(self, index: int, envs: slice, t: int) -> None:
        """Record group ``index``'s step ``t`` (sent before) and keep its next observation."""
        b, ends = self.buffers, self.ends
        obs, reward, terminated, truncated, info = self.env.recv(index)
        if "final_obs" in info and truncated.any():  # bootstrap what the time limit cut
            _, final_value = self._forward(info["final_obs"])
            reward = reward + self.settings.gamma * final_value * truncated
        b["rewards"][t, envs] = reward
        b["dones"][t, envs] = (terminated | truncated).float()
        ends["ended"][t, envs] = info["_episode"]
        ends["score"][t, envs] = info["episode_return"]
        ends["length"][t, envs] = info["episode_length"]
        if "success" in info:
            ends["success"][t, envs] = info["success"]
        if len(obs) == self.env.num_envs:
            self._obs = obs
        else:
            self._obs[envs] = obs

    def _ended_episodes(self) -> Episodes:
        """The rollout's finished episodes, on the host, in the order they ended: the
        rollout's end records cross to the host in one transfer."""
        e = self.ends
        packed = torch.stack(
            [e["ended"].double(), e["score"], e["length"].double(), e["success"]]
        ).cpu()
        ended = packed[0].bool()
        steps, envs = ended.nonzero(as_tuple=True)
        n = self.env.num_envs
        return Episodes(
            step=(self.num_timesteps + (steps + 1) * n).numpy().astype(np.int64),
            env=envs.numpy().astype(np.int64),
            score=packed[1][ended].numpy(),
            length=packed[2][ended].numpy().astype(np.int64),
            success=packed[3][ended].numpy(),
        )

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

    def _update(self, remaining: float) -> dict[str, torch.Tensor]:
        """``n_epochs`` passes of clipped-surrogate minibatch updates over the rollout;
        ``remaining``: the fraction of training left, for the clip range's schedule. Returns
        the mean losses, on the device."""
        s, b = self.settings, self.buffers
        clip_range = value_at(s.clip_range, remaining)
        flat = {k: v.reshape(-1, *v.shape[2:]) for k, v in b.items()}
        size = flat["actions"].shape[0]
        sums = {"policy_loss": 0.0, "value_loss": 0.0, "entropy": 0.0, "clip_fraction": 0.0}
        updates = 0
        for _ in range(s.n_epochs):
            order = torch.randperm(size, device=self.device)
            for start in range(0, size, s.batch_size):
                idx = order[start : start + s.batch_size]
                head, value = self._forward(flat["obs"][idx])
                dist = self.model.distribution(head)
                logprob = dist.log_prob(flat["actions"][idx])
                ratio = torch.exp(logprob - flat["logprobs"][idx])
                advantages = flat["advantages"][idx]
                if s.normalize_advantage and len(idx) > 1:
                    advantages = (advantages - advantages.mean()) / (advantages.std() + 1e-8)
                policy_loss = -torch.min(
                    advantages * ratio,
                    advantages * torch.clamp(ratio, 1 - clip_range, 1 + clip_range),
                ).mean()
                value_loss = nn.functional.mse_loss(value, flat["returns"][idx])
                entropy = dist.entropy().mean()
                self._step(policy_loss + s.vf_coef * value_loss - s.ent_coef * entropy)
                clipped = ((ratio - 1).abs() > clip_range).float().mean()
                for key, value_ in zip(
                    sums, (policy_loss, value_loss, entropy, clipped), strict=True
                ):
                    sums[key] += value_.detach()
                updates += 1
        return {key: total / updates for key, total in sums.items()}

    def _step(self, loss: torch.Tensor) -> None:
        """One optimizer step on ``loss``, gradients clipped to ``max_grad_norm``."""
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(self.model.parameters(), self.settings.max_grad_norm)
        self.optimizer.step()

    # -- the lifecycle's trainer protocol ------------------------------------------------

    def save_state(self, folder: Path) -> None:
        """Network, optimizer, step counter and random generators, in ``state.pt``."""
        state = {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "num_timesteps": self.num_timesteps,
            "torch_rng": torch.get_rng_state(),
        }
        if self.device.type == "cuda":
            state["cuda_rng"] = torch.cuda.get_rng_state(self.device)
        torch.save(state, folder / TORCH_STATE)

    def load_state(self, folder: Path) -> None:
        """Restore :meth:`save_state`; the env restarts seeded with ``seed + step``."""
        state = torch.load(folder / TORCH_STATE, map_location=self.device, weights_only=True)
        self.model.load_state_dict(state["model"])
        fused = [group.get("fused") for group in self.optimizer.param_groups]
        self.optimizer.load_state_dict(state["optimizer"])
        for group, ours in zip(self.optimizer.param_groups, fused, strict=True):
            if "fused" in group:
                group["fused"] = ours  # a GPU run's state resumes on the CPU, and back
        self.num_timesteps = int(state["num_timesteps"])
        torch.set_rng_state(state["torch_rng"].cpu())
        if "cuda_rng" in state and self.device.type == "cuda":
            torch.cuda.set_rng_state(state["cuda_rng"].cpu(), self.device)
        self._obs = None

    def save_model(self, path: Path) -> None:
        """The final network's weights (what ``coordrl evaluate`` loads)."""
        torch.save({"model": self.model.state_dict()}, path)

    def close(self) -> None:
        self.env.close()

"""The batched torch env every coordrl env builds on: state as tensors on one device.

It follows gymnasium's vector API (``reset(seed=)``, ``step()``, batched and single
spaces) with same-step autoreset: when an episode ends, the observation returned is the
first of the next one. Observations, rewards and flags are torch tensors on ``device``;
nothing leaves the device inside a step, so thousands of envs run as one batch.
"""

from __future__ import annotations

from typing import Any

import torch
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from coordrl.device import resolve_device


class TorchVectorEnv(VectorEnv):
    """A seeded generator, episode statistics and the vector API around three methods.

    Subclasses define the spaces and ``_reset_envs``, ``_transition`` and ``_observe``.
    ``info`` holds (num_envs,) tensors: ``success`` where the task has one, and for the
    envs whose episode ended this step (``info["_episode"]``), ``episode_return`` and
    ``episode_length``. With ``final_obs=True`` it also holds ``final_obs``, the last
    observation of ended episodes.
    """

    metadata: dict[str, Any] = {"autoreset_mode": AutoresetMode.SAME_STEP}  # noqa: RUF012
    truncates = False  # whether episodes can be cut by a time limit (then learners bootstrap)

    def __init__(
        self, num_envs: int, *, device: str | torch.device = "cpu", final_obs: bool = False
    ) -> None:
        if not isinstance(num_envs, int) or isinstance(num_envs, bool) or num_envs < 1:
            raise ValueError(f"num_envs must be a positive integer, got {num_envs!r}")
        self.device = resolve_device(str(device))
        self.num_envs = num_envs
        self.final_obs = final_obs
        self.generator = torch.Generator(device=self.device)
        self.generator.seed()
        self.episode_return = torch.zeros(num_envs, device=self.device)
        self.episode_length = torch.zeros(num_envs, dtype=torch.int64, device=self.device)
        self.observation_space = batch_space(self.single_observation_space, num_envs)
        self.action_space = batch_space(self.single_action_space, num_envs)
        self._everyone = torch.ones(num_envs, dtype=torch.bool, device=self.device)
        self._sent: torch.Tensor | None = None  # the actions send() left for recv()

    # -- what an env defines -----------------------------------------------------------

    def _reset_envs(self, mask: torch.Tensor, options: dict[str, Any] | None) -> None:
        """Start new episodes in the envs where ``mask`` is True."""
        raise NotImplementedError

    def _transition(
        self, actions: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """Apply ``actions``: (reward, terminated, truncated, success or None), (num_envs,)."""
        raise NotImplementedError

    def _observe(self) -> torch.Tensor:
        """The observation of every env, uint8 on the device."""
        raise NotImplementedError

    # -- the vector API ----------------------------------------------------------------

    @property
    def groups(self) -> tuple[slice, ...]:
        """Env ranges a learner may step separately with :meth:`send` / :meth:`recv`, acting
        on one while another steps. Here: one group, all envs (stepping is on the device)."""
        return (slice(0, self.num_envs),)

    def send(self, group: int, actions: torch.Tensor) -> None:
        """Start a step of ``groups[group]``; here it runs at :meth:`recv`."""
        self._sent = actions

    def recv(
        self, group: int
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, dict[str, Any]]:
        """Finish the step :meth:`send` started: :meth:`step`'s results."""
        assert self._sent is not None, "send() must come first"
        actions, self._sent = self._sent, None
        return self.step(actions)

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[torch.Tensor, dict[str, Any]]:
        if seed is not None:
            self.generator.manual_seed(seed)
        self._reset_envs(self._everyone, options)
        self.episode_return.zero_()
        self.episode_length.zero_()
        return self._observe(), {}

    def step(
        self, actions: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, dict[str, Any]]:
        shape = (self.num_envs, *self.single_action_space.shape)
        actions = torch.as_tensor(actions, device=self.device).reshape(shape)
        reward, terminated, truncated, success = self._transition(actions)
        self.episode_return += reward
        self.episode_length += 1
        done = terminated | truncated
        info: dict[str, Any] = {
            "episode_return": self.episode_return.clone(),
            "episode_length": self.episode_length.clone(),
            "_episode": done,
        }
        if success is not None:
            info["success"] = success
        if self.final_obs:
            info["final_obs"] = self._observe()
        self._reset_envs(done, None)
        self.episode_return.masked_fill_(done, 0.0)
        self.episode_length.masked_fill_(done, 0)
        return self._observe(), reward, terminated, truncated, info

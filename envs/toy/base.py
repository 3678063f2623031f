"""The batched torch env both toy tasks build on: state as tensors on one device.

It follows gymnasium's vector API (``reset(seed=)``, ``step()``, batched and single
spaces) with same-step autoreset: when an episode ends, the observation returned is the
first of the next one. Observations, rewards and flags are torch tensors on ``device``;
nothing leaves the device inside a step, so thousands of envs run as one batch.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import torch
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from coordrl.device import resolve_device
from coordrl.envs.toy.targets import Part, check_task_args, target_positions
from coordrl.toy.data import Split


class TorchVectorEnv(VectorEnv):
    """Base of the toy tasks: targets drawn from a split, a seeded generator, episode stats.

    Subclasses define the spaces and ``_reset_envs``, ``_transition`` and ``_observe``.
    ``info`` holds (num_envs,) tensors: ``success``, and for the envs whose episode ended
    this step (``info["_episode"]``), ``episode_return`` and ``episode_length``. With
    ``final_obs=True`` it also holds ``final_obs``, the last observation of ended episodes.
    """

    metadata: dict[str, Any] = {"autoreset_mode": AutoresetMode.SAME_STEP}  # noqa: RUF012
    truncates = False  # whether episodes can be cut by a time limit (then learners bootstrap)

    def __init__(
        self,
        num_envs: int,
        *,
        device: str | torch.device = "cpu",
        canvas: int = 64,
        split: Split = "quadrant",
        part: Part = "train",
        final_obs: bool = False,
    ) -> None:
        if not isinstance(num_envs, int) or num_envs < 1:
            raise ValueError(f"num_envs must be a positive integer, got {num_envs!r}")
        check_task_args(canvas, split, part)
        self.device = resolve_device(str(device))
        self.num_envs = num_envs
        self.canvas, self.split, self.part = canvas, split, part
        self.final_obs = final_obs
        self.pool = target_positions(canvas, split, part).to(self.device)
        self.generator = torch.Generator(device=self.device)
        self.generator.seed()
        self.episode_return = torch.zeros(num_envs, device=self.device)
        self.episode_length = torch.zeros(num_envs, dtype=torch.int64, device=self.device)
        self.observation_space = batch_space(self.single_observation_space, num_envs)
        self.action_space = batch_space(self.single_action_space, num_envs)
        self._everyone = torch.ones(num_envs, dtype=torch.bool, device=self.device)

    # -- what a task defines -----------------------------------------------------------

    def _reset_envs(self, mask: torch.Tensor, options: dict[str, Any] | None) -> None:
        """Start new episodes in the envs where ``mask`` is True."""
        raise NotImplementedError

    def _transition(
        self, actions: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Apply ``actions``: (reward, terminated, truncated, success), each (num_envs,)."""
        raise NotImplementedError

    def _observe(self) -> torch.Tensor:
        """The observation of every env, uint8 on the device."""
        raise NotImplementedError

    # -- the vector API ----------------------------------------------------------------

    def sample_targets(self, count: int) -> torch.Tensor:
        """``count`` target centres drawn uniformly from this env's part of the split."""
        index = torch.randint(
            len(self.pool), (count,), generator=self.generator, device=self.device
        )
        return self.pool[index]

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
            "success": success,
            "episode_return": self.episode_return.clone(),
            "episode_length": self.episode_length.clone(),
            "_episode": done,
        }
        if self.final_obs:
            info["final_obs"] = self._observe()
        self._reset_envs(done, None)
        self.episode_return.masked_fill_(done, 0.0)
        self.episode_length.masked_fill_(done, 0)
        return self._observe(), reward, terminated, truncated, info

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(num_envs={self.num_envs}, device={self.device}, "
            f"canvas={self.canvas}, split={self.split!r}, part={self.part!r})"
        )


def numpy_targets(canvas: int, split: str, part: str) -> Any:
    """The same target pool as the torch envs', as a numpy array for the reference envs."""
    return target_positions(canvas, split, part).numpy()


class NumpyToyEnv(gym.Env):
    """Base of the numpy reference envs: one env, the same task, gymnasium's single API."""

    metadata: dict[str, Any] = {"render_modes": []}  # noqa: RUF012

    def __init__(self, canvas: int = 64, split: str = "quadrant", part: str = "train") -> None:
        check_task_args(canvas, split, part)
        self.canvas, self.split, self.part = canvas, split, part
        self.pool = numpy_targets(canvas, split, part)

    def sample_target(self) -> Any:
        return self.pool[self.np_random.integers(len(self.pool))]

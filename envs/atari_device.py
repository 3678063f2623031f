"""ale-py's C++ Atari vector env as a torch vector env, for the on-device PPO and A2C.

The emulator runs in ale-py's C++ threads under coordrl's Atari protocol (see
:mod:`coordrl.envs.atari`); each step's (N, 4, 84, 84) uint8 frames are copied once into
pinned host memory and from there to the device in one transfer. Life-loss ends and reward
clipping for the learner, and the true scores of whole games in ``info``, come from the same
:class:`~coordrl.envs.atari_games.GameTracker` as the SB3 wrapper's, so both backends train
on identical episodes. The interface is :class:`~coordrl.envs.torch_vector.TorchVectorEnv`'s.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from gymnasium.vector import AutoresetMode, VectorEnv

from coordrl.device import resolve_device
from coordrl.envs.atari import (
    FRAME_SKIP,
    FRAME_STACK,
    MAX_EPISODE_FRAMES,
    NOOP_MAX,
    SCREEN_SIZE,
    STICKY_ACTIONS,
    game_name,
    resolve_env_id,
)
from coordrl.envs.atari_games import GameTracker


class AtariTorchEnv(VectorEnv):
    """``num_envs`` Atari games stepped by ale-py, observed as tensors on ``device``.

    ``training`` (default) ends the learner's episode at a lost life and clips its reward to
    the sign; ``info["episode_return"]`` / ``["episode_length"]`` are the true score and length
    of the whole games that ended (``info["_episode"]``). Games cut by the 108,000-frame cap
    are ``truncated``; with ``final_obs`` their last observation is in ``info["final_obs"]``.
    """

    metadata: dict[str, Any] = {"autoreset_mode": AutoresetMode.SAME_STEP}  # noqa: RUF012
    truncates = True

    def __init__(
        self,
        env_id: str,
        num_envs: int,
        *,
        device: str | torch.device = "cpu",
        training: bool = True,
        repeat_action_probability: float = STICKY_ACTIONS,
        noop_max: int = NOOP_MAX,
        num_threads: int = 0,
        final_obs: bool = False,
    ) -> None:
        from ale_py.vector_env import AtariVectorEnv

        if not isinstance(num_envs, int) or isinstance(num_envs, bool) or num_envs < 1:
            raise ValueError(f"num_envs must be a positive integer, got {num_envs!r}")
        self.env_id = resolve_env_id(env_id)
        self.device = resolve_device(str(device))
        self.num_envs = num_envs
        self.final_obs = final_obs
        self.env = AtariVectorEnv(
            game_name(self.env_id),
            num_envs,
            num_threads=num_threads,
            repeat_action_probability=repeat_action_probability,
            max_num_frames_per_episode=MAX_EPISODE_FRAMES,
            autoreset_mode="SameStep",
            img_height=SCREEN_SIZE,
            img_width=SCREEN_SIZE,
            stack_num=FRAME_STACK,
            frameskip=FRAME_SKIP,
            noop_max=noop_max,
            reward_clipping=False,
            episodic_life=False,
        )
        self.single_observation_space = self.env.single_observation_space
        self.single_action_space = self.env.single_action_space
        self.observation_space = self.env.observation_space
        self.action_space = self.env.action_space
        self.games = GameTracker(num_envs, terminal_on_life_loss=training, clip_rewards=training)
        self._host: torch.Tensor | None = None  # pinned staging frames, on a GPU only
        self._copied: torch.cuda.Event | None = None
        if self.device.type == "cuda":
            shape = (num_envs, *self.single_observation_space.shape)
            self._host = torch.empty(shape, dtype=torch.uint8, pin_memory=True)
            self._copied = torch.cuda.Event()

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[torch.Tensor, dict[str, Any]]:
        """New games in every env; ``seed`` seeds env i with ``seed + i`` (32-bit, as the C++
        env takes them)."""
        if seed is not None:
            seed %= 2**31 - self.num_envs
        obs, info = self.env.reset(seed=seed)
        self.games.reset(info["lives"])
        return self._to_device(obs), {}

    def step(
        self, actions: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, dict[str, Any]]:
        """One agent step (4 frames) in every env, with same-step autoreset."""
        host_actions = torch.as_tensor(actions).reshape(self.num_envs).cpu().numpy()
        obs, rewards, terminated, truncated, info = self.env.step(host_actions.astype(np.int64))
        step = self.games.step(rewards, terminated, truncated, info["lives"])
        out: dict[str, Any] = {
            "episode_return": self._small(step.scores, torch.float32),
            "episode_length": self._small(step.lengths, torch.int64),
            "_episode": self._small(step.game_over, torch.bool),
        }
        if self.final_obs:
            final = obs.copy()
            if step.game_over.any():
                final[step.game_over] = info["final_obs"][step.game_over]
            out["final_obs"] = torch.from_numpy(final).to(self.device)
        return (
            self._to_device(obs),
            self._small(step.learner_rewards, torch.float32),
            self._small(step.terminated, torch.bool),
            self._small(step.truncated, torch.bool),
            out,
        )

    def _to_device(self, obs: np.ndarray) -> torch.Tensor:
        """Frames on the device. On a GPU: one copy into pinned memory (once the previous
        transfer out of it is done), then one asynchronous transfer. On the CPU: no copy (the
        C++ env returns a fresh array each step)."""
        if self._host is None or self._copied is None:
            return torch.from_numpy(obs)
        self._copied.synchronize()
        self._host.copy_(torch.from_numpy(obs))
        frames = self._host.to(self.device, non_blocking=True)
        self._copied.record()
        return frames

    def _small(self, values: np.ndarray, dtype: torch.dtype) -> torch.Tensor:
        return torch.as_tensor(values).to(device=self.device, dtype=dtype)

    def close(self, **kwargs: Any) -> None:
        self.env.close()

    def __repr__(self) -> str:
        return f"AtariTorchEnv({self.env_id!r}, num_envs={self.num_envs}, device={self.device})"

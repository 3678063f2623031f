"""ale-py's C++ Atari vector env as a torch vector env, for the on-device PPO and A2C.

The emulator runs in ale-py's C++ threads under coordrl's Atari protocol (see
:mod:`coordrl.envs.atari`); each step's (N, 4, 84, 84) uint8 frames are copied once into
pinned host memory and from there to the device in one transfer. Life-loss ends and reward
clipping for the learner, and the true scores of whole games in ``info``, come from the same
:class:`~coordrl.envs.atari_games.GameTracker` as the SB3 wrapper's, so both backends train
on identical episodes. The interface is :class:`~coordrl.envs.torch_vector.TorchVectorEnv`'s.

With ``env_batch_size`` below ``num_envs`` the envs form groups of that size, each its own
C++ env seeded as the one big env would seed them: :meth:`AtariTorchEnv.send` returns at
once, so a trainer acts on one group while the emulator steps the others (``recv`` waits).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from coordrl.device import resolve_device
from coordrl.envs.atari import (
    NOOP_MAX,
    STICKY_ACTIONS,
    cpp_seed,
    cpp_vector_env,
    resolve_env_id,
)
from coordrl.envs.atari_games import GameTracker


class _Group:
    """One C++ vector env for a range of envs: its bookkeeping and staging buffer."""

    def __init__(self, owner: AtariTorchEnv, envs: slice, training: bool, **ale: Any) -> None:
        self.owner, self.envs = owner, envs
        size = envs.stop - envs.start
        self.env = cpp_vector_env(owner.env_id, size, **ale)
        self.games = GameTracker(size, terminal_on_life_loss=training, clip_rewards=training)
        self.host: torch.Tensor | None = None  # pinned staging frames, on a GPU only
        self.copied: torch.cuda.Event | None = None
        if owner.device.type == "cuda":
            shape = (size, *self.env.single_observation_space.shape)
            self.host = torch.empty(shape, dtype=torch.uint8, pin_memory=True)
            self.copied = torch.cuda.Event()

    def reset(self, seed: int | None) -> torch.Tensor:
        obs, info = self.env.reset(seed=None if seed is None else seed + self.envs.start)
        self.games.reset(info["lives"])
        return self.to_device(obs)

    def recv(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, dict]:
        obs, rewards, terminated, truncated, info = self.env.recv()
        step = self.games.step(rewards, terminated, truncated, info["lives"])
        # the per-env figures cross to the device together: one transfer, not six
        columns = (step.learner_rewards, step.terminated, step.truncated, step.game_over)
        packed = np.stack([*columns, step.scores, step.lengths], axis=1, dtype=np.float64)
        figures = torch.from_numpy(packed).to(self.owner.device)
        reward, ended, cut, game_over, score, length = figures.unbind(1)
        frames = self.to_device(obs)
        out: dict[str, Any] = {
            "episode_return": score.float(),
            "episode_length": length.long(),
            "_episode": game_over.bool(),
        }
        if self.owner.final_obs:  # where no game ended, the last frames are these frames
            out["final_obs"] = frames
            if step.game_over.any():
                final = obs.copy()
                final[step.game_over] = info["final_obs"][step.game_over]
                out["final_obs"] = torch.from_numpy(final).to(self.owner.device)
        return frames, reward.float(), ended.bool(), cut.bool(), out

    def to_device(self, obs: np.ndarray) -> torch.Tensor:
        """Frames on the device. On a GPU: one copy into pinned memory (once the previous
        transfer out of it is done), then one asynchronous transfer. On the CPU: no copy (the
        C++ env returns a fresh array each step)."""
        if self.host is None or self.copied is None:
            return torch.from_numpy(obs)
        self.copied.synchronize()
        self.host.copy_(torch.from_numpy(obs))
        frames = self.host.to(self.owner.device, non_blocking=True)
        self.copied.record()
        return frames


class AtariTorchEnv(VectorEnv):
    """``num_envs`` Atari games stepped by ale-py, observed as tensors on ``device``.

    ``training`` (default) ends the learner's episode at a lost life and clips its reward to
    the sign; ``info["episode_return"]`` / ``["episode_length"]`` are the true score and length
    of the whole games that ended (``info["_episode"]``). Games cut by the 108,000-frame cap
    are ``truncated``; with ``final_obs`` their last observation is in ``info["final_obs"]``.
    ``env_batch_size`` (a divisor of ``num_envs``; default all of them) sizes the groups
    that :meth:`send` and :meth:`recv` step.
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
        env_batch_size: int | None = None,
        final_obs: bool = False,
    ) -> None:
        if not isinstance(num_envs, int) or isinstance(num_envs, bool) or num_envs < 1:
            raise ValueError(f"num_envs must be a positive integer, got {num_envs!r}")
        batch = num_envs if env_batch_size is None else env_batch_size
        if not isinstance(batch, int) or batch < 1 or num_envs % batch:
            raise ValueError(
                f"env_batch_size must divide the number of envs ({num_envs}), got {batch!r}"
            )
        self.env_id = resolve_env_id(env_id)
        self.device = resolve_device(str(device))
        self.num_envs = num_envs
        self.final_obs = final_obs
        self._groups = [
            _Group(
                self,
                slice(start, start + batch),
                training,
                num_threads=num_threads,
                repeat_action_probability=repeat_action_probability,
                noop_max=noop_max,
            )
            for start in range(0, num_envs, batch)
        ]
        one = self._groups[0].env
        self.single_observation_space = one.single_observation_space
        self.single_action_space = one.single_action_space
        self.observation_space = batch_space(self.single_observation_space, num_envs)
        self.action_space = batch_space(self.single_action_space, num_envs)

    @property
    def groups(self) -> tuple[slice, ...]:
        """The env ranges that :meth:`send` and :meth:`recv` step, one C++ env each."""
        return tuple(group.envs for group in self._groups)

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[torch.Tensor, dict[str, Any]]:
        """New games in every env; ``seed`` seeds env i with ``seed + i`` (32-bit, as the C++
        env takes them)."""
        seed = cpp_seed(seed, self.num_envs)
        return torch.cat([group.reset(seed) for group in self._groups]), {}

    def send(self, group: int, actions: torch.Tensor) -> None:
        """Start one agent step (4 frames) of the envs of ``groups[group]``; returns at once."""
        size = self._groups[group].envs.stop - self._groups[group].envs.start
        host_actions = torch.as_tensor(actions).reshape(size).cpu().numpy()
        self._groups[group].env.send(host_actions.astype(np.int64))

    def recv(
        self, group: int
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, dict[str, Any]]:
        """Wait for the step :meth:`send` started: ``step``'s results for that group's envs."""
        return self._groups[group].recv()

    def step(
        self, actions: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, dict[str, Any]]:
        """One agent step (4 frames) in every env, with same-step autoreset."""
        actions = torch.as_tensor(actions).reshape(self.num_envs)
        for index, envs in enumerate(self.groups):
            self.send(index, actions[envs])
        parts = [self.recv(index) for index in range(len(self._groups))]
        if len(parts) == 1:
            return parts[0]
        obs, rewards, terminated, truncated = (
            torch.cat([part[i] for part in parts]) for i in range(4)
        )
        info = {key: torch.cat([part[4][key] for part in parts]) for key in parts[0][4]}
        return obs, rewards, terminated, truncated, info

    def close(self, **kwargs: Any) -> None:
        for group in self._groups:
            group.env.close()

    def __repr__(self) -> str:
        return f"AtariTorchEnv({self.env_id!r}, num_envs={self.num_envs}, device={self.device})"

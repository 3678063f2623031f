"""A replay buffer for frame-stacked observations that stores each frame once.

SB3's ``ReplayBuffer`` keeps every observation as a whole stack, twice (``obs`` and
``next_obs``): a 4x84x84 Atari stack costs 56 KB per transition, and each frame sits in
eight stacks. :class:`FrameReplayBuffer` keeps one frame per transition (the stack's newest)
in a ring, and rebuilds the stacks when sampling. What it rebuilds is exactly what the env
gave, whatever the env does at an episode start (zero frames, repeated frames) or at a
life loss, because nothing is assumed: each added stack is compared with the previous one,
and whatever does not continue it (an episode's first stack, a terminal observation) is
kept aside. Samples equal SB3's buffer's for the same transitions and the same random
state. Drop-in for SB3's DQN and sb3-contrib's QR-DQN via ``replay_buffer_class``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from gymnasium import spaces
from stable_baselines3.common.buffers import BaseBuffer, ReplayBuffer
from stable_baselines3.common.type_aliases import ReplayBufferSamples
from stable_baselines3.common.vec_env import VecNormalize

Key = tuple[int, int]  # (add index, env index)


@dataclass
class Asides:
    """What the frame ring cannot rebuild, keyed by (add index, env).

    ``heads``: an episode's first stack's older frames (None when all zero, as most envs
    pad); ``next_frames``: a next observation that does not continue into the next add (a
    terminal one) but continues its own stack, by its newest frame; ``next_stacks``: one
    that continues neither, whole.
    """

    heads: dict[Key, np.ndarray | None]
    next_frames: dict[Key, np.ndarray]
    next_stacks: dict[Key, np.ndarray]

    @classmethod
    def empty(cls) -> Asides:
        return cls({}, {}, {})

    def forget_before(self, add: int) -> None:
        """Drop entries of adds before ``add`` (the ring no longer reaches them)."""
        for table in (self.heads, self.next_frames, self.next_stacks):
            for key in [key for key in table if key[0] < add]:
                del table[key]

    def since(self, add: int) -> Asides:
        """The entries of adds from ``add`` on."""
        return Asides(
            *({k: v for k, v in table.items() if k[0] >= add} for table in self._tables())
        )

    def update(self, other: Asides) -> None:
        for mine, theirs in zip(self._tables(), other._tables(), strict=True):
            mine.update(theirs)

    def nbytes(self) -> int:
        return sum(v.nbytes for table in self._tables() for v in table.values() if v is not None)

    def _tables(self) -> tuple[dict, dict, dict]:
        return self.heads, self.next_frames, self.next_stacks


class FrameReplayBuffer(ReplayBuffer):
    """SB3's ``ReplayBuffer`` for observations stacked on their first axis (frames), in
    about 1/8 of its memory for a 4-frame stack; see the module's docstring."""

    def __init__(
        self,
        buffer_size: int,
        observation_space: spaces.Space,
        action_space: spaces.Space,
        device: Any = "auto",
        n_envs: int = 1,
        optimize_memory_usage: bool = False,
        handle_timeout_termination: bool = True,
    ) -> None:
        if optimize_memory_usage:
            raise ValueError(
                "FrameReplayBuffer stores each frame once already: optimize_memory_usage is "
                "for SB3's own ReplayBuffer"
            )
        if not isinstance(observation_space, spaces.Box) or len(observation_space.shape) < 2:
            raise ValueError(
                f"FrameReplayBuffer needs stacked frames (stack, ...), got {observation_space}"
            )
        BaseBuffer.__init__(self, buffer_size, observation_space, action_space, device, n_envs)
        self.buffer_size = max(buffer_size // n_envs, 1)  # per env, as SB3 counts it
        self.optimize_memory_usage = False
        self.handle_timeout_termination = handle_timeout_termination
        self.stack = self.obs_shape[0]
        self.frame_slots = self.buffer_size + self.stack - 1  # the oldest stack's frames too
        frame_shape = (n_envs, *self.obs_shape[1:])
        # np.zeros takes pages from the OS as they are first written
        self.frames = np.zeros((self.frame_slots, *frame_shape), observation_space.dtype)
        # how many of a stack's older frames are earlier adds' frames (the rest: its head)
        self.depth = np.zeros((self.buffer_size, n_envs), np.uint8)
        action_dtype = self._maybe_cast_dtype(action_space.dtype)
        self.actions = np.zeros((self.buffer_size, n_envs, self.action_dim), action_dtype)
        self.rewards = np.zeros((self.buffer_size, n_envs), np.float32)
        self.dones = np.zeros((self.buffer_size, n_envs), np.float32)
        self.timeouts = np.zeros((self.buffer_size, n_envs), np.float32)
        # which transitions' next_obs is kept aside (a lookup only for those when sampling)
        self.next_aside = np.zeros((self.buffer_size, n_envs), bool)
        self.reset()

    def reset(self) -> None:
        super().reset()
        self.added = 0  # transitions added since the buffer was made
        self.asides = Asides.empty()
        self.last_obs: np.ndarray | None = None  # the newest add's obs and next_obs
        self.last_next_obs: np.ndarray | None = None
        # envs whose newest next_obs is taken to be the next add's obs (checked then)
        self.linked = np.zeros(self.n_envs, bool)

    # --- adding ------------------------------------------------------------------------

    def add(
        self,
        obs: np.ndarray,
        next_obs: np.ndarray,
        action: np.ndarray,
        reward: np.ndarray,
        done: np.ndarray,
        infos: list[dict[str, Any]],
    ) -> None:
        shape = (self.n_envs, *self.obs_shape)
        obs, next_obs = np.asarray(obs).reshape(shape), np.asarray(next_obs).reshape(shape)
        done = np.asarray(done, bool).reshape(self.n_envs)
        add = self.added
        if self.last_obs is not None:
            self._settle_links(obs)
            continues = _same(obs[:, :-1], self.last_obs[:, 1:])
            depth = np.where(
                continues,
                np.minimum(self.depth[(add - 1) % self.buffer_size] + 1, self.stack - 1),
                0,
            )
        else:
            continues, depth = np.zeros(self.n_envs, bool), np.zeros(self.n_envs, np.uint8)
        for env in np.flatnonzero(~continues):
            head = obs[env, :-1]
            self.asides.heads[(add, int(env))] = head.copy() if head.any() else None
        self.frames[add % self.frame_slots] = obs[:, -1]
        self.depth[self.pos] = depth
        self.next_aside[self.pos] = False
        for env in np.flatnonzero(done):  # a terminal next_obs: the next add starts anew
            self._set_aside_next(add, int(env), next_obs[env], obs[env])
        self.linked = ~done
        self.last_obs, self.last_next_obs = obs.copy(), next_obs.copy()

        self.actions[self.pos] = np.asarray(action).reshape((self.n_envs, self.action_dim))
        self.rewards[self.pos] = np.asarray(reward)
        self.dones[self.pos] = done
        if self.handle_timeout_termination:
            self.timeouts[self.pos] = [info.get("TimeLimit.truncated", False) for info in infos]
        self.added += 1
        self.pos += 1
        if self.pos == self.buffer_size:
            self.full, self.pos = True, 0
            self.asides.forget_before(self.added - self.frame_slots)

    def _settle_links(self, obs: np.ndarray) -> None:
        """The previous add's next_obs was taken to be this add's obs; where it is not
        (a caller that does not chain them), keep it aside."""
        broken = self.linked & ~_same(obs, self.last_next_obs)
        for env in np.flatnonzero(broken):
            self._set_aside_next(
                self.added - 1, int(env), self.last_next_obs[env], self.last_obs[env]
            )

    def _set_aside_next(self, add: int, env: int, next_obs: np.ndarray, obs: np.ndarray) -> None:
        self.next_aside[add % self.buffer_size, env] = True
        if np.array_equal(next_obs[:-1], obs[1:]):
            self.asides.next_frames[(add, env)] = next_obs[-1].copy()
        else:
            self.asides.next_stacks[(add, env)] = next_obs.copy()

    # --- sampling ----------------------------------------------------------------------

    def _get_samples(
        self, batch_inds: np.ndarray, env: VecNormalize | None = None
    ) -> ReplayBufferSamples:
        env_indices = np.random.randint(0, high=self.n_envs, size=(len(batch_inds),))
        adds = self.add_index(batch_inds)
        obs = self.observations_at(adds, env_indices)
        data = (
            self._normalize_obs(obs, env),
            self.actions[batch_inds, env_indices, :],
            self._normalize_obs(self.next_observations_at(adds, env_indices, obs), env),
            (
                self.dones[batch_inds, env_indices] * (1 - self.timeouts[batch_inds, env_indices])
            ).reshape(-1, 1),
            self._normalize_reward(self.rewards[batch_inds, env_indices].reshape(-1, 1), env),
        )
        return ReplayBufferSamples(*tuple(map(self.to_torch, data)))

    def add_index(self, positions: np.ndarray) -> np.ndarray:
        """The add index of the transition each buffer position holds."""
        positions = np.asarray(positions, np.int64)
        return positions + self.buffer_size * ((self.added - 1 - positions) // self.buffer_size)

    def observations_at(self, adds: np.ndarray, envs: np.ndarray) -> np.ndarray:
        """The obs stacks of adds ``adds`` of envs ``envs`` (both 1-d, same length)."""
        adds, envs = np.asarray(adds, np.int64), np.asarray(envs, np.int64)
        older = np.arange(1 - self.stack, 1)
        stacks = self.frames[(adds[:, None] + older) % self.frame_slots, envs[:, None]]
        depth = self.depth[adds % self.buffer_size, envs]
        for i in np.flatnonzero(depth < self.stack - 1):
            d = int(depth[i])
            head = self.asides.heads[(int(adds[i]) - d, int(envs[i]))]
            stacks[i, : self.stack - 1 - d] = 0 if head is None else head[d:]
        return stacks

    def next_observations_at(
        self, adds: np.ndarray, envs: np.ndarray, obs: np.ndarray | None = None
    ) -> np.ndarray:
        """The next_obs stacks of adds ``adds`` of envs ``envs`` (``obs``: their obs
        stacks, if already rebuilt)."""
        adds, envs = np.asarray(adds, np.int64), np.asarray(envs, np.int64)
        if obs is None:
            obs = self.observations_at(adds, envs)
        newest = adds == self.added - 1
        stacks = self.observations_at(np.where(newest, adds, adds + 1), envs)
        aside = self.next_aside[adds % self.buffer_size, envs]
        for i in np.flatnonzero(aside):
            key = (int(adds[i]), int(envs[i]))
            whole = self.asides.next_stacks.get(key)
            if whole is not None:
                stacks[i] = whole
            else:
                stacks[i, :-1] = obs[i, 1:]
                stacks[i, -1] = self.asides.next_frames[key]
        newest &= ~aside
        stacks[newest] = self.last_next_obs[envs[newest]]
        return stacks

    def index_asides(self) -> None:
        """Rebuild ``next_aside`` from the asides (after a restore)."""
        self.next_aside[:] = False
        oldest = self.added - self.buffer_size
        for add, env in (*self.asides.next_frames, *self.asides.next_stacks):
            if add >= oldest:
                self.next_aside[add % self.buffer_size, env] = True

    def nbytes(self) -> int:
        """Bytes this buffer holds (its arrays and what it keeps aside)."""
        arrays = (
            self.frames,
            self.depth,
            self.actions,
            self.rewards,
            self.dones,
            self.timeouts,
            self.next_aside,
        )
        return sum(a.nbytes for a in arrays) + self.asides.nbytes()


def _same(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per env (first axis): are the two arrays equal everywhere?"""
    return (a == b).reshape(len(a), -1).all(axis=1)

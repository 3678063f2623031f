"""Whole games under the learner's view of them: one implementation for every Atari backend.

ale-py's C++ env plays whole games (no episodic life, no reward clipping). For training, the
learner's episode ends at a lost life and its reward is clipped to its sign, while curves and
``episodes.csv`` must show the true score and length of each whole game. :class:`GameTracker`
turns the C++ env's step into both views; the SB3 wrapper (:class:`~coordrl.envs.atari.
AleVecEnv`) and the torch adapter (:mod:`coordrl.envs.atari_device`) both use it.
"""

from __future__ import annotations

import dataclasses

import numpy as np


@dataclasses.dataclass(frozen=True)
class TrackedStep:
    """One step of every env, (num_envs,) arrays each.

    ``learner_rewards``: clipped or not; ``terminated`` / ``truncated``: the learner's episode
    ends (a lost life terminates it in training; only a whole game is ever truncated, by the
    frame cap); ``game_over``: whole games that ended, whose true ``scores`` and ``lengths``
    (agent steps) are valid there.
    """

    learner_rewards: np.ndarray
    terminated: np.ndarray
    truncated: np.ndarray
    game_over: np.ndarray
    scores: np.ndarray
    lengths: np.ndarray

    @property
    def dones(self) -> np.ndarray:
        """The learner's episode ends, for either reason."""
        return self.terminated | self.truncated


class GameTracker:
    """True game scores and lengths per env, life-loss ends and reward clipping."""

    def __init__(self, num_envs: int, *, terminal_on_life_loss: bool, clip_rewards: bool) -> None:
        self.terminal_on_life_loss = terminal_on_life_loss
        self.clip_rewards = clip_rewards
        self._scores = np.zeros(num_envs, dtype=np.float64)
        self._lengths = np.zeros(num_envs, dtype=np.int64)
        self._lives = np.zeros(num_envs, dtype=np.int64)

    def reset(self, lives: np.ndarray) -> None:
        """Every env starts a new game with ``lives`` (the reset's ``info["lives"]``)."""
        self._scores[:] = 0.0
        self._lengths[:] = 0
        self._lives[:] = lives

    def step(
        self,
        rewards: np.ndarray,
        terminated: np.ndarray,
        truncated: np.ndarray,
        lives: np.ndarray,
    ) -> TrackedStep:
        """The C++ env's step (same-step autoreset: ``lives`` of a new game where one ended)."""
        self._scores += rewards
        self._lengths += 1
        game_over = terminated | truncated
        lives = np.asarray(lives, dtype=np.int64)
        life_lost = (lives < self._lives) & ~game_over
        learner_terminated = terminated | (life_lost if self.terminal_on_life_loss else False)
        step = TrackedStep(
            learner_rewards=(np.sign(rewards) if self.clip_rewards else rewards).astype(np.float32),
            terminated=learner_terminated,
            truncated=truncated & ~terminated,
            game_over=game_over,
            scores=self._scores.copy(),
            lengths=self._lengths.copy(),
        )
        self._scores[game_over] = 0.0
        self._lengths[game_over] = 0
        self._lives = lives
        return step

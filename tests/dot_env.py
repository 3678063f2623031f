"""A tiny image environment SB3 can train on in seconds, for the tests."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
from gymnasium import spaces


class DotQuadrantEnv(gym.Env):
    """One bright dot on a dark (1, 36, 36) uint8 image; reward 1 for naming its quadrant.

    36x36 is the smallest image NatureCNN accepts, which keeps SB3 runs to seconds.
    """

    size = 36
    observation_space = spaces.Box(0, 255, (1, size, size), np.uint8)
    action_space = spaces.Discrete(4)

    def __init__(self, episode_length: int = 8) -> None:
        self.episode_length = episode_length

    def _observe(self) -> np.ndarray:
        self.dot = self.np_random.integers(2, self.size - 2, size=2)
        image = np.zeros(self.observation_space.shape, np.uint8)
        row, col = self.dot
        image[0, row - 2 : row + 3, col - 2 : col + 3] = 255
        return image

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        self.steps = 0
        return self._observe(), {}

    def step(self, action: int):
        quadrant = 2 * int(self.dot[0] >= self.size // 2) + int(self.dot[1] >= self.size // 2)
        reward = float(action == quadrant)
        self.steps += 1
        return self._observe(), reward, False, self.steps >= self.episode_length, {}

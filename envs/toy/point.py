"""Pointing: see a square, point at it. One step per episode: the pixel -> coordinate map.

Observation: (1, canvas, canvas) uint8, the target's 9x9 square at 255 on black (the
Not-so-Clevr image). Action, by ``action``: ``"cells"`` (default), one of ``bins`` x
``bins`` cells of the canvas (``Discrete``, so DQN applies too), pointing at the cell's
centre; or ``"xy"``, Cartesian coordinates in [-1, 1]^2 (``Box``, clipped to it), pointing
at pixel ``(a + 1) / 2 * (canvas - 1)`` per axis: an answer that is a coordinate, not a
class, so no part of the canvas is an action never rewarded in training. Reward: closeness,
``1 - distance / diagonal`` in pixels (1 on the centre, 0 at the far corner). Success:
the point lies inside the target square. Every episode ends after its one step.
"""

from __future__ import annotations

import math
import typing
from typing import Any, Literal

import numpy as np
import torch
from gymnasium import spaces

from coordrl.envs.toy.base import NumpyToyEnv, ToyVectorEnv
from coordrl.envs.toy.targets import check_canvas
from coordrl.not_so_clevr import HALF_SIZE

INSIDE = HALF_SIZE + 0.5  # a point within this of the centre (per axis) is in the square


Action = Literal["cells", "xy"]
ACTIONS: tuple[str, ...] = typing.get_args(Action)


def _check(bins: int, canvas: int, action: str) -> None:
    check_canvas(canvas)
    if not isinstance(bins, int) or not 2 <= bins <= canvas:
        raise ValueError(f"bins must be an integer in [2, canvas={canvas}], got {bins!r}")
    if action not in ACTIONS:
        raise ValueError(f"action must be one of {', '.join(ACTIONS)}, got {action!r}")


def _action_space(action: str, bins: int) -> spaces.Space:
    if action == "xy":
        return spaces.Box(-1.0, 1.0, (2,), np.float32)
    return spaces.Discrete(bins * bins)


def _cell_centres(actions, bins: int, canvas: int):
    """Pixel (x, y) at the centre of each action's cell; works on tensors and arrays."""
    size = canvas / bins
    return (actions % bins + 0.5) * size - 0.5, (actions // bins + 0.5) * size - 0.5


def _xy_pixels(actions, canvas: int):
    """Pixel (x, y) of Cartesian actions in [-1, 1] (clipped); tensors (N, 2) or arrays (2,)."""
    scale = (canvas - 1) / 2
    if isinstance(actions, torch.Tensor):
        clipped = actions.clamp(-1.0, 1.0)
    else:
        clipped = np.clip(np.asarray(actions, dtype=np.float64), -1.0, 1.0)
    return (clipped[..., 0] + 1) * scale, (clipped[..., 1] + 1) * scale


def _square_images(pixels: torch.Tensor, centres: torch.Tensor, half: int) -> torch.Tensor:
    """(N, H, W) uint8 images, 255 within ``half`` of each (x, y) centre: one full pass."""
    rows = ((pixels[None, :] - centres[:, 1:2]).abs() <= half).to(torch.uint8) * 255
    cols = ((pixels[None, :] - centres[:, 0:1]).abs() <= half).to(torch.uint8) * 255
    return rows[:, :, None] & cols[:, None, :]


class PointEnv(ToyVectorEnv):
    """The pointing task, ``num_envs`` at once on ``device`` (see the module docstring)."""

    def __init__(
        self,
        num_envs: int = 1,
        *,
        bins: int = 16,
        action: Action = "cells",
        canvas: int = 64,
        **kwargs: Any,
    ):
        _check(bins, canvas, action)
        self.bins, self.action = bins, action
        self.single_observation_space = spaces.Box(0, 255, (1, canvas, canvas), np.uint8)
        self.single_action_space = _action_space(action, bins)
        super().__init__(num_envs, canvas=canvas, **kwargs)
        self.targets = torch.zeros(num_envs, 2, dtype=torch.int64, device=self.device)
        self._pixels = torch.arange(canvas, device=self.device)
        self._diagonal = (canvas - 1) * math.sqrt(2)

    def _reset_envs(self, mask: torch.Tensor, options: dict[str, Any] | None) -> None:
        if options and "targets" in options:
            given = torch.as_tensor(options["targets"], device=self.device).reshape(-1, 2)
            self.targets[mask] = given.to(torch.int64)
        else:
            fresh = self.sample_targets(self.num_envs)
            self.targets = torch.where(mask[:, None], fresh, self.targets)

    def _transition(self, actions):
        if self.action == "xy":
            x, y = _xy_pixels(actions.to(torch.float32), self.canvas)
        else:
            x, y = _cell_centres(actions.to(torch.float32), self.bins, self.canvas)
        dx = x - self.targets[:, 0]
        dy = y - self.targets[:, 1]
        reward = 1.0 - torch.hypot(dx, dy) / self._diagonal
        success = (dx.abs() <= INSIDE) & (dy.abs() <= INSIDE)
        terminated = torch.ones_like(success)
        return reward, terminated, torch.zeros_like(success), success

    def _observe(self) -> torch.Tensor:
        return _square_images(self._pixels, self.targets, HALF_SIZE).unsqueeze(1)


class PointNumpyEnv(NumpyToyEnv):
    """The pointing task as one plain numpy gymnasium env: the reference for the torch one."""

    def __init__(
        self,
        bins: int = 16,
        canvas: int = 64,
        split: str = "quadrant",
        part: str = "train",
        action: str = "cells",
    ):
        _check(bins, canvas, action)
        super().__init__(canvas, split, part)
        self.bins, self.action = bins, action
        self.observation_space = spaces.Box(0, 255, (1, canvas, canvas), np.uint8)
        self.action_space = _action_space(action, bins)
        self.target = np.zeros(2, dtype=np.int64)
        self._diagonal = (canvas - 1) * math.sqrt(2)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        if options and "target" in options:
            self.target = np.asarray(options["target"], dtype=np.int64)
        else:
            self.target = self.sample_target()
        return self._observe(), {}

    def step(self, action):
        if self.action == "xy":
            x, y = _xy_pixels(action, self.canvas)
        else:
            x, y = _cell_centres(int(action), self.bins, self.canvas)
        dx, dy = x - self.target[0], y - self.target[1]
        reward = 1.0 - math.hypot(dx, dy) / self._diagonal
        success = abs(dx) <= INSIDE and abs(dy) <= INSIDE
        return self._observe(), float(reward), True, False, {"success": success}

    def _observe(self) -> np.ndarray:
        obs = np.zeros((1, self.canvas, self.canvas), dtype=np.uint8)
        x, y = self.target
        obs[0, y - HALF_SIZE : y + HALF_SIZE + 1, x - HALF_SIZE : x + HALF_SIZE + 1] = 255
        return obs

"""Navigation: walk to a target given only as Cartesian coordinates: coordinate -> pixel.

Observation: (3, canvas, canvas) uint8. Channel 0 shows the agent, a 3x3 dot at 255;
channels 1 and 2 are constant planes holding the target's x and y, scaled to 0..255 (the
paper's tiled-coordinate input: to find the target a network must turn numbers into a
place). Actions (``Discrete(5)``): stay, up, down, left, right, each moving ``step`` pixels
(clipped at the border). The episode ends with success when the agent's centre is inside
the target's 9x9 square, or is cut off after ``max_steps`` (default ``2 * canvas // step``).
Reward: 1 on arrival; with ``reward="shaped"`` (the default) also the progress made,
``(previous distance - distance) / canvas`` per step, so a straight walk earns about its
start distance over the canvas size on top.
Agents start anywhere on the canvas outside the target square.
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

MOVES = ((0, 0), (0, -1), (0, 1), (-1, 0), (1, 0))  # stay, up, down, left, right: (dx, dy)
Reward = Literal["shaped", "sparse"]
REWARDS: tuple[str, ...] = typing.get_args(Reward)
DOT = 1  # the agent's dot spans centre +- 1


def _check(step: int, max_steps: int | None, reward: str, canvas: int) -> int:
    check_canvas(canvas)
    if not isinstance(step, int) or not 1 <= step < canvas // 2:
        raise ValueError(f"step must be an integer in [1, {canvas // 2 - 1}], got {step!r}")
    if reward not in REWARDS:
        raise ValueError(f"unknown reward {reward!r}; choose one of {', '.join(REWARDS)}")
    if max_steps is None:
        return 2 * canvas // step
    if not isinstance(max_steps, int) or max_steps < 1:
        raise ValueError(f"max_steps must be a positive integer, got {max_steps!r}")
    return max_steps


def _plane(value, canvas: int):
    """A coordinate 0..canvas-1 as a uint8 intensity 0..255."""
    return (value * 255 + (canvas - 1) // 2) // (canvas - 1)


def _dot_factors(pixels: torch.Tensor, centres: torch.Tensor):
    """Row and column masks (255 / 0) whose bitwise and is the agents' dots, (N, H, W)."""
    rows = ((pixels[None, :] - centres[:, 1:2]).abs() <= DOT).to(torch.uint8) * 255
    cols = ((pixels[None, :] - centres[:, 0:1]).abs() <= DOT).to(torch.uint8) * 255
    return rows[:, :, None], cols[:, None, :]


class NavigateEnv(ToyVectorEnv):
    """The navigation task, ``num_envs`` at once on ``device`` (see the module docstring)."""

    truncates = True

    def __init__(
        self,
        num_envs: int = 1,
        *,
        step: int = 4,
        max_steps: int | None = None,
        reward: Reward = "shaped",
        canvas: int = 64,
        **kwargs: Any,
    ) -> None:
        self.max_steps = _check(step, max_steps, reward, canvas)
        self.step_size, self.reward_kind = step, reward
        self.single_observation_space = spaces.Box(0, 255, (3, canvas, canvas), np.uint8)
        self.single_action_space = spaces.Discrete(len(MOVES))
        super().__init__(num_envs, canvas=canvas, **kwargs)
        n = num_envs
        self.targets = torch.zeros(n, 2, dtype=torch.int64, device=self.device)
        self.agents = torch.zeros(n, 2, dtype=torch.int64, device=self.device)
        self.t = torch.zeros(n, dtype=torch.int64, device=self.device)
        self._moves = torch.tensor(MOVES, device=self.device) * step
        self._pixels = torch.arange(canvas, device=self.device)

    def _reset_envs(self, mask: torch.Tensor, options: dict[str, Any] | None) -> None:
        if options and "targets" in options and "agents" in options:
            self.targets[mask] = torch.as_tensor(options["targets"], device=self.device)
            self.agents[mask] = torch.as_tensor(options["agents"], device=self.device)
        else:
            targets = self.sample_targets(self.num_envs)
            agents = torch.randint(
                self.canvas, (self.num_envs, 2), generator=self.generator, device=self.device
            )
            inside = ((agents - targets).abs() <= HALF_SIZE).all(dim=1)
            agents[:, 0] = torch.where(
                inside, (agents[:, 0] + self.canvas // 2) % self.canvas, agents[:, 0]
            )
            self.targets = torch.where(mask[:, None], targets, self.targets)
            self.agents = torch.where(mask[:, None], agents, self.agents)
        self.t.masked_fill_(mask, 0)

    def _distance(self) -> torch.Tensor:
        return torch.linalg.vector_norm((self.agents - self.targets).float(), dim=1)

    def _transition(self, actions):
        before = self._distance()
        self.agents = (self.agents + self._moves[actions]).clamp_(0, self.canvas - 1)
        self.t += 1
        arrived = ((self.agents - self.targets).abs() <= HALF_SIZE).all(dim=1)
        reward = arrived.float()
        if self.reward_kind == "shaped":
            reward = reward + (before - self._distance()) / self.canvas
        truncated = (self.t >= self.max_steps) & ~arrived
        return reward, arrived, truncated, arrived

    def _observe(self) -> torch.Tensor:
        n, size = self.num_envs, self.canvas
        obs = torch.empty(n, 3, size, size, dtype=torch.uint8, device=self.device)
        torch.bitwise_and(*_dot_factors(self._pixels, self.agents), out=obs[:, 0])
        obs[:, 1:] = _plane(self.targets, size).to(torch.uint8)[:, :, None, None]
        return obs


class NavigateNumpyEnv(NumpyToyEnv):
    """The navigation task as one plain numpy gymnasium env: the reference for the torch one."""

    def __init__(
        self,
        step: int = 4,
        max_steps: int | None = None,
        reward: str = "shaped",
        canvas: int = 64,
        split: str = "quadrant",
        part: str = "train",
    ) -> None:
        super().__init__(canvas, split, part)
        self.max_steps = _check(step, max_steps, reward, canvas)
        self.step_size, self.reward_kind = step, reward
        self.observation_space = spaces.Box(0, 255, (3, canvas, canvas), np.uint8)
        self.action_space = spaces.Discrete(len(MOVES))
        self.target = np.zeros(2, dtype=np.int64)
        self.agent = np.zeros(2, dtype=np.int64)
        self.t = 0

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        if options and "target" in options and "agent" in options:
            self.target = np.asarray(options["target"], dtype=np.int64)
            self.agent = np.asarray(options["agent"], dtype=np.int64)
        else:
            self.target = self.sample_target()
            self.agent = self.np_random.integers(0, self.canvas, 2)
            if (np.abs(self.agent - self.target) <= HALF_SIZE).all():
                self.agent[0] = (self.agent[0] + self.canvas // 2) % self.canvas
        self.t = 0
        return self._observe(), {}

    def step(self, action):
        before = math.dist(self.agent, self.target)
        move = np.asarray(MOVES[int(action)]) * self.step_size
        self.agent = np.clip(self.agent + move, 0, self.canvas - 1)
        self.t += 1
        arrived = bool((np.abs(self.agent - self.target) <= HALF_SIZE).all())
        reward = float(arrived)
        if self.reward_kind == "shaped":
            reward += (before - math.dist(self.agent, self.target)) / self.canvas
        truncated = self.t >= self.max_steps and not arrived
        return self._observe(), reward, arrived, truncated, {"success": arrived}

    def _observe(self) -> np.ndarray:
        obs = np.zeros((3, self.canvas, self.canvas), dtype=np.uint8)
        x, y = self.agent
        obs[0, max(y - DOT, 0) : y + DOT + 1, max(x - DOT, 0) : x + DOT + 1] = 255
        obs[1] = _plane(int(self.target[0]), self.canvas)
        obs[2] = _plane(int(self.target[1]), self.canvas)
        return obs

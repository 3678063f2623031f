"""Not-so-Clevr's geometry: the canvas, the square, the sweep of its centres, the two splits.

One grey 9x9 square on a black 64x64 canvas, its centre (x, y) swept over range(4, 60) in
both axes: 3136 positions, in the official generator's order (``data/not_so_clevr_generator.py``
of uber-research/CoordConv: x outer, y inner). The uniform split holds out each position
with probability 0.25, drawn with numpy's legacy RNG (seed 20202 gives the official 2368 /
768 split); the quadrant split holds out x > 32 and y > 32 (729 test, 2407 train).

Shared by the supervised toy tasks (:mod:`coordrl.toy.data`) and the toy RL envs
(:mod:`coordrl.envs.toy`), below both, so neither depends on the other.
"""

from __future__ import annotations

import typing
from typing import Literal

import numpy as np
import torch

Split = Literal["uniform", "quadrant"]
SPLITS: tuple[str, ...] = typing.get_args(Split)

CANVAS = 64
HALF_SIZE = 4  # the square spans centre +- 4: 9x9 pixels
OFFICIAL_SPLIT_SEED = 20202  # MAGIC_SEED_OF_WONDER in the official generator
UNIFORM_TEST_FRACTION = 0.25


def sweep_positions(canvas: int = CANVAS) -> torch.Tensor:
    """All square centres in the official order, (3136, 2) int64 (x, y), x the outer loop.

    On another ``canvas`` size: every centre whose 9x9 square fits, in the same order.
    """
    axis = torch.arange(HALF_SIZE, canvas - HALF_SIZE)
    x, y = torch.meshgrid(axis, axis, indexing="ij")
    return torch.stack((x.flatten(), y.flatten()), dim=1)


def test_mask(
    split: Split, positions: torch.Tensor, seed: int = OFFICIAL_SPLIT_SEED, canvas: int = CANVAS
) -> torch.Tensor:
    """Which examples are held out for testing, (N,) bool.

    uniform: each example independently with probability 0.25, drawn in sweep order with
    numpy's legacy RandomState(seed) as the official generator does. quadrant: the
    bottom-right quadrant, x > 32 and y > 32 (normalised location > 0.5 in both axes), or
    x, y > canvas // 2 on another canvas.
    """
    if split == "uniform":
        draws = np.random.RandomState(seed).random_sample(len(positions))
        return torch.from_numpy(draws < UNIFORM_TEST_FRACTION)
    if split == "quadrant":
        middle = canvas // 2
        return (positions[:, 0] > middle) & (positions[:, 1] > middle)
    raise ValueError(f"unknown split {split!r}; choose one of {', '.join(SPLITS)}")

"""Target positions of the toy RL tasks: the Not-so-Clevr centres and their two splits.

The same centres and splits as the supervised toy tasks (:mod:`coordrl.not_so_clevr`): on the
64x64 canvas, 3136 centres; ``quadrant`` holds out x > 32 and y > 32, ``uniform`` a random
quarter drawn with the official seed. Training resets draw from the ``train`` part only;
evaluation on ``test`` measures generalisation to positions never seen.
"""

from __future__ import annotations

from typing import Literal

import torch

from coordrl.not_so_clevr import (
    CANVAS,
    HALF_SIZE,
    OFFICIAL_SPLIT_SEED,
    SPLITS,
    sweep_positions,
    test_mask,
)

PARTS: tuple[str, ...] = ("train", "test")
MIN_CANVAS = 4 * HALF_SIZE + 2  # room for both parts of the quadrant split

Part = Literal["train", "test"]


def check_canvas(canvas: int) -> None:
    if not isinstance(canvas, int) or canvas < MIN_CANVAS:
        raise ValueError(f"canvas must be an integer >= {MIN_CANVAS} pixels, got {canvas!r}")


def check_task_args(canvas: int, split: str, part: str) -> None:
    """ValueError naming the problem for a canvas, split or part the tasks cannot use."""
    check_canvas(canvas)
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; choose one of {', '.join(SPLITS)}")
    if part not in PARTS:
        raise ValueError(f"unknown part {part!r}; choose one of {', '.join(PARTS)}")


def target_positions(
    canvas: int = CANVAS, split: str = "quadrant", part: str = "train"
) -> torch.Tensor:
    """(N, 2) int64 (x, y) centres of the ``part`` of ``split`` on a ``canvas`` x ``canvas``."""
    check_task_args(canvas, split, part)
    positions = sweep_positions(canvas)
    held_out = test_mask(split, positions, OFFICIAL_SPLIT_SEED, canvas)  # type: ignore[arg-type]
    return positions[held_out if part == "test" else ~held_out]

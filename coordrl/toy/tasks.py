"""The three coordinate-transform tasks: what a model gets, what it is scored on.

- classification: (x, y) -> which of the 4096 pixels is the centre (softmax); accuracy.
- regression: one-hot centre image -> (x, y); mean error in pixels (and the share of
  predictions that round to the right pixel).
- rendering: (x, y) -> the 9x9 square (per-pixel sigmoid, plus a softmax loss on the
  model's centre map); IoU of the painted pixels (probability > 0.5) with the square,
  1.0 for a perfect render. The official code's IoU
  multiplies by grey targets of 128/255 and so tops out near 0.5; this one does not.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from coordrl.toy.data import (
    from_unit,
    onehot_index,
    render_onehots,
    render_squares,
    to_unit,
)


def iou(predicted: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per-sample intersection over union of two boolean masks (N, ...); 1 where both are empty."""
    predicted, target = predicted.flatten(1).bool(), target.flatten(1).bool()
    intersection = (predicted & target).sum(1).float()
    union = (predicted | target).sum(1).float()
    return torch.where(union > 0, intersection / union.clamp(min=1), torch.ones_like(union))


class Task:
    """One task: its model input, training loss and per-sample score for centre positions."""

    name: str
    metric: str  # the headline metric's name
    higher_is_better: bool = True
    perfect: float = 1.0  # the metric's best possible value

    def inputs(self, positions: torch.Tensor) -> torch.Tensor:
        return to_unit(positions)  # (x, y) scaled like the coordinate channels

    def loss(self, model: nn.Module, positions: torch.Tensor) -> torch.Tensor:
        """The training loss of ``model`` on ``positions``."""
        raise NotImplementedError

    def scores(self, output: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        """Per-sample score: 1/0 correct, error in pixels, or IoU."""
        raise NotImplementedError

    def predicted_positions(self, output: torch.Tensor) -> torch.Tensor:
        """Where the model puts the centre, (N, 2) float (x, y): for the prediction figures."""
        raise NotImplementedError

    def is_perfect(self, value: float) -> bool:
        return value >= self.perfect if self.higher_is_better else value <= self.perfect


class Classification(Task):
    """(x, y) -> which of the 4096 pixels is the centre; accuracy."""

    name, metric = "classification", "accuracy"

    def loss(self, model: nn.Module, positions: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(model(self.inputs(positions)).flatten(1), onehot_index(positions))

    def scores(self, output: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        return (output.flatten(1).argmax(1) == onehot_index(positions)).float()

    def predicted_positions(self, output: torch.Tensor) -> torch.Tensor:
        index = output.flatten(1).argmax(1)
        return torch.stack((index % output.shape[-1], index // output.shape[-1]), 1).float()


class Regression(Task):
    """One-hot centre image -> (x, y); mean error in pixels (a float error never reaches 0.0,
    so regression runs use their whole epoch budget)."""

    name, metric, higher_is_better, perfect = "regression", "pixel_error", False, 0.0

    def inputs(self, positions: torch.Tensor) -> torch.Tensor:
        return render_onehots(positions)

    def loss(self, model: nn.Module, positions: torch.Tensor) -> torch.Tensor:
        return F.mse_loss(model(self.inputs(positions)), to_unit(positions))

    def scores(self, output: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        return (from_unit(output) - positions.float()).norm(dim=1)

    def predicted_positions(self, output: torch.Tensor) -> torch.Tensor:
        return from_unit(output)


class Rendering(Task):
    """(x, y) -> the 9x9 square; IoU of the painted pixels (probability > 0.5)."""

    name, metric = "rendering", "iou"

    def loss(self, model: nn.Module, positions: torch.Tensor) -> torch.Tensor:
        # The image loss plus the official code's intermediate softmax loss on the centre
        # map (interm_loss='softmax'); the image loss alone does not train.
        centre, image = model.render(self.inputs(positions))
        masks = render_squares(positions).float()
        return F.binary_cross_entropy_with_logits(image, masks) + F.cross_entropy(
            centre.flatten(1), onehot_index(positions)
        )

    def scores(self, output: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        return iou(output > 0, render_squares(positions))  # sigmoid > 0.5 <=> logit > 0

    def predicted_positions(self, output: torch.Tensor) -> torch.Tensor:
        painted = (output > 0)[:, 0].float()  # centroid of the painted pixels
        total = painted.sum((1, 2)).clamp(min=1)
        axis = torch.arange(painted.shape[-1], dtype=painted.dtype, device=painted.device)
        x = (painted.sum(1) * axis).sum(1) / total
        y = (painted.sum(2) * axis).sum(1) / total
        return torch.stack((x, y), 1)


TASKS: dict[str, Task] = {task.name: task for task in (Classification(), Regression(), Rendering())}


def get_task(name: str) -> Task:
    if name not in TASKS:
        raise ValueError(f"unknown task {name!r}; choose one of {', '.join(TASKS)}")
    return TASKS[name]

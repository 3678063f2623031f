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

from dataclasses import dataclass

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


@dataclass(frozen=True)
class Task:
    """One task: its model input, loss and per-sample score for given centre positions."""

    name: str
    metric: str  # the headline metric's name
    higher_is_better: bool
    perfect: float  # the metric's best possible value

    def inputs(self, positions: torch.Tensor) -> torch.Tensor:
        if self.name == "regression":
            return render_onehots(positions)
        return to_unit(positions)

    def loss(self, model: nn.Module, positions: torch.Tensor) -> torch.Tensor:
        """The training loss of ``model`` on ``positions``."""
        inputs = self.inputs(positions)
        if self.name == "classification":
            return F.cross_entropy(model(inputs).flatten(1), onehot_index(positions))
        if self.name == "regression":
            return F.mse_loss(model(inputs), to_unit(positions))
        # Rendering: the image loss plus the official code's intermediate softmax loss on
        # the centre map (interm_loss='softmax'); the image loss alone does not train.
        centre, image = model.render(inputs)
        masks = render_squares(positions).float()
        return F.binary_cross_entropy_with_logits(image, masks) + F.cross_entropy(
            centre.flatten(1), onehot_index(positions)
        )

    def scores(self, output: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        """Per-sample score: 1/0 correct, error in pixels, or IoU."""
        if self.name == "classification":
            return (output.flatten(1).argmax(1) == onehot_index(positions)).float()
        if self.name == "regression":
            return (from_unit(output) - positions.float()).norm(dim=1)
        return iou(output > 0, render_squares(positions))  # sigmoid > 0.5 <=> logit > 0

    def predicted_positions(self, output: torch.Tensor) -> torch.Tensor:
        """Where the model puts the centre, (N, 2) float (x, y): for the prediction figures."""
        if self.name == "classification":
            index = output.flatten(1).argmax(1)
            return torch.stack((index % output.shape[-1], index // output.shape[-1]), 1).float()
        if self.name == "regression":
            return from_unit(output)
        painted = (output > 0)[:, 0].float()  # centroid of the painted pixels
        total = painted.sum((1, 2)).clamp(min=1)
        axis = torch.arange(painted.shape[-1], dtype=painted.dtype, device=painted.device)
        x = (painted.sum(1) * axis).sum(1) / total
        y = (painted.sum(2) * axis).sum(1) / total
        return torch.stack((x, y), 1)

    def is_perfect(self, value: float) -> bool:
        return value >= self.perfect if self.higher_is_better else value <= self.perfect


TASKS: dict[str, Task] = {
    "classification": Task("classification", "accuracy", True, 1.0),
    # A float error never reaches 0.0: regression runs use their whole epoch budget.
    "regression": Task("regression", "pixel_error", False, 0.0),
    "rendering": Task("rendering", "iou", True, 1.0),
}


def get_task(name: str) -> Task:
    if name not in TASKS:
        raise ValueError(f"unknown task {name!r}; choose one of {', '.join(TASKS)}")
    return TASKS[name]

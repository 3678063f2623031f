"""The paper's conv and CoordConv models for the three coordinate-transform tasks.

Shapes follow uber-research/CoordConv's ``model_builders.py``:
- classification, (x, y) -> logits over the 4096 pixels: CoordConv = (x, y) tiled over the
  canvas, coordinates added, 1x1 convs 32-32-64-64-1 (7,553 parameters); conv = a stack
  of stride-2 transposed convs with batch norm from 1x1 to 64x64 (``DeconvPainter``);
- regression, one-hot image -> (x, y): CoordConv = coordinates added, three 1x1 and two
  3x3 convs, global max-pool, no ReLU (906 parameters); conv = 3x3 convs with max-pooling
  and two dense layers (``big_conv``);
- rendering, (x, y) -> image of the square: the classification model (CoordConv or deconv),
  a softmax over the pixels, then 3x3 convs 8-8-16-16-1 that paint the square
  (``CoordConvImagePainter`` / ``DeconvBottleneckPainter``): the arms differ only in how
  they find the centre.
Coordinates in and out are scaled like the CoordConv channels, to [-1, 1].
"""

from __future__ import annotations

import itertools
import math

import torch
from torch import nn

from coordrl.layers import CoordConv2d, coord_grid
from coordrl.not_so_clevr import CANVAS

TASKS = ("classification", "regression", "rendering")
ARCHS = ("conv", "coordconv")


class Tile(nn.Module):
    """(N, C) -> (N, C, size, size): a vector repeated at every pixel, as the paper feeds (x, y)."""

    def __init__(self, size: int = CANVAS) -> None:
        super().__init__()
        self.size = size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[:, :, None, None].expand(-1, -1, self.size, self.size)


class SpatialSoftmax(nn.Module):
    """Softmax over all pixels of a one-channel map: the paper's "sharpen" step."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.softmax(x.flatten(1), dim=1).view_as(x)


class CoordConvPainter(nn.Module):
    """(N, 2) -> (N, 1, 64, 64) logits: the paper's 1x1 CoordConv stack on (x, y) tiled.

    A 1x1 conv is one linear map applied at every pixel, so the stack runs as linear layers
    over (N, H*W, C), twice as fast on a CPU as NCHW 1x1 convs, with the same parameters
    and outputs. The first layer is CoordConv2d's fusion: the tiled (x, y) part is computed
    once per sample, the coordinate part once per pixel, and the two are broadcast-added.
    """

    def __init__(self, width: int = 1, size: int = CANVAS) -> None:
        super().__init__()
        c1, c2 = 32 * width, 64 * width
        self.size = size
        self.input_layer = nn.Linear(2, c1)  # weights of the tiled (x, y) channels, and bias
        self.coord_layer = nn.Linear(2, c1, bias=False)  # weights of the (i, j) channels
        self.body = nn.Sequential(
            nn.ReLU(),
            nn.Linear(c1, c1),
            nn.ReLU(),
            nn.Linear(c1, c2),
            nn.ReLU(),
            nn.Linear(c2, c2),
            nn.ReLU(),
            nn.Linear(c2, 1),
        )

    def forward(self, xy: torch.Tensor) -> torch.Tensor:
        grid = coord_grid(self.size, self.size, dtype=xy.dtype, device=xy.device)
        pixels = grid.flatten(2).transpose(1, 2)  # (1, H*W, 2): (i, j) of every pixel
        hidden = self.input_layer(xy)[:, None, :] + self.coord_layer(pixels)
        return self.body(hidden).view(-1, 1, self.size, self.size)


def coordconv_classifier(width: int = 1) -> CoordConvPainter:
    """(N, 2) -> (N, 1, 64, 64) logits; 1x1 convs on tiled (x, y) plus coordinates."""
    return CoordConvPainter(width)


def deconv_painter(width: int = 1, kernel_size: int = 4) -> nn.Sequential:
    """(N, 2) -> (N, 1, 64, 64) logits: six stride-2 transposed convs from 1x1 to 64x64."""
    channels = [2, 64 * width, 64 * width, 64 * width, 32 * width, 32 * width]
    padding = (kernel_size - 1) // 2
    output_padding = 2 * padding + 2 - kernel_size  # exactly doubles the size, as TF 'same'
    layers: list[nn.Module] = [nn.Unflatten(1, (2, 1, 1))]
    for c_in, c_out in itertools.pairwise(channels):
        layers += [
            nn.ConvTranspose2d(c_in, c_out, kernel_size, 2, padding, output_padding),
            nn.BatchNorm2d(c_out),
            nn.ReLU(),
        ]
    layers.append(nn.ConvTranspose2d(channels[-1], 1, kernel_size, 2, padding, output_padding))
    return nn.Sequential(*layers)


def coordconv_regressor() -> nn.Sequential:
    """(N, 1, 64, 64) one-hot -> (N, 2): linear 1x1/3x3 CoordConv stack, global max-pool."""
    return nn.Sequential(
        CoordConv2d(1, 8, 1),
        nn.Conv2d(8, 8, 1),
        nn.Conv2d(8, 8, 1),
        nn.Conv2d(8, 8, 3, padding=1),
        nn.Conv2d(8, 2, 3, padding=1),
        nn.AdaptiveMaxPool2d(1),
        nn.Flatten(),
    )


def conv_regressor(width: int = 1) -> nn.Sequential:
    """(N, 1, 64, 64) one-hot -> (N, 2): 3x3 convs with max-pooling, then two dense layers."""
    c = 16 * width
    return nn.Sequential(
        nn.Conv2d(1, c, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(c, c, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(c, c, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(c, c, 3, padding=1),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(c * (CANVAS // 8) ** 2, 64),
        nn.ReLU(),
        nn.Linear(64, 2),
    )


def square_painter() -> nn.Sequential:
    """(N, 1, 64, 64) centre map -> (N, 1, 64, 64) logits: 3x3 convs 8-8-16-16-1."""
    channels = [1, 8, 8, 16, 16]
    layers: list[nn.Module] = []
    for c_in, c_out in itertools.pairwise(channels):
        layers += [nn.Conv2d(c_in, c_out, 3, padding=1), nn.ReLU()]
    layers.append(nn.Conv2d(channels[-1], 1, 3, padding=1))
    return nn.Sequential(*layers)


class Renderer(nn.Module):
    """(N, 2) -> (N, 1, 64, 64) image logits: centre logits, pixel softmax, square painter.

    ``centre`` is the CoordConv classifier or the deconv painter; ``render`` also returns
    its centre logits, which training supervises as the official code's ``interm_loss``.
    """

    def __init__(self, centre: nn.Module) -> None:
        super().__init__()
        self.centre = centre
        self.sharpen = SpatialSoftmax()
        self.paint = square_painter()

    def render(self, xy: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(centre logits, image logits), both (N, 1, 64, 64)."""
        centre = self.centre(xy)
        return centre, self.paint(self.sharpen(centre))

    def forward(self, xy: torch.Tensor) -> torch.Tensor:
        return self.render(xy)[1]


def coordconv_renderer() -> Renderer:
    """(N, 2) -> image logits: the CoordConv classifier, a pixel softmax, the painter."""
    return Renderer(coordconv_classifier())


def deconv_renderer() -> Renderer:
    """(N, 2) -> image logits: the deconv painter, a pixel softmax, the same painter."""
    return Renderer(deconv_painter())


def _he_normal(weights: list[torch.Tensor], fan_in: int) -> None:
    std = math.sqrt(2.0 / fan_in)
    for weight in weights:
        nn.init.normal_(weight, 0.0, std)


def he_init(model: nn.Module) -> nn.Module:
    """He-normal weights and zero biases, as the official models; coordinates in the fan-in."""
    for module in model.modules():
        if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            weights = [module.weight]
            fan_in = nn.init._calculate_correct_fan(module.weight, "fan_in")
            if isinstance(module, CoordConv2d):
                weights.append(module.coord_weight)
                fan_in += module.coord_weight[0].numel()
            _he_normal(weights, fan_in)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
    for module in model.modules():
        if isinstance(module, CoordConvPainter):  # its first layer is one 4-channel 1x1 conv
            _he_normal([module.input_layer.weight, module.coord_layer.weight], fan_in=4)
    return model


_BUILDERS = {
    ("classification", "coordconv"): coordconv_classifier,
    ("classification", "conv"): deconv_painter,
    ("regression", "coordconv"): coordconv_regressor,
    ("regression", "conv"): conv_regressor,
    ("rendering", "coordconv"): coordconv_renderer,
    ("rendering", "conv"): deconv_renderer,
}


def build_model(task: str, arch: str) -> nn.Module:
    """The paper's model for ``task`` and ``arch``, He-initialised."""
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; choose one of {', '.join(TASKS)}")
    if arch not in ARCHS:
        raise ValueError(f"unknown arch {arch!r}; choose one of {', '.join(ARCHS)}")
    return he_init(_BUILDERS[task, arch]())


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)

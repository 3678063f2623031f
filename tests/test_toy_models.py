"""The paper's toy models, and how the tasks score them."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from coordrl import CoordConv2d
from coordrl.toy.data import render_squares, to_unit
from coordrl.toy.models import (
    TASKS,
    Tile,
    build_model,
    count_parameters,
    deconv_painter,
)
from coordrl.toy.tasks import get_task, iou


def test_coordconv_models_have_the_official_parameter_counts():
    assert count_parameters(build_model("classification", "coordconv")) == 7553
    assert count_parameters(build_model("regression", "coordconv")) == 906


@pytest.mark.parametrize("task", TASKS)
def test_coordconv_models_are_10_to_100_times_smaller(task):
    ratio = count_parameters(build_model(task, "conv")) / count_parameters(
        build_model(task, "coordconv")
    )
    assert 10 <= ratio <= 100


def test_fast_classifier_equals_the_literal_coordconv_stack():
    """Per-pixel linear layers compute exactly what Tile + CoordConv2d + 1x1 convs compute."""
    torch.manual_seed(0)
    fast = build_model("classification", "coordconv").double()
    literal = nn.Sequential(Tile(), CoordConv2d(2, 32, 1)).double()
    for c_in, c_out in [(32, 32), (32, 64), (64, 64), (64, 1)]:
        literal.extend([nn.ReLU(), nn.Conv2d(c_in, c_out, 1).double()])
    with torch.no_grad():
        first = literal[1]
        first.weight.copy_(fast.input_layer.weight[:, :, None, None])
        first.coord_weight.copy_(fast.coord_layer.weight[:, :, None, None])
        first.bias.copy_(fast.input_layer.bias)
        linears = [m for m in fast.body if isinstance(m, nn.Linear)]
        convs = [m for m in literal if type(m) is nn.Conv2d]
        for linear, conv in zip(linears, convs, strict=True):
            conv.weight.copy_(linear.weight[:, :, None, None])
            conv.bias.copy_(linear.bias)
    xy = torch.rand(6, 2, dtype=torch.float64) * 2 - 1
    torch.testing.assert_close(fast(xy), literal(xy), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("kernel_size", [2, 3, 4, 5])
def test_deconv_painter_doubles_to_the_full_canvas_for_any_kernel(kernel_size):
    assert deconv_painter(kernel_size=kernel_size)(torch.rand(3, 2)).shape == (3, 1, 64, 64)


@pytest.mark.parametrize("task", TASKS)
@pytest.mark.parametrize("arch", ["conv", "coordconv"])
def test_models_map_task_inputs_to_task_outputs(task, arch):
    positions = torch.tensor([[10, 20], [40, 50]])
    output = build_model(task, arch)(get_task(task).inputs(positions))
    assert output.shape == ((2, 2) if task == "regression" else (2, 1, 64, 64))


def test_iou_of_known_shapes():
    a = render_squares(torch.tensor([[20, 20]]))
    shifted = render_squares(torch.tensor([[21, 20]]))  # one column over: 72 shared of 90
    far = render_squares(torch.tensor([[50, 50]]))
    empty = torch.zeros_like(a)
    assert iou(a, a).item() == 1.0
    assert iou(a, shifted).item() == pytest.approx(72 / 90)
    assert iou(a, far).item() == 0.0
    assert iou(empty, a).item() == 0.0
    assert iou(empty, empty).item() == 1.0


def perfect_output(task: str, positions: torch.Tensor) -> torch.Tensor:
    if task == "regression":
        return to_unit(positions)
    target = (
        render_squares(positions)
        if task == "rendering"
        else get_task("regression").inputs(positions).bool()  # the one-hot centre
    )
    return target.float() * 20 - 10  # logits: +10 on target pixels, -10 elsewhere


@pytest.mark.parametrize("task", TASKS)
def test_a_perfect_output_scores_perfectly_and_a_shifted_one_does_not(task):
    spec = get_task(task)
    positions = torch.tensor([[10, 20], [40, 50], [59, 4]])
    perfect = spec.scores(perfect_output(task, positions), positions)
    wrong = spec.scores(perfect_output(task, positions + 3), positions)
    if task == "regression":  # errors in pixels: none for the answer, 3 * sqrt(2) shifted
        assert perfect.max().item() < 1e-4
        torch.testing.assert_close(wrong, torch.full((3,), 18**0.5))
    else:
        assert perfect.tolist() == [1.0, 1.0, 1.0]
        assert wrong.max().item() < 1.0
    predicted = spec.predicted_positions(perfect_output(task, positions))
    torch.testing.assert_close(predicted, positions.float(), atol=1e-4, rtol=0)

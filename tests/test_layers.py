"""AddCoords and CoordConv2d: values, dtypes, devices, layouts, caching, equivalence."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from devices import DEVICES
from torch import nn

from coordrl import AddCoords, CoordConv2d, coord_grid, to_concat_conv
from coordrl import layers as layers_module


def reference_coords(height: int, width: int, with_r: bool) -> np.ndarray:
    """Coordinate channels computed independently with numpy: (2 or 3, H, W), float64."""
    i = np.linspace(-1.0, 1.0, height) if height > 1 else np.zeros(1)
    j = np.linspace(-1.0, 1.0, width) if width > 1 else np.zeros(1)
    ii = np.repeat(i[:, None], width, axis=1)
    jj = np.repeat(j[None, :], height, axis=0)
    channels = [ii, jj] + ([np.hypot(ii, jj)] if with_r else [])
    return np.stack(channels)


@pytest.mark.parametrize("height,width", [(5, 5), (3, 7), (8, 2), (1, 6), (6, 1), (1, 1), (64, 64)])
@pytest.mark.parametrize("with_r", [False, True])
def test_addcoords_values_match_independent_computation(height, width, with_r):
    x = torch.randn(2, 3, height, width, dtype=torch.float64)
    out = AddCoords(with_r=with_r)(x)
    assert out.shape == (2, 3 + (3 if with_r else 2), height, width)
    assert torch.equal(out[:, :3], x)  # the input passes through untouched
    expected = reference_coords(height, width, with_r)
    for sample in out[:, 3:]:
        np.testing.assert_allclose(sample.numpy(), expected, rtol=0, atol=1e-15)


def test_addcoords_channel_order_is_row_then_column():
    out = AddCoords()(torch.zeros(1, 1, 3, 5))
    i, j = out[0, 1], out[0, 2]
    assert torch.equal(i[:, 0], torch.tensor([-1.0, 0.0, 1.0]))  # i varies down the rows
    assert torch.equal(i[0], torch.full((5,), -1.0))
    assert torch.equal(j[0], torch.tensor([-1.0, -0.5, 0.0, 0.5, 1.0]))  # j along columns


def test_radius_spans_zero_to_sqrt2():
    r = AddCoords(with_r=True)(torch.zeros(1, 1, 5, 5))[0, 3]
    assert r[2, 2].item() == 0.0
    assert r.max().item() == pytest.approx(math.sqrt(2.0))


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32, torch.float64])
@pytest.mark.parametrize("device", DEVICES)
def test_addcoords_follows_input_dtype_and_device(dtype, device):
    x = torch.randn(2, 1, 6, 9, device=device).to(dtype)
    out = AddCoords(with_r=True)(x)
    assert out.dtype == dtype and out.device == x.device
    expected = torch.from_numpy(reference_coords(6, 9, True)).to(dtype)
    eps = torch.finfo(dtype).eps  # one unit in the last place at 1.0
    torch.testing.assert_close(out[0, 1:].cpu(), expected, rtol=0, atol=eps)


def test_addcoords_on_meta_device_keeps_device():
    out = AddCoords()(torch.empty(4, 2, 7, 3, device="meta"))
    assert out.device.type == "meta" and out.shape == (4, 4, 7, 3)


def test_addcoords_has_no_parameters():
    assert list(AddCoords(with_r=True).parameters()) == []
    assert list(AddCoords(with_r=True).buffers()) == []


def test_grids_are_built_once_per_shape_dtype_device(monkeypatch):
    layers_module._cached_grid.cache_clear()
    builds = []
    real_build = layers_module._build_grid

    def counting_build(*args):
        builds.append(args)
        return real_build(*args)

    monkeypatch.setattr(layers_module, "_build_grid", counting_build)
    add = AddCoords()
    for _ in range(3):
        add(torch.zeros(2, 1, 5, 6))
    conv = CoordConv2d(1, 2, 3)
    for _ in range(3):
        conv(torch.zeros(2, 1, 5, 6))
    assert len(builds) == 1
    add(torch.zeros(2, 1, 6, 5))
    add(torch.zeros(2, 1, 5, 6, dtype=torch.float64))
    assert len(builds) == 3
    assert coord_grid(5, 6) is coord_grid(5, 6)
    layers_module._cached_grid.cache_clear()


def test_grid_cached_in_inference_mode_still_trains():
    layers_module._cached_grid.cache_clear()
    conv = CoordConv2d(1, 2, 3)
    with torch.inference_mode():
        conv(torch.zeros(1, 1, 9, 11))  # first use, and so the cached grid, in inference mode
    conv(torch.randn(2, 1, 9, 11)).sum().backward()
    assert conv.coord_weight.grad is not None


@pytest.mark.parametrize("module", [AddCoords(with_r=True), CoordConv2d(3, 8, 3, padding=1)])
def test_channels_last_input_keeps_layout_and_values(module):
    x = torch.randn(2, 3, 10, 7, requires_grad=True)
    x_cl = x.detach().contiguous(memory_format=torch.channels_last).requires_grad_(True)
    expected, out = module(x), module(x_cl)
    assert out.is_contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(out, expected)
    upstream = torch.randn_like(expected)
    expected.backward(upstream)
    out.backward(upstream)
    torch.testing.assert_close(x_cl.grad, x.grad)


@pytest.mark.parametrize(
    "shape,message",
    [
        ((3, 5, 5), r"4-D \(N, C, H, W\).*\(3, 5, 5\)"),
        ((1, 2, 3, 5, 5), r"4-D \(N, C, H, W\).*\(1, 2, 3, 5, 5\)"),
        ((2, 3, 0, 5), r"H >= 1 and W >= 1.*\(2, 3, 0, 5\)"),
        ((2, 3, 5, 0), r"H >= 1 and W >= 1.*\(2, 3, 5, 0\)"),
    ],
)
def test_addcoords_rejects_bad_shapes_naming_them(shape, message):
    with pytest.raises(ValueError, match=message):
        AddCoords()(torch.zeros(shape))


def test_coordconv_rejects_bad_shapes_and_integer_input():
    conv = CoordConv2d(3, 4, 3)
    with pytest.raises(ValueError, match=r"4-D \(N, C, H, W\)"):
        conv(torch.zeros(1, 1, 3, 5, 5))
    with pytest.raises(ValueError, match=r"H >= 1 and W >= 1"):
        conv(torch.zeros(2, 3, 0, 5))
    with pytest.raises(TypeError, match=r"floating-point.*uint8"):
        AddCoords()(torch.zeros(1, 1, 4, 4, dtype=torch.uint8))


CONV_CASES = [
    dict(kernel_size=3),
    dict(kernel_size=3, padding=1),
    dict(kernel_size=(3, 5), padding="same"),
    dict(kernel_size=8, stride=4),
    dict(kernel_size=3, stride=2, padding=2, dilation=2),
    dict(kernel_size=3, padding=1, padding_mode="reflect"),
    dict(kernel_size=3, padding=(1, 2), padding_mode="circular"),
    dict(kernel_size=3, padding=1, padding_mode="replicate", bias=False),
]


@pytest.mark.parametrize("kwargs", CONV_CASES, ids=lambda k: ",".join(map(str, k.values())))
@pytest.mark.parametrize("with_r", [False, True])
@pytest.mark.parametrize("layout", ["nchw", "channels_last"])
@pytest.mark.parametrize("device", DEVICES)
def test_fused_coordconv_equals_concatenation_outputs_and_gradients(kwargs, with_r, layout, device):
    torch.manual_seed(0)
    fused = CoordConv2d(3, 5, with_r=with_r, dtype=torch.float64, device=device, **kwargs)
    concat = to_concat_conv(fused)
    x1 = torch.randn(4, 3, 13, 17, dtype=torch.float64, device=device)
    if layout == "channels_last":
        x1 = x1.contiguous(memory_format=torch.channels_last)
    x1.requires_grad_(True)
    x2 = x1.detach().contiguous().requires_grad_(True)
    out1, out2 = fused(x1), concat(x2)
    torch.testing.assert_close(out1, out2, rtol=1e-12, atol=1e-12)
    upstream = torch.randn_like(out1)
    out1.backward(upstream)
    out2.backward(upstream)
    dense = concat[1]
    torch.testing.assert_close(x1.grad, x2.grad, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(fused.weight.grad, dense.weight.grad[:, :3], rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(
        fused.coord_weight.grad, dense.weight.grad[:, 3:], rtol=1e-12, atol=1e-12
    )
    if fused.bias is not None:
        torch.testing.assert_close(fused.bias.grad, dense.bias.grad, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("with_r,coord_channels", [(False, 2), (True, 3)])
def test_coordconv_adds_exactly_coord_channels_x_out_x_kernel_weights(with_r, coord_channels):
    plain = nn.Conv2d(4, 32, (8, 6), stride=4)
    coord = CoordConv2d(4, 32, (8, 6), stride=4, with_r=with_r)
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    assert count(coord) - count(plain) == coord_channels * 32 * 8 * 6
    assert coord.coord_weight.shape == (32, coord_channels, 8, 6)


def test_coordconv_is_a_conv2d_drop_in():
    coord = CoordConv2d(3, 4, 3, padding=1)
    assert isinstance(coord, nn.Conv2d)
    plain_state = nn.Conv2d(3, 4, 3, padding=1).state_dict()
    missing, unexpected = coord.load_state_dict(plain_state, strict=False)
    assert missing == ["coord_weight"] and unexpected == []
    x = torch.randn(3, 8, 8)
    torch.testing.assert_close(coord(x), coord(x[None])[0])  # unbatched, like nn.Conv2d


def test_coordconv_with_groups_gives_every_output_all_coordinates():
    conv = CoordConv2d(4, 6, 3, groups=2, padding=1, dtype=torch.float64)
    x = torch.randn(2, 4, 9, 9, dtype=torch.float64)
    grid = torch.from_numpy(reference_coords(9, 9, False))[None]
    expected = F.conv2d(x, conv.weight, conv.bias, padding=1, groups=2) + F.conv2d(
        grid, conv.coord_weight, padding=1
    )
    torch.testing.assert_close(conv(x), expected)


def test_coordconv_init_counts_coordinates_in_fan_in():
    torch.manual_seed(0)
    conv = CoordConv2d(4, 64, 8)
    bound = 1.0 / math.sqrt((4 + 2) * 64)
    for param in (conv.weight, conv.coord_weight, conv.bias):
        assert param.abs().max().item() <= bound
        assert param.abs().max().item() > 0.9 * bound  # uniform over the whole range


def test_gradients_reach_image_and_coordinate_weights():
    conv = CoordConv2d(2, 3, 3, with_r=True)
    x = torch.randn(4, 2, 10, 10, requires_grad=True)
    conv(x).square().mean().backward()
    for grad in (x.grad, conv.weight.grad, conv.coord_weight.grad, conv.bias.grad):
        assert grad is not None and grad.abs().sum() > 0


def test_coordconv_output_depends_on_position_plain_conv_cannot():
    """A translated impulse gives a translated plain-conv output, but not a CoordConv one."""
    torch.manual_seed(0)
    coord = CoordConv2d(1, 1, 3, padding=1, bias=False)
    plain = nn.Conv2d(1, 1, 3, padding=1, bias=False)
    plain.weight = coord.weight
    x = torch.zeros(2, 1, 12, 12)
    x[0, 0, 3, 3] = 1.0
    x[1, 0, 7, 8] = 1.0
    for conv, equivariant in ((plain, True), (coord, False)):
        out = conv(x)[:, 0]
        same = torch.allclose(out[0, 2:5, 2:5], out[1, 6:9, 7:10])
        assert same is equivariant


class _Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.add = AddCoords(with_r=True)
        self.conv = CoordConv2d(4, 8, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(self.add(x)[:, :4])


def test_torch_compile_fullgraph_matches_eager():
    net = _Net()
    compiled = torch.compile(net, backend="aot_eager", fullgraph=True)
    for shape in [(2, 4, 9, 11), (3, 4, 9, 11)]:
        x = torch.randn(shape)
        torch.testing.assert_close(compiled(x), net(x))
    x = torch.randn(2, 4, 9, 11, requires_grad=True)
    compiled(x).sum().backward()
    assert net.conv.coord_weight.grad is not None


def test_torch_export_matches_eager_with_dynamic_batch():
    net = _Net()
    batch = torch.export.Dim("batch", min=1, max=1024)
    exported = torch.export.export(net, (torch.randn(2, 4, 9, 11),), dynamic_shapes=({0: batch},))
    for n in (1, 5):
        x = torch.randn(n, 4, 9, 11)
        torch.testing.assert_close(exported.module()(x), net(x))


@pytest.mark.slow
@pytest.mark.parametrize("device", DEVICES)
def test_torch_compile_inductor_matches_eager(device):
    net = _Net().to(device)
    compiled = torch.compile(net, fullgraph=True)  # the default inductor backend (~20 s)
    x = torch.randn(3, 4, 9, 11, device=device)
    torch.testing.assert_close(compiled(x), net(x))


def test_bias_map_is_reused_without_grad_until_the_weights_change():
    torch.manual_seed(0)
    conv = CoordConv2d(3, 4, 3, padding=1)
    x = torch.rand(2, 3, 9, 9)
    with torch.no_grad():
        first = conv.coord_bias_map(9, 9, x.dtype, x.device)
        assert conv.coord_bias_map(9, 9, x.dtype, x.device) is first
        y_cached = conv(x)
    with torch.no_grad():
        conv.coord_weight.mul_(2.0)  # an optimizer step
        second = conv.coord_bias_map(9, 9, x.dtype, x.device)
    assert second is not first
    torch.testing.assert_close(second, 2 * first)
    with torch.no_grad():
        conv.load_state_dict({**conv.state_dict(), "coord_weight": conv.coord_weight / 2})
        torch.testing.assert_close(conv(x), y_cached)
    # with autograd on, the map is always recomputed so gradients reach coord_weight
    conv(x).sum().backward()
    assert conv.coord_weight.grad is not None and conv.coord_weight.grad.abs().sum() > 0

"""NatureCNN / CoordNatureCNN extractors and make_policy_kwargs, checked against SB3's own."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from gymnasium import spaces
from stable_baselines3.common.torch_layers import NatureCNN as SB3NatureCNN

from coordrl import CoordConv2d, coordify
from coordrl.archs import ARCHS, NETWORKS
from coordrl.extractors import EXTRACTORS, CoordNatureCNN, NatureCNN, make_policy_kwargs

ATARI = spaces.Box(0, 255, (4, 84, 84), np.uint8)


def n_params(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def test_conv_extractor_is_sb3_naturecnn_layer_for_layer():
    theirs = SB3NatureCNN(ATARI)
    ours = NatureCNN(ATARI, channels_last=False)
    ours.load_state_dict(theirs.state_dict())  # strict: same names and shapes
    x = torch.rand(3, 4, 84, 84)
    assert torch.equal(ours(x), theirs(x))
    assert ours.features_dim == theirs.features_dim == 512
    # the CPU default runs channels-last: the same function, summed in another order
    fast = NatureCNN(ATARI)
    fast.load_state_dict(theirs.state_dict())
    torch.testing.assert_close(fast(x), theirs(x), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("coord_layers", ["first", "all"])
def test_channels_last_coordconv_matches_the_default_layout_with_gradients(coord_layers):
    torch.manual_seed(0)
    default = CoordNatureCNN(ATARI, coord_layers=coord_layers, channels_last=False).double()
    fast = CoordNatureCNN(ATARI, coord_layers=coord_layers, channels_last=True).double()
    fast.load_state_dict(default.state_dict())
    x = torch.rand(5, 4, 84, 84, dtype=torch.float64)
    outs = [net(x) for net in (default, fast)]
    torch.testing.assert_close(outs[1], outs[0])
    grads = [
        torch.autograd.grad(y.square().sum(), list(net.parameters()))
        for y, net in zip(outs, (default, fast), strict=True)
    ]
    for g_fast, g_default in zip(grads[1], grads[0], strict=True):
        torch.testing.assert_close(g_fast, g_default)


@pytest.mark.parametrize(
    "coord_layers,with_r,added",
    [
        ("first", False, 2 * 32 * 8 * 8),
        ("first", True, 3 * 32 * 8 * 8),
        ("all", False, 2 * (32 * 8 * 8 + 64 * 4 * 4 + 64 * 3 * 3)),
    ],
)
def test_coord_extractor_adds_exactly_the_coordinate_weights(coord_layers, with_r, added):
    coord = CoordNatureCNN(ATARI, coord_layers=coord_layers, with_r=with_r)
    assert n_params(coord) - n_params(NatureCNN(ATARI)) == added
    convs = [m for m in coord.cnn if isinstance(m, torch.nn.Conv2d)]
    expected = [True, False, False] if coord_layers == "first" else [True, True, True]
    assert [isinstance(m, CoordConv2d) for m in convs] == expected


def test_coord_extractor_has_the_layout_coordify_gives_a_conv_extractor():
    converted = coordify(NatureCNN(ATARI), "first")
    built = CoordNatureCNN(ATARI)
    assert converted.state_dict().keys() == built.state_dict().keys()
    built.load_state_dict(converted.state_dict())
    x = torch.rand(2, 4, 84, 84)
    assert torch.equal(built(x), converted(x))


@pytest.mark.parametrize("shape", [(1, 36, 36), (3, 40, 52), (4, 84, 84)])
def test_extractors_handle_non_square_and_small_images(shape):
    space = spaces.Box(0, 255, shape, np.uint8)
    for extractor in (NatureCNN(space, features_dim=16), CoordNatureCNN(space, features_dim=16)):
        assert extractor(torch.rand(2, *shape)).shape == (2, 16)


def test_normalized_float_images_are_accepted_when_declared():
    space = spaces.Box(0.0, 1.0, (3, 48, 48), np.float32)
    with pytest.raises(ValueError, match="normalized_image=True"):
        CoordNatureCNN(space)
    assert CoordNatureCNN(space, normalized_image=True)(torch.rand(1, 3, 48, 48)).shape == (1, 512)


@pytest.mark.parametrize(
    "space,message",
    [
        (spaces.Box(-1, 1, (8,), np.float32), r"shape \(C, H, W\).*got Box\(.*\(8,\)"),
        (spaces.Discrete(4), r"shape \(C, H, W\).*got Discrete\(4\)"),
        (spaces.Box(0, 255, (4, 30, 84), np.uint8), r"at least 36x36.*got shape \(4, 30, 84\)"),
        (spaces.Box(0, 255, (84, 84, 4), np.uint8), r"channels-last: transpose"),
    ],
)
def test_non_image_spaces_are_refused_with_expected_and_actual(space, message):
    for extractor_class in (NatureCNN, CoordNatureCNN):
        with pytest.raises(ValueError, match=message):
            extractor_class(space)


def test_forward_refuses_wrong_rank_or_shape():
    extractor = CoordNatureCNN(ATARI)
    with pytest.raises(ValueError, match=r"\(N, 4, 84, 84\), got \(4, 84, 84\)"):
        extractor(torch.rand(4, 84, 84))
    with pytest.raises(ValueError, match=r"\(N, 4, 84, 84\), got \(2, 3, 84, 84\)"):
        extractor(torch.rand(2, 3, 84, 84))


def test_bad_extractor_options_are_refused():
    with pytest.raises(ValueError, match="coord_layers must be 'first' or 'all'"):
        CoordNatureCNN(ATARI, coord_layers="last")
    with pytest.raises(ValueError, match="with_r needs coordinate layers"):
        NatureCNN(ATARI, with_r=True)


def test_every_network_and_arch_a_config_may_name_has_an_extractor():
    assert tuple(EXTRACTORS) == NETWORKS
    assert all(tuple(by_arch) == ARCHS for by_arch in EXTRACTORS.values())


def test_make_policy_kwargs_returns_fresh_dicts():
    first = make_policy_kwargs("coordconv")
    first["features_extractor_kwargs"]["with_r"] = True
    first["net_arch"].append(64)
    second = make_policy_kwargs("coordconv")
    assert second["features_extractor_kwargs"]["with_r"] is False
    assert second["net_arch"] == []
    assert second["features_extractor_class"] is CoordNatureCNN
    assert make_policy_kwargs("conv")["features_extractor_class"] is NatureCNN


def test_make_policy_kwargs_refuses_unknown_or_mismatched_options():
    with pytest.raises(ValueError, match="unknown arch 'resnet'; choose one of conv, coordconv"):
        make_policy_kwargs("resnet")
    with pytest.raises(ValueError, match="apply to arch 'coordconv'"):
        make_policy_kwargs("conv", with_r=True)

"""Stable-Baselines3 feature extractors: NatureCNN, MinAtar's network, their CoordConv twins.

All are plain ``nn.Module`` s (SB3 ``BaseFeaturesExtractor``) built by one function, so
the conv and CoordConv arms of an experiment differ only in the coordinate channels.
``make_policy_kwargs`` gives SB3 a fresh ``policy_kwargs`` dict per algorithm with
``net_arch=[]``: the heads then match SB3's own NatureCNN policies exactly.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import torch
from gymnasium import spaces
from stable_baselines3.common.preprocessing import is_image_space
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor
from torch import nn

from coordrl.archs import ARCHS, COORD_LAYERS, NETWORKS, CoordLayers
from coordrl.layers import CoordConv2d

__all__ = [
    "ARCHS",
    "NETWORKS",
    "CoordNatureCNN",
    "MinAtarCNN",
    "NatureCNN",
    "arch_of",
    "extractor_spec",
    "make_extractor",
    "make_policy_kwargs",
]

# (out_channels, kernel_size, stride) of the DQN Nature paper's three conv layers.
NATURE_CONVS = ((32, 8, 4), (64, 4, 2), (64, 3, 1))


def _conv_out(size: int) -> int:
    """Spatial size after NatureCNN's three unpadded convs (<= 0: the image is too small)."""
    for _, kernel, stride in NATURE_CONVS:
        size = (size - kernel) // stride + 1 if size >= kernel else 0
    return size


def _min_image_size() -> int:
    size = 1
    while _conv_out(size) < 1:
        size += 1
    return size


def _check_image_space(space: gym.Space, normalized_image: bool, who: str) -> tuple[int, ...]:
    """Return the (C, H, W) shape of ``space``, or raise a ValueError saying what is expected."""
    expected = "a Box image space of shape (C, H, W), channels first" + (
        "" if normalized_image else ", dtype uint8 with bounds [0, 255]"
    )
    if not isinstance(space, spaces.Box) or len(space.shape) != 3:
        raise ValueError(f"{who} needs {expected}; got {space}")
    if not is_image_space(space, check_channels=False, normalized_image=normalized_image):
        raise ValueError(
            f"{who} needs {expected}; got {space} "
            "(pass normalized_image=True for float images already scaled to [0, 1])"
        )
    _, height, width = space.shape
    if _conv_out(height) < 1 or _conv_out(width) < 1:
        hint = (
            " (it looks channels-last: transpose to (C, H, W), as SB3's VecTransposeImage does)"
            if space.shape[-1] <= 4 < space.shape[0]
            else ""
        )
        minimum = _min_image_size()
        if not hint and max(height, width) <= 16:
            hint = " (for small grids such as MinAtar's 10x10, use network: minatar)"
        raise ValueError(
            f"{who} needs images of at least {minimum}x{minimum} for its 8/4, 4/2, 3/1 convs; "
            f"got shape {space.shape}{hint}"
        )
    return space.shape


class NatureCNN(BaseFeaturesExtractor):
    """The DQN Nature CNN (Mnih et al. 2015), optionally with CoordConv layers.

    Conv(C,32,8,4) ReLU Conv(32,64,4,2) ReLU Conv(64,64,3,1) ReLU Flatten
    Linear(n_flatten, features_dim) ReLU: the same layers as SB3's ``NatureCNN``.

    :param observation_space: a (C, H, W) image Box space.
    :param features_dim: width of the final linear layer.
    :param normalized_image: the images are floats already in [0, 1] (skip uint8 checks).
    :param coord_layers: which convs get coordinate channels: None (plain conv),
        ``"first"`` or ``"all"``.
    :param with_r: add the radius channel as well as i and j.
    :param channels_last: run the convolutions in channels-last memory order (same results,
        other summation order). ``None``: on the CPU only, where oneDNN's convolutions are
        ~1.3-1.5x faster that way (``benchmarks/layers.py``); GPUs keep the default layout.
    """

    def __init__(
        self,
        observation_space: gym.Space,
        features_dim: int = 512,
        normalized_image: bool = False,
        coord_layers: CoordLayers | None = None,
        with_r: bool = False,
        channels_last: bool | None = None,
    ) -> None:
        who = type(self).__name__
        if (
            isinstance(observation_space, spaces.Box)
            and len(observation_space.shape) == 3
            and max(observation_space.shape[1:]) <= 16
        ):  # a size error is the useful one here, not the dtype's
            normalized_image = True
        shape = _check_image_space(observation_space, normalized_image, who)
        if coord_layers is not None and coord_layers not in COORD_LAYERS:
            raise ValueError(f"{who}: coord_layers must be 'first' or 'all', got {coord_layers!r}")
        if with_r and coord_layers is None:
            raise ValueError(f"{who}: with_r needs coordinate layers (coord_layers='first'/'all')")
        super().__init__(observation_space, features_dim)
        self.obs_shape = tuple(shape)
        self.coord_layers = coord_layers
        self.with_r = with_r
        self.channels_last = channels_last
        self.input_scale = 1.0 if normalized_image else 1 / 255  # what on-device agents apply

        layers: list[nn.Module] = []
        in_channels = shape[0]
        for index, (out_channels, kernel, stride) in enumerate(NATURE_CONVS):
            wants_coords = coord_layers == "all" or (coord_layers == "first" and index == 0)
            if wants_coords:
                conv: nn.Conv2d = CoordConv2d(
                    in_channels, out_channels, kernel, stride=stride, with_r=with_r
                )
            else:
                conv = nn.Conv2d(in_channels, out_channels, kernel, stride=stride)
            layers += [conv, nn.ReLU()]
            in_channels = out_channels
        self.cnn = nn.Sequential(*layers, nn.Flatten())
        n_flatten = in_channels * _conv_out(shape[1]) * _conv_out(shape[2])
        self.linear = nn.Sequential(nn.Linear(n_flatten, features_dim), nn.ReLU())

    def forward(self, observations: torch.Tensor) -> torch.Tensor:
        if observations.dim() != 4 or tuple(observations.shape[1:]) != self.obs_shape:
            raise ValueError(
                f"{type(self).__name__} expects observations of shape (N, "
                f"{', '.join(map(str, self.obs_shape))}), got {tuple(observations.shape)}"
            )
        if self.channels_last or (self.channels_last is None and observations.is_cpu):
            observations = observations.contiguous(memory_format=torch.channels_last)
        return self.linear(self.cnn(observations))


class CoordNatureCNN(NatureCNN):
    """NatureCNN whose first (or every) conv is a CoordConv2d: SB3's CoordConv extractor."""

    def __init__(
        self,
        observation_space: gym.Space,
        features_dim: int = 512,
        normalized_image: bool = False,
        coord_layers: CoordLayers = "first",
        with_r: bool = False,
        channels_last: bool | None = None,
    ) -> None:
        if coord_layers is None:
            raise ValueError("CoordNatureCNN: coord_layers must be 'first' or 'all', got None")
        super().__init__(
            observation_space,
            features_dim=features_dim,
            normalized_image=normalized_image,
            coord_layers=coord_layers,
            with_r=with_r,
            channels_last=channels_last,
        )


class MinAtarCNN(BaseFeaturesExtractor):
    """MinAtar's network (Young & Tian 2019), optionally with a CoordConv layer.

    Conv(C,16,3,1) ReLU Flatten Linear(16 (H-2) (W-2), features_dim=128) ReLU; the heads
    come after it. Its inputs are MinAtar's 0/1 grids, used as they are (no division by 255).

    :param coord_layers: None (plain conv), or ``"first"`` / ``"all"`` (the same here: the
        network has one conv) for a CoordConv2d.
    :param with_r: add the radius channel as well as i and j.
    """

    input_scale = 1.0

    def __init__(
        self,
        observation_space: gym.Space,
        features_dim: int = 128,
        coord_layers: CoordLayers | None = None,
        with_r: bool = False,
    ) -> None:
        who = type(self).__name__
        if not isinstance(observation_space, spaces.Box) or len(observation_space.shape) != 3:
            raise ValueError(f"{who} needs a (C, H, W) Box space; got {observation_space}")
        channels, height, width = observation_space.shape
        if min(height, width) < 3:
            raise ValueError(f"{who} needs grids of at least 3x3; got {observation_space.shape}")
        if coord_layers is not None and coord_layers not in COORD_LAYERS:
            raise ValueError(f"{who}: coord_layers must be 'first' or 'all', got {coord_layers!r}")
        if with_r and coord_layers is None:
            raise ValueError(f"{who}: with_r needs coordinate layers (coord_layers='first'/'all')")
        super().__init__(observation_space, features_dim)
        self.obs_shape = (channels, height, width)
        self.coord_layers, self.with_r = coord_layers, with_r
        conv = (
            CoordConv2d(channels, 16, 3, with_r=with_r)
            if coord_layers
            else nn.Conv2d(channels, 16, 3)
        )
        self.cnn = nn.Sequential(conv, nn.ReLU(), nn.Flatten())
        self.linear = nn.Sequential(
            nn.Linear(16 * (height - 2) * (width - 2), features_dim), nn.ReLU()
        )

    def forward(self, observations: torch.Tensor) -> torch.Tensor:
        if observations.dim() != 4 or tuple(observations.shape[1:]) != self.obs_shape:
            raise ValueError(
                f"{type(self).__name__} expects observations of shape (N, "
                f"{', '.join(map(str, self.obs_shape))}), got {tuple(observations.shape)}"
            )
        return self.linear(self.cnn(observations.float()))


# The one (network, arch) -> extractor mapping: SB3 policies, the on-device agents and
# evaluation use it. NatureCNN for Atari-sized images; MinAtar's network for its grids.
EXTRACTORS: dict[str, dict[str, type[nn.Module]]] = {
    "nature": {"conv": NatureCNN, "coordconv": CoordNatureCNN},
    "minatar": {"conv": MinAtarCNN, "coordconv": MinAtarCNN},
}
FEATURES_DIM = {"nature": 512, "minatar": 128}


def extractor_spec(
    arch: str,
    *,
    network: str = "nature",
    coord_layers: CoordLayers | None = None,
    with_r: bool = False,
) -> tuple[type[nn.Module], dict[str, Any]]:
    """The extractor class of ``network`` and ``arch`` and its CoordConv keyword arguments.

    ``coord_layers`` defaults to "first" for "coordconv"; it and ``with_r`` are refused for
    "conv", where they would silently do nothing.
    """
    if network not in EXTRACTORS:
        raise ValueError(f"unknown network {network!r}; choose one of {', '.join(NETWORKS)}")
    if arch == "conv":
        if coord_layers is not None or with_r:
            raise ValueError("coord_layers and with_r apply to arch 'coordconv', not 'conv'")
        return EXTRACTORS[network][arch], {}
    if arch == "coordconv":
        coord = {"coord_layers": coord_layers or "first", "with_r": with_r}
        return EXTRACTORS[network][arch], coord
    raise ValueError(f"unknown arch {arch!r}; choose one of {', '.join(ARCHS)}")


def make_extractor(
    arch: str,
    observation_space: gym.Space,
    *,
    network: str = "nature",
    coord_layers: CoordLayers | None = None,
    with_r: bool = False,
    **kwargs: Any,
) -> nn.Module:
    """An extractor of ``network`` and ``arch`` for ``observation_space``; ``kwargs`` go to
    its class."""
    cls, coord = extractor_spec(arch, network=network, coord_layers=coord_layers, with_r=with_r)
    return cls(observation_space, **coord, **kwargs)


def arch_of(extractor: nn.Module) -> str:
    """The arch an extractor was built as ("conv" or "coordconv")."""
    return "coordconv" if getattr(extractor, "coord_layers", None) is not None else "conv"


def make_policy_kwargs(
    arch: str,
    *,
    network: str = "nature",
    features_dim: int | None = None,
    coord_layers: CoordLayers | None = None,
    with_r: bool = False,
    normalized_image: bool = False,
    channels_last: bool | None = None,
) -> dict[str, Any]:
    """A fresh SB3 ``policy_kwargs`` dict for ``arch`` ("conv" or "coordconv").

    ``net_arch=[]`` makes the heads those of SB3's own NatureCNN policies (SB3 adds
    [64, 64] layers to custom extractors otherwise). Build one dict per model: A2C mutates
    the dict it is given. ``coord_layers`` defaults to "first" for "coordconv";
    ``channels_last`` is the extractors' (None: channels-last on the CPU only).
    ``network="minatar"``: MinAtar's network, whose 0/1 inputs SB3 does not rescale.
    """
    extractor_class, coord = extractor_spec(
        arch, network=network, coord_layers=coord_layers, with_r=with_r
    )
    extractor_kwargs: dict[str, Any] = {
        "features_dim": features_dim or FEATURES_DIM[network],
        **coord,
    }
    if network == "nature":
        extractor_kwargs.update(normalized_image=normalized_image, channels_last=channels_last)
    return {
        "features_extractor_class": extractor_class,
        "features_extractor_kwargs": extractor_kwargs,
        "net_arch": [],
        "normalize_images": not normalized_image and network == "nature",
    }

"""CoordConv layers: coordinate grids, AddCoords, CoordConv2d and coordify().

Liu et al. 2018 give a convolution its own input coordinates by concatenating coordinate
channels. The channels are identical for every sample, so their contribution to a
convolution is an input-independent spatial bias map: CoordConv2d computes it from the
grid once per call (batch of one) instead of convolving concatenated channels for every
sample. Outputs and gradients equal those of concatenation.
"""

from __future__ import annotations

import copy
import functools
import math
from collections.abc import Sequence
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["AddCoords", "CoordConv2d", "coord_grid", "coordify", "to_concat_conv"]

LayerSelection = Literal["first", "all"] | Sequence[str]


def _check_image_batch(x: torch.Tensor, who: str) -> None:
    """Raise a ValueError naming the expected (N, C, H, W) shape when ``x`` is not one."""
    if x.dim() != 4:
        raise ValueError(
            f"{who} expects a 4-D (N, C, H, W) tensor, got a {x.dim()}-D tensor "
            f"of shape {tuple(x.shape)}"
        )
    if x.shape[-2] == 0 or x.shape[-1] == 0:
        raise ValueError(
            f"{who} expects H >= 1 and W >= 1 in (N, C, H, W), got shape {tuple(x.shape)}"
        )
    if not x.is_floating_point():
        raise TypeError(f"{who} expects a floating-point tensor, got dtype {x.dtype}")


def _axis(size: int) -> torch.Tensor:
    """``2 * idx / (size - 1) - 1`` for idx in range(size), in float64; 0 where size is 1."""
    idx = torch.arange(size, dtype=torch.float64)
    if size == 1:
        return torch.zeros_like(idx)
    return 2.0 * idx / (size - 1) - 1.0


def _build_grid(
    height: int, width: int, with_r: bool, dtype: torch.dtype, device: torch.device
) -> torch.Tensor:
    """Build the (1, 2 or 3, H, W) grid: i (rows), j (columns), optionally r."""
    i, j = torch.meshgrid(_axis(height), _axis(width), indexing="ij")
    channels = [i, j]
    if with_r:
        channels.append(torch.sqrt(i * i + j * j))
    return torch.stack(channels).unsqueeze(0).to(device=device, dtype=dtype)


@functools.lru_cache(maxsize=64)
def _cached_grid(
    height: int, width: int, with_r: bool, dtype: torch.dtype, device: torch.device
) -> torch.Tensor:
    # Built outside inference mode: an inference tensor could not be saved for backward
    # by a later training step that reuses it.
    with torch.inference_mode(False), torch.no_grad():
        return _build_grid(height, width, with_r, dtype, device)


def coord_grid(
    height: int,
    width: int,
    with_r: bool = False,
    *,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """Coordinate channels of shape (1, 2 or 3, H, W): i (row), j (column), optionally r.

    Each axis is scaled to [-1, 1] as ``2 * idx / (size - 1) - 1`` (0 where the size is 1);
    ``r = sqrt(i**2 + j**2)`` of the scaled channels, in [0, sqrt(2)]. Grids are built once
    per (H, W, with_r, dtype, device) and shared: treat the result as read-only.
    """
    device = torch.device("cpu") if device is None else torch.device(device)
    if torch.compiler.is_compiling():
        # Under torch.compile / torch.export the grid is traced into the graph instead.
        return _build_grid(height, width, with_r, dtype, device)
    return _cached_grid(height, width, with_r, dtype, device)


def _build_patches(
    height: int,
    width: int,
    with_r: bool,
    dtype: torch.dtype,
    device: torch.device,
    conv: tuple[tuple[int, ...], ...],
    pads: tuple[int, ...],
    padding_mode: str,
) -> torch.Tensor:
    """The grid's receptive fields, (channels x kH x kW, H_out x W_out): what a conv sees."""
    kernel, stride, dilation = conv
    grid = coord_grid(height, width, with_r, dtype=dtype, device=device)
    mode = "constant" if padding_mode == "zeros" else padding_mode
    grid = F.pad(grid, pads, mode=mode)
    return F.unfold(grid, kernel, dilation=dilation, stride=stride)[0]


@functools.lru_cache(maxsize=64)
def _cached_patches(*key: object) -> torch.Tensor:
    with torch.inference_mode(False), torch.no_grad():
        return _build_patches(*key)  # type: ignore[arg-type]


def _is_channels_last(x: torch.Tensor) -> bool:
    return x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous()


class AddCoords(nn.Module):
    """Append coordinate channels to an (N, C, H, W) batch: (N, C + 2 [+ 1], H, W).

    The appended channels are i (row index) then j (column index), each in [-1, 1], and
    with ``with_r`` the radius from the centre. dtype, device and channels_last layout
    follow the input. The module has no parameters.
    """

    def __init__(self, with_r: bool = False) -> None:
        super().__init__()
        self.with_r = with_r

    @property
    def coord_channels(self) -> int:
        """How many channels this module appends (2, or 3 with r)."""
        return 3 if self.with_r else 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_image_batch(x, "AddCoords")
        n, c, h, w = x.shape
        grid = coord_grid(h, w, self.with_r, dtype=x.dtype, device=x.device)
        grid = grid.expand(n, -1, -1, -1)
        if not _is_channels_last(x):
            return torch.cat((x, grid), dim=1)
        # torch.cat would return a contiguous (NCHW) tensor; keep the caller's layout.
        out = torch.empty(
            (n, c + self.coord_channels, h, w),
            dtype=x.dtype,
            device=x.device,
            memory_format=torch.channels_last,
        )
        out[:, :c].copy_(x)
        out[:, c:].copy_(grid)
        return out

    def extra_repr(self) -> str:
        return f"with_r={self.with_r}"


class CoordConv2d(nn.Conv2d):
    """Drop-in for ``nn.Conv2d`` whose input is given coordinate channels.

    Takes nn.Conv2d's arguments (``in_channels`` counts the input's own channels only) plus
    ``with_r``. It computes ``conv(cat(x, coords))`` as ``conv(x) + conv(coords)``, with the
    second term convolved once for the whole batch from the cached grid; outputs and
    gradients are those of concatenation. ``weight`` and ``bias`` are nn.Conv2d's, so
    checkpoints of plain convs load into them; ``coord_weight`` (out, 2 or 3, kH, kW) holds
    the coordinate channels' weights. With ``groups > 1`` every output channel sees every
    coordinate channel. Initialisation matches an nn.Conv2d with the coordinate channels
    counted in its fan-in.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, int],
        stride: int | tuple[int, int] = 1,
        padding: str | int | tuple[int, int] = 0,
        dilation: int | tuple[int, int] = 1,
        groups: int = 1,
        bias: bool = True,
        padding_mode: str = "zeros",
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
        with_r: bool = False,
    ) -> None:
        super().__init__(
            in_channels,
            out_channels,
            kernel_size,
            stride=stride,
            padding=padding,
            dilation=dilation,
            groups=groups,
            bias=bias,
            padding_mode=padding_mode,
            device=device,
            dtype=dtype,
        )
        self.with_r = with_r
        self.coord_weight = nn.Parameter(
            torch.empty(
                (out_channels, self.coord_channels, *self.kernel_size),
                device=device,
                dtype=dtype,
            )
        )
        self.reset_parameters()

    @property
    def coord_channels(self) -> int:
        """Number of coordinate channels (2, or 3 with r)."""
        return 3 if self.with_r else 2

    def reset_parameters(self) -> None:
        """Uniform(-1/sqrt(fan_in), 1/sqrt(fan_in)), nn.Conv2d's default, coords in fan_in."""
        if getattr(self, "coord_weight", None) is None:
            return  # called by nn.Conv2d.__init__ before coord_weight exists
        fan_in = (self.in_channels // self.groups + self.coord_channels) * math.prod(
            self.kernel_size
        )
        bound = 1.0 / math.sqrt(fan_in)
        for param in (self.weight, self.coord_weight, self.bias):
            if param is not None:
                nn.init.uniform_(param, -bound, bound)

    def coord_bias_map(
        self,
        height: int,
        width: int,
        dtype: torch.dtype,
        device: torch.device,
        channels_last: bool = False,
    ) -> torch.Tensor:
        """The coordinate channels' share of the output, (1, out, H_out, W_out).

        A conv over a fixed grid is a matrix product with the grid's (cached) patches, which
        keeps its backward a small matmul in either memory layout. Without autograd
        (rollouts, evaluation) the map is kept until ``coord_weight`` changes (its version
        counter moves with every in-place update), so acting costs what a plain conv costs.
        """
        if torch.is_grad_enabled() or torch.compiler.is_compiling():
            return self._convolve_grid(height, width, dtype, device, channels_last)
        weight = self.coord_weight
        key = (height, width, dtype, device, channels_last, weight.data_ptr(), weight._version)
        cached = self.__dict__.get("_bias_map_cache")
        if cached is not None and cached[0] == key:
            return cached[1]
        bias_map = self._convolve_grid(height, width, dtype, device, channels_last)
        self.__dict__["_bias_map_cache"] = (key, bias_map)
        return bias_map

    def _convolve_grid(
        self,
        height: int,
        width: int,
        dtype: torch.dtype,
        device: torch.device,
        channels_last: bool,
    ) -> torch.Tensor:
        pads = self._reversed_padding_repeated_twice  # (left, right, top, bottom)
        key = (
            height,
            width,
            self.with_r,
            dtype,
            torch.device(device),
            (self.kernel_size, self.stride, self.dilation),
            tuple(pads),
            self.padding_mode,
        )
        patches = _build_patches(*key) if torch.compiler.is_compiling() else _cached_patches(*key)
        size = [
            (n + lo + hi - d * (k - 1) - 1) // s + 1
            for n, lo, hi, k, s, d in zip(
                (height, width),
                (pads[2], pads[0]),
                (pads[3], pads[1]),
                self.kernel_size,
                self.stride,
                self.dilation,
                strict=True,
            )
        ]
        weight = self.coord_weight.flatten(1)  # (out, channels x kH x kW)
        if channels_last:  # built as (1, H, W, out), seen as (1, out, H, W)
            return (patches.T @ weight.T).view(1, *size, -1).permute(0, 3, 1, 2)
        return (weight @ patches).view(1, -1, *size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        unbatched = x.dim() == 3  # nn.Conv2d accepts (C, H, W); so does its drop-in
        if unbatched:
            x = x.unsqueeze(0)
        _check_image_batch(x, "CoordConv2d")
        out = self._conv_forward(x, self.weight, self.bias)
        channels_last = _is_channels_last(out)
        bias_map = self.coord_bias_map(x.shape[-2], x.shape[-1], x.dtype, x.device, channels_last)
        # In place: conv's backward needs its inputs, not its output.
        if channels_last:
            # Add in (N, H, W, C) order, so that backward sums the batch over contiguous
            # memory: torch's channels-last sum over dim 0 is ~15x slower on the CPU.
            out.permute(0, 2, 3, 1).add_(bias_map.permute(0, 2, 3, 1))
        else:
            out = out.add_(bias_map)
        return out.squeeze(0) if unbatched else out

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, with_r={self.with_r}"

    @classmethod
    def from_conv(cls, conv: nn.Conv2d, with_r: bool = False) -> CoordConv2d:
        """Wrap ``conv``'s own weight and bias, with zero coordinate weights.

        The result computes exactly what ``conv`` computes until it is trained.
        """
        new = cls(
            conv.in_channels,
            conv.out_channels,
            conv.kernel_size,
            stride=conv.stride,
            padding=conv.padding,
            dilation=conv.dilation,
            groups=conv.groups,
            bias=conv.bias is not None,
            padding_mode=conv.padding_mode,
            device="meta",  # no work spent initialising weights that are replaced below
            dtype=conv.weight.dtype,
            with_r=with_r,
        )
        new.weight = conv.weight
        new.bias = conv.bias
        new.coord_weight = nn.Parameter(
            torch.zeros_like(new.coord_weight, device=conv.weight.device)
        )
        return new.train(conv.training)


def to_concat_conv(conv: CoordConv2d) -> nn.Sequential:
    """The textbook equivalent of ``conv``: AddCoords then an nn.Conv2d over C + k channels.

    Shares no storage with ``conv``; used to check CoordConv2d and to benchmark against it.
    """
    if conv.groups != 1:
        raise ValueError(f"concatenation is defined for groups=1 only, got groups={conv.groups}")
    dense = nn.Conv2d(
        conv.in_channels + conv.coord_channels,
        conv.out_channels,
        conv.kernel_size,
        stride=conv.stride,
        padding=conv.padding,
        dilation=conv.dilation,
        bias=conv.bias is not None,
        padding_mode=conv.padding_mode,
        device=conv.weight.device,
        dtype=conv.weight.dtype,
    )
    with torch.no_grad():
        dense.weight.copy_(torch.cat((conv.weight, conv.coord_weight), dim=1))
        if conv.bias is not None:
            dense.bias.copy_(conv.bias)
    return nn.Sequential(AddCoords(with_r=conv.with_r), dense)


def _select_convs(model: nn.Module, layers: LayerSelection) -> list[str]:
    """Qualified names of the nn.Conv2d layers that ``layers`` selects, in model order."""
    convs = [name for name, m in model.named_modules() if isinstance(m, nn.Conv2d)]
    if not convs:
        raise ValueError("coordify: the model has no nn.Conv2d layer")
    if layers == "first":
        chosen = convs[:1]
    elif layers == "all":
        chosen = [n for n in convs if not isinstance(model.get_submodule(n), CoordConv2d)]
    elif isinstance(layers, Sequence) and not isinstance(layers, str):
        unknown = [n for n in layers if n not in convs]
        if unknown:
            raise ValueError(
                f"coordify: {unknown} are not nn.Conv2d layers of the model; "
                f"its nn.Conv2d layers are {convs}"
            )
        wanted = set(layers)
        chosen = [n for n in convs if n in wanted]
    else:
        raise ValueError(
            f"coordify: layers must be 'first', 'all' or a list of layer names, got {layers!r}"
        )
    for name in chosen:
        module = model.get_submodule(name)
        if type(module) is not nn.Conv2d:
            raise ValueError(
                f"coordify: layer {name!r} is a {type(module).__name__}, not a plain "
                "nn.Conv2d; converting it would drop its own forward()"
            )
    return chosen


def coordify(
    model: nn.Module,
    layers: LayerSelection = "first",
    with_r: bool = False,
    inplace: bool = False,
) -> nn.Module:
    """Return ``model`` with the chosen nn.Conv2d layers turned into CoordConv2d.

    ``layers``: ``"first"`` (the first nn.Conv2d in ``named_modules()`` order), ``"all"``
    (every plain nn.Conv2d) or a list of qualified layer names. Converted layers keep their
    weights and get zero coordinate weights, so the model computes exactly the same outputs
    until it is trained: a pretrained network can be CoordConv-ified and fine-tuned. The
    model is deep-copied unless ``inplace``; with ``inplace`` the converted layers reuse
    the original weight and bias Parameters, so an existing optimizer keeps them.
    """
    chosen = _select_convs(model, layers)
    if not inplace:
        model = copy.deepcopy(model)
    if chosen == [""]:  # the model is itself a Conv2d
        return CoordConv2d.from_conv(model, with_r=with_r)
    converted: dict[int, CoordConv2d] = {}
    targets = {id(model.get_submodule(name)) for name in chosen}
    # remove_duplicate=False: a conv registered under two names is replaced under both.
    for name, module in list(model.named_modules(remove_duplicate=False)):
        if id(module) not in targets:
            continue
        if id(module) not in converted:
            converted[id(module)] = CoordConv2d.from_conv(module, with_r=with_r)
        parent_name, _, child = name.rpartition(".")
        setattr(model.get_submodule(parent_name), child, converted[id(module)])
    return model

"""Benchmark the CoordConv layers: forward+backward time ratios, measured side by side.

    python benchmarks/layers.py [--batch 256] [--rounds 20] [--device cpu|cuda]

Prints, for NatureCNN on 84x84x4 Atari frames:
  - the CoordConv extractor over the conv extractor (target <= 1.05),
  - the concatenating CoordConv (AddCoords + Conv2d over C+2 channels) over the fused one,
  - the extractor in the NCHW layout over its default (channels-last on the CPU),
  - the cached AddCoords over a naive one that rebuilds its grids on every call.
Contenders run in interleaved rounds (order rotated each round) so that machine noise
hits them alike; each figure is the median over rounds of the time per iteration.
"""

from __future__ import annotations

import argparse
import copy
import statistics
import sys
import time
from collections.abc import Callable

import numpy as np
import torch
from gymnasium import spaces
from torch import nn
from tqdm import tqdm

from coordrl import AddCoords, to_concat_conv
from coordrl.extractors import CoordNatureCNN, NatureCNN


class NaiveAddCoords(nn.Module):
    """AddCoords as common public PyTorch ports write it: grids rebuilt, per sample, each call."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, _, h, w = x.shape
        i = torch.arange(h, device=x.device).view(1, 1, h, 1).repeat(n, 1, 1, w)
        j = torch.arange(w, device=x.device).view(1, 1, 1, w).repeat(n, 1, h, 1)
        i = i.to(x.dtype) / (h - 1) * 2 - 1
        j = j.to(x.dtype) / (w - 1) * 2 - 1
        return torch.cat((x, i, j), dim=1)


def forward_backward(model: nn.Module, x: torch.Tensor) -> Callable[[], None]:
    def step() -> None:
        model.zero_grad(set_to_none=True)
        model(x).sum().backward()

    return step


def forward_only(model: nn.Module, x: torch.Tensor) -> Callable[[], None]:
    def step() -> None:
        with torch.no_grad():
            model(x)

    return step


def time_interleaved(
    contenders: dict[str, Callable[[], None]],
    rounds: int,
    iters: int,
    device: torch.device,
    label: str,
) -> dict[str, float]:
    """Median seconds per iteration of each contender, over interleaved rounds."""
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    names = list(contenders)
    for fn in contenders.values():  # warm-up: allocator, kernels, grid caches
        for _ in range(2):
            fn()
    times: dict[str, list[float]] = {name: [] for name in names}
    for r in tqdm(range(rounds), desc=label, file=sys.stderr, leave=False):
        order = names[r % len(names) :] + names[: r % len(names)]
        for name in order:
            sync()
            start = time.perf_counter()
            for _ in range(iters):
                contenders[name]()
            sync()
            times[name].append((time.perf_counter() - start) / iters)
    return {name: statistics.median(ts) for name, ts in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--iters", type=int, default=2, help="iterations per round")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()
    device = torch.device(args.device)
    torch.manual_seed(0)

    space = spaces.Box(0, 255, (4, 84, 84), np.uint8)
    conv = NatureCNN(space).to(device)
    nchw = NatureCNN(space, channels_last=False).to(device)
    nchw.load_state_dict(conv.state_dict())
    fused = CoordNatureCNN(space).to(device)
    concat = copy.deepcopy(fused)
    concat.cnn[0] = to_concat_conv(fused.cnn[0])
    x = torch.rand(args.batch, 4, 84, 84, device=device)

    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    print(
        f"device: {name}, torch {torch.__version__}, threads {torch.get_num_threads()}, "
        f"batch {args.batch}, 84x84x4, {args.rounds} rounds x {args.iters} iters"
    )
    nets = time_interleaved(
        {
            "conv": forward_backward(conv, x),
            "conv (NCHW layout)": forward_backward(nchw, x),
            "coordconv (fused)": forward_backward(fused, x),
            "coordconv (concat)": forward_backward(concat, x),
        },
        args.rounds,
        args.iters,
        device,
        "NatureCNN fwd+bwd",
    )
    grids = time_interleaved(
        {
            "AddCoords (cached)": forward_only(AddCoords(), x),
            "AddCoords (naive)": forward_only(NaiveAddCoords(), x),
        },
        args.rounds,
        args.iters * 5,
        device,
        "AddCoords forward",
    )
    print("\nNatureCNN forward+backward, ms per batch (median):")
    for key, seconds in nets.items():
        print(f"  {key:<20} {seconds * 1e3:8.2f}")
    print("AddCoords forward, ms per batch (median):")
    for key, seconds in grids.items():
        print(f"  {key:<20} {seconds * 1e3:8.2f}")
    ratio = nets["coordconv (fused)"] / nets["conv"]
    print("\nratios:")
    print(f"  CoordConv extractor / conv extractor     {ratio:.3f}  (target <= 1.05)")
    print(
        "  concatenating CoordConv / fused CoordConv "
        f"{nets['coordconv (concat)'] / nets['coordconv (fused)']:.3f}"
    )
    print(
        "  conv extractor, NCHW / default layout     "
        f"{nets['conv (NCHW layout)'] / nets['conv']:.3f}  (channels-last on the CPU)"
    )
    print(
        "  cached AddCoords / naive AddCoords        "
        f"{grids['AddCoords (cached)'] / grids['AddCoords (naive)']:.3f}"
    )


if __name__ == "__main__":
    main()

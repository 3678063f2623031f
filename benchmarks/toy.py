"""Benchmark the paper's speed claim on coordinate classification, CoordConv against conv.

    python benchmarks/toy.py [--conv-epochs 60] [--splits uniform quadrant] [--device cpu]

For each split, one run per model with the same optimiser settings (Adam, lr 0.01, L2
0.001, batch 32): the training seconds CoordConv needs to first reach 100% test accuracy,
and the seconds conv needs to first reach the best test accuracy it ever reaches in its
epoch budget. Prints both and their ratio. Training time excludes evaluation.
"""

from __future__ import annotations

import argparse
import time

import torch

from coordrl.device import resolve_device
from coordrl.not_so_clevr import SPLITS
from coordrl.toy.data import make_dataset
from coordrl.toy.train import ToyConfig, train

SETTINGS = {"lr": 0.01, "weight_decay": 0.001, "batch_size": 32}


def first_time_at(history: list[dict[str, float]], score: float) -> float:
    """Training seconds when the test accuracy first reached ``score``."""
    return next(row["seconds"] for row in history if row["test_accuracy"] >= score)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--conv-epochs", type=int, default=60)
    parser.add_argument("--coordconv-epochs", type=int, default=10)
    parser.add_argument("--splits", nargs="+", choices=SPLITS, default=list(SPLITS))
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()
    device = resolve_device(args.device)

    start = time.perf_counter()
    for split in SPLITS:
        make_dataset(split)
    data_ms = (time.perf_counter() - start) * 1e3
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    print(f"device: {name}, torch {torch.__version__}, threads {torch.get_num_threads()}")
    print(f"Not-so-Clevr, both splits generated in memory in {data_ms:.0f} ms\n")

    lines = []
    for split in args.splits:
        runs = {}
        for arch, epochs in (("coordconv", args.coordconv_epochs), ("conv", args.conv_epochs)):
            config = ToyConfig(
                task="classification",
                split=split,
                arch=arch,
                epochs=epochs,
                device=str(device),
                **SETTINGS,
            )
            runs[arch] = train(config)
        coord, conv = runs["coordconv"], runs["conv"]
        if coord.seconds_to_perfect_test is None:
            lines.append(
                f"{split}: CoordConv did not reach 100% test accuracy in "
                f"{args.coordconv_epochs} epochs (best {coord.best_test_score:.1%})"
            )
            continue
        conv_best = conv.best_test_score
        conv_seconds = first_time_at(conv.history, conv_best)
        lines.append(
            f"{split:>8}: CoordConv 100.0% test after {coord.seconds_to_perfect_test:6.1f} s | "
            f"conv best {conv_best:6.1%} test (train {conv.train_score:.1%}) after "
            f"{conv_seconds:6.1f} s of {conv.seconds:.0f} s | ratio conv/CoordConv "
            f"{conv_seconds / coord.seconds_to_perfect_test:5.1f}x"
        )
    print("\n".join(lines))


if __name__ == "__main__":
    main()

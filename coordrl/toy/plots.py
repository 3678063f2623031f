"""Figures for the toy table: where models put the centre, and test score against time."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import matplotlib

matplotlib.use("Agg")  # files only, no display needed
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.patches import Rectangle
from matplotlib.ticker import NullFormatter

from coordrl.not_so_clevr import CANVAS, SPLITS
from coordrl.runs import TOY_RESULT
from coordrl.toy.models import ARCHS, TASKS

if TYPE_CHECKING:
    from coordrl.toy.table import Row

COLOURS = {"conv": "tab:red", "coordconv": "tab:blue"}


def _result(row: Row) -> dict:
    return json.loads((Path(row.run_dirs[0]) / TOY_RESULT).read_text())


def plot_predictions(rows: list[Row], path: Path, task: str = "classification") -> Path:
    """A canvas per split x arch: true test centres (grey) and the model's guesses (colour).

    Like the paper's figure of where conv's predictions land: on the quadrant split the
    conv model puts the held-out centres back inside the region it was trained on.
    """
    chosen = {(r.split, r.arch): r for r in rows if r.task == task}
    fig, axes = plt.subplots(len(SPLITS), len(ARCHS), figsize=(4 * len(ARCHS), 4 * len(SPLITS)))
    for i, split in enumerate(SPLITS):
        for j, arch in enumerate(ARCHS):
            ax = axes[i][j]
            ax.set_xlim(0, CANVAS - 1)
            ax.set_ylim(CANVAS - 1, 0)  # image convention: y grows downwards
            ax.set_aspect("equal")
            row = chosen.get((split, arch))
            if row is None:
                ax.set_title(f"{arch}, {split}: not run")
                continue
            result = _result(row)
            true = np.asarray(result["test_positions"], dtype=float)
            guess = np.asarray(result["test_predictions"], dtype=float)
            if split == "quadrant":  # x > 32 and y > 32
                corner, side = CANVAS // 2 + 0.5, CANVAS - 1 - (CANVAS // 2 + 0.5)
                ax.add_patch(
                    Rectangle(
                        (corner, corner),
                        side,
                        side,
                        color="0.9",
                        zorder=0,
                        label="held-out quadrant",
                    )
                )
            ax.scatter(true[:, 0], true[:, 1], s=6, c="0.6", label="true centre")
            ax.scatter(guess[:, 0], guess[:, 1], s=6, c=COLOURS[arch], label="predicted")
            ax.set_title(f"{arch}, {split}: test {row.metric} {100 * row.test:.1f}%", fontsize=10)
            ax.set_xlabel("x")
            ax.set_ylabel("y")
    for ax in axes.flat:
        if ax.get_legend_handles_labels()[0]:
            ax.legend(loc="lower left", fontsize=8)
            break
    fig.suptitle(f"Coordinate {task}: predicted vs true centres on the test split")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_curves(rows: list[Row], path: Path) -> Path:
    """Test score against cumulative training time, per task (rows) and split (columns)."""
    fig, axes = plt.subplots(len(TASKS), len(SPLITS), figsize=(5.5 * len(SPLITS), 3.6 * len(TASKS)))
    for i, task in enumerate(TASKS):
        for j, split in enumerate(SPLITS):
            ax = axes[i][j]
            for row in rows:
                if row.task != task or row.split != split:
                    continue
                history = _result(row)["history"]
                seconds = [h["seconds"] for h in history]
                scores = [h[f"test_{row.metric}"] for h in history]
                ax.plot(
                    seconds,
                    scores,
                    marker=".",
                    color=COLOURS[row.arch],
                    label=f"{row.arch} ({row.parameters:,} params, lr {row.lr:g})",
                )
                ax.set_ylabel(f"test {row.metric}")
            if task == "regression":
                ax.set_yscale("log")
            ax.set_xscale("log")
            ax.xaxis.set_minor_formatter(NullFormatter())  # no crowded minor labels
            ax.set_xlabel("training seconds (log)")
            ax.set_title(f"{task}, {split} split")
            ax.grid(alpha=0.3)
            if ax.get_legend_handles_labels()[0]:
                ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path

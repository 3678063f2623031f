"""Learning curves of true scores per arm: mean over seeds, with the range of seeds shaded."""

from __future__ import annotations

import warnings
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display needed
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.ticker import FuncFormatter

from coordrl.analysis.compare import Arm
from coordrl.analysis.runs import Run
from coordrl.runs import atomic_path

STEPS = FuncFormatter(lambda x, _: f"{x / 1e6:g}M" if x >= 1e6 else f"{x / 1e3:g}k")
COLOURS = {"conv": "tab:red", "coordconv": "tab:blue"}


def smoothed_curve(run: Run, grid: np.ndarray, window: int) -> np.ndarray:
    """At each grid step, the mean score of the last ``window`` games ended by then (NaN
    before the first game and after the run's last step)."""
    ends = np.searchsorted(run.steps, grid, side="right")
    cumulative = np.concatenate(([0.0], np.cumsum(run.scores)))
    starts = np.maximum(ends - window, 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        curve = (cumulative[ends] - cumulative[starts]) / (ends - starts)
    end = run.last_step or run.steps[-1]
    return np.where((ends > 0) & (grid <= end), curve, np.nan)


def plot_learning_curves(arms: list[Arm], path: Path, window: int = 20) -> Path:
    tasks = sorted({(arm.env, arm.algo) for arm in arms})
    fig, axes = plt.subplots(1, len(tasks), figsize=(5 * len(tasks), 3.6), squeeze=False)
    for ax, (env, algo) in zip(axes[0], tasks, strict=True):
        task_arms = [a for a in arms if (a.env, a.algo) == (env, algo)]
        end = max(run.last_step or int(run.steps[-1]) for a in task_arms for run in a.runs)
        grid = np.linspace(0, end, 200)
        for arm in task_arms:
            curves = np.array([smoothed_curve(run, grid, window) for run in arm.runs])
            colour = COLOURS.get(arm.arch)
            with warnings.catch_warnings():  # steps before any run's first game: NaN
                warnings.simplefilter("ignore", RuntimeWarning)
                mean = np.nanmean(curves, axis=0)
                low, high = np.nanmin(curves, axis=0), np.nanmax(curves, axis=0)
            ax.plot(grid, mean, color=colour, label=f"{arm.arch} ({len(arm.runs)} seeds)")
            if len(arm.runs) > 1:
                ax.fill_between(grid, low, high, color=colour, alpha=0.2, linewidth=0)
        ax.set_title(f"{env.removeprefix('ALE/')} {algo.upper()}")
        ax.set_xlabel("env steps")
        ax.xaxis.set_major_formatter(STEPS)
        ax.set_ylabel(f"true score (mean of last {window} games)")
        ax.legend(loc="upper left", fontsize="small")
        ax.grid(alpha=0.3)
    fig.suptitle("line: mean over seeds; band: range over seeds", fontsize="small")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)
    return path

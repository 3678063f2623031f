"""Figures of a comparison: learning curves with bootstrap bands, rliable's interval
estimates, performance profiles and probability of improvement. Each PNG is written
atomically, so an older figure is replaced only by a complete new one."""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display needed
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter
from rliable import plot_utils

from coordrl.analysis.compare import Aggregates, Arm
from coordrl.analysis.runs import Run
from coordrl.analysis.stats import METRICS, mean_curve_intervals, performance_profiles
from coordrl.runs import atomic_path

STEPS = FuncFormatter(lambda x, _: f"{x / 1e6:g}M" if x >= 1e6 else f"{x / 1e3:g}k")
COLOURS = {"conv": "tab:red", "coordconv": "tab:blue"}
POINTS = 60  # grid points per learning curve


def _save(fig: plt.Figure, path: Path) -> Path:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path


def _colour(label: str) -> str | None:
    return COLOURS.get(label.split("/")[-1])


def smoothed_curve(run: Run, grid: np.ndarray, window: int) -> np.ndarray:
    """At each grid step, the mean score of the last ``window`` episodes ended by then (NaN
    before the first one and after the run's last step)."""
    ends = np.searchsorted(run.steps, grid, side="right")
    cumulative = np.concatenate(([0.0], np.cumsum(run.scores)))
    starts = np.maximum(ends - window, 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        curve = (cumulative[ends] - cumulative[starts]) / (ends - starts)
    end = run.last_step or run.steps[-1]
    return np.where((ends > 0) & (grid <= end), curve, np.nan)


def plot_learning_curves(arms: list[Arm], path: Path, window: int, reps: int) -> Path:
    """Per (env, algo): each arm's mean training score over runs, and its bootstrap 95% band
    (from where every run has logged a point to where the shortest run ends)."""
    tasks = sorted({(arm.env, arm.algo) for arm in arms})
    fig, axes = plt.subplots(1, len(tasks), figsize=(5 * len(tasks), 3.6), squeeze=False)
    for ax, (env, algo) in zip(axes[0], tasks, strict=True):
        task_arms = [a for a in arms if (a.env, a.algo) == (env, algo)]
        end = min(run.last_step or int(run.steps[-1]) for a in task_arms for run in a.runs)
        grid = np.linspace(0, end, POINTS)
        for arm in task_arms:
            curves = np.array([smoothed_curve(run, grid, window) for run in arm.runs])
            known = ~np.isnan(curves).any(axis=0)
            if not known.any():
                continue
            mean, low, high = mean_curve_intervals(curves[:, known], reps)
            colour = _colour(arm.arch)
            ax.plot(grid[known], mean, color=colour, label=f"{arm.arch} ({len(arm.runs)} runs)")
            if len(arm.runs) > 1:
                ax.fill_between(grid[known], low, high, color=colour, alpha=0.2, linewidth=0)
        toy = task_arms[0].kind == "toy"
        ax.set_title(f"{env.removeprefix('ALE/').removeprefix('coordrl/')} {algo.upper()}")
        ax.set_xlabel("env steps")
        ax.xaxis.set_major_formatter(STEPS)
        what = "training success rate" if toy else "true score"
        ax.set_ylabel(f"{what} (last {window} episodes)")
        ax.legend(loc="best", fontsize="small")
        ax.grid(alpha=0.3)
    fig.suptitle("line: mean over runs; band: 95% bootstrap CI of the mean", fontsize="small")
    fig.tight_layout()
    return _save(fig, path)


def plot_aggregates(summary: Aggregates, path: Path) -> Path:
    """rliable's interval estimates: IQM, mean, median, optimality gap per arm."""
    labels = list(summary.estimates)
    points = {a: np.array([summary.estimates[a][m].point for m in METRICS]) for a in labels}
    intervals = {
        a: np.array(
            [[summary.estimates[a][m].low, summary.estimates[a][m].high] for m in METRICS]
        ).T
        for a in labels
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fig, _ = plot_utils.plot_interval_estimates(
            points,
            intervals,
            metric_names=list(METRICS),
            algorithms=labels,
            colors={a: _colour(a) or "tab:gray" for a in labels},
            xlabel=f"{summary.scale} (bars: 95% stratified bootstrap CIs, lines: point estimates)",
            max_ticks=3,
            subfigure_width=4.2,
            row_height=0.5,
            xlabel_y_coordinate=-0.5 - 0.15 * (4 - min(len(labels), 4)),  # below the ticks
        )
    return _save(fig, path)


def plot_profiles(matrices: Mapping[str, np.ndarray], scale: str, path: Path, reps: int) -> Path:
    """Performance profiles: the fraction of runs scoring above tau, with bootstrap bands."""
    low = min(0.0, min(float(m.min()) for m in matrices.values()))
    high = max(float(m.max()) for m in matrices.values())
    taus = np.linspace(low, high + 0.05 * max(high - low, 0.1), 101)
    profiles, cis = performance_profiles(matrices, taus, reps)
    fig, ax = plt.subplots(figsize=(6, 3.6))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        plot_utils.plot_performance_profiles(
            profiles,
            taus,
            performance_profile_cis=cis,
            colors={a: _colour(a) or "tab:gray" for a in matrices},
            xlabel=rf"{scale} ($\tau$)",
            ax=ax,
        )
    handles = [Line2D([], [], color=_colour(a) or "tab:gray", label=a) for a in matrices]
    ax.legend(handles=handles, loc="upper right", fontsize="small")
    return _save(fig, path)


def plot_improvement(summary: Aggregates, path: Path) -> Path:
    """P(CoordConv > conv) per algorithm, with its bootstrap 95% interval."""
    pairs = {f"{algo}/coordconv,{algo}/conv": e for algo, e in summary.improvements.items()}
    fig, ax = plt.subplots(figsize=(5, 0.8 + 0.6 * len(pairs)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        plot_utils.plot_probability_of_improvement(
            {k: e.point for k, e in pairs.items()},
            {k: np.array([e.low, e.high]) for k, e in pairs.items()},
            ax=ax,
            xticks=[0.0, 0.25, 0.5, 0.75, 1.0],
        )
    ax.set_xlim(0, 1)
    ax.set_title("bars: 95% stratified bootstrap CIs", fontsize="small")
    return _save(fig, path)

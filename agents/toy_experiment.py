"""The toy RL experiment: conv vs CoordConv over seeds on the quadrant split of each task.

Each trial is an ordinary run directory (the on-device PPO from ``configs/toy/<task>.yaml``)
followed by an evaluation on the held-out quadrant; re-running skips finished trials and
resumes interrupted ones. The table reports held-out success per arm as the mean over
seeds with a 95% Student-t confidence interval, and the figure the training success curves.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import math
import statistics
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only, no display needed
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.ticker import FuncFormatter

from agents.toy_evaluation import evaluate_part, load_policy
from agents.toy_training import MODEL_PT, ROLLOUTS_CSV
from agents.training import train
from coordrl.config import RunConfig, load_config
from coordrl.device import resolve_device
from coordrl.runs import atomic_path, is_run_dir

STEPS = FuncFormatter(lambda x, _: f"{x / 1e6:g}M" if x >= 1e6 else f"{x / 1e3:g}k")
TASKS = ("point", "navigate")
ARCHS = ("conv", "coordconv")
EVAL_FILE = "heldout.json"
# two-sided 95% Student-t quantiles by degrees of freedom (normal beyond 30)
T95 = {
    1: 12.706,
    2: 4.303,
    3: 3.182,
    4: 2.776,
    5: 2.571,
    6: 2.447,
    7: 2.365,
    8: 2.306,
    9: 2.262,
    10: 2.228,
    12: 2.179,
    15: 2.131,
    20: 2.086,
    25: 2.060,
    30: 2.042,
}


def t95(df: int) -> float:
    """The 97.5% Student-t quantile for ``df`` degrees of freedom (table, conservative)."""
    if df > 30:
        return 1.96
    return T95[max(k for k in T95 if k <= df)]


@dataclasses.dataclass(frozen=True)
class Trial:
    task: str
    arch: str
    seed: int
    config: RunConfig
    run_dir: Path


def trials(
    seeds: int, out: Path, configs: Path, overrides: dict[str, Any], tasks=TASKS
) -> list[Trial]:
    found = []
    for task in tasks:
        for arch in ARCHS:
            for seed in range(seeds):
                config = load_config(
                    configs / f"{task}.yaml", {**overrides, "arch": arch, "seed": seed}
                )
                run_dir = out / "runs" / f"{task}-{arch}-seed{seed}"
                found.append(Trial(task, arch, seed, config, run_dir))
    return found


def run_trial(trial: Trial, episodes: int) -> dict[str, Any]:
    """Train (or resume, or skip) one trial, then score it on held-out and training targets."""
    result_path = trial.run_dir / EVAL_FILE
    if result_path.exists() and (trial.run_dir / MODEL_PT).exists():
        return json.loads(result_path.read_text())
    if not (trial.run_dir / MODEL_PT).exists():
        outcome = train(trial.config, trial.run_dir, resume=is_run_dir(trial.run_dir))
        if not outcome.finished:
            raise KeyboardInterrupt
    device = resolve_device(trial.config.device)
    policy = load_policy(trial.config, trial.run_dir / MODEL_PT, device, deterministic=True)
    result = {
        part: evaluate_part(trial.config, policy, part, episodes, 12345, device)
        for part in ("test", "train")
    }
    with atomic_path(result_path) as tmp:
        tmp.write_text(json.dumps(result, indent=2) + "\n")
    return result


def summarise(done: list[tuple[Trial, dict]]) -> list[dict[str, Any]]:
    rows = []
    for task in TASKS:
        for arch in ARCHS:
            results = [r for t, r in done if (t.task, t.arch) == (task, arch)]
            if not results:
                continue
            row: dict[str, Any] = {"task": task, "arch": arch, "seeds": len(results)}
            for part in ("test", "train"):
                values = [r[part]["success_rate"] for r in results]
                mean = statistics.fmean(values)
                half = (
                    t95(len(values) - 1) * statistics.stdev(values) / math.sqrt(len(values))
                    if len(values) > 1
                    else float("nan")
                )
                row[f"{part}_mean"], row[f"{part}_ci"] = mean, half
                row[f"{part}_per_seed"] = values
            rows.append(row)
    return rows


def write_table(rows: list[dict[str, Any]], out: Path) -> Path:
    lines = [
        "| task | arch | seeds | held-out success | 95% CI | training success "
        "| per seed (held-out) |",
        "|---|---|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['task']} | {r['arch']} | {r['seeds']} | {100 * r['test_mean']:.1f}% "
            f"| +- {100 * r['test_ci']:.1f} | {100 * r['train_mean']:.1f}% "
            f"| {', '.join(f'{100 * v:.0f}' for v in r['test_per_seed'])} |"
        )
    with atomic_path(out / "table.md") as tmp:
        tmp.write_text("\n".join(lines) + "\n")
    with atomic_path(out / "table.csv") as tmp, tmp.open("w", newline="") as f:
        writer = csv.writer(f)
        keys = ["task", "arch", "seeds", "test_mean", "test_ci", "train_mean", "train_ci"]
        writer.writerow(keys)
        writer.writerows([[r[k] for k in keys] for r in rows])
    return out / "table.md"


def plot_curves(done: list[tuple[Trial, dict]], out: Path) -> Path:
    """Training success rate against steps: mean over seeds, band = range over seeds."""
    tasks = [t for t in TASKS if any(trial.task == t for trial, _ in done)]
    fig, axes = plt.subplots(1, len(tasks), figsize=(5 * len(tasks), 3.6), squeeze=False)
    for ax, task in zip(axes[0], tasks, strict=True):
        for arch, colour in (("conv", "tab:red"), ("coordconv", "tab:blue")):
            curves = []
            for trial, _ in done:
                if (trial.task, trial.arch) != (task, arch):
                    continue
                with (trial.run_dir / ROLLOUTS_CSV).open() as f:
                    rows = list(csv.DictReader(f))
                curves.append(
                    (
                        np.array([int(r["step"]) for r in rows]),
                        np.array([float(r["success_rate"]) for r in rows]),
                    )
                )
            if not curves:
                continue
            length = min(len(steps) for steps, _ in curves)
            steps = curves[0][0][:length]
            values = np.stack([v[:length] for _, v in curves])
            ax.plot(steps, values.mean(0), color=colour, label=f"{arch} ({len(curves)} seeds)")
            ax.fill_between(steps, values.min(0), values.max(0), color=colour, alpha=0.2, lw=0)
        ax.set_title(f"{task}: training targets")
        ax.set_xlabel("env steps")
        ax.xaxis.set_major_formatter(STEPS)
        ax.set_ylabel("success rate")
        ax.set_ylim(0, 1)
        ax.legend(loc="lower right", fontsize="small")
        ax.grid(alpha=0.3)
    fig.suptitle("line: mean over seeds; band: range over seeds", fontsize="small")
    fig.tight_layout()
    with atomic_path(out / "curves.png") as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)
    return out / "curves.png"

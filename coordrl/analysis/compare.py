"""Compare arms (env x algo x arch) over seeds: a table of final and evaluation scores.

Per run, the final score is the mean true score of its last K training games; each arm
reports the mean and standard deviation of that over its runs, and the mean of the runs'
evaluation means where ``coordrl evaluate`` was run. Warnings say when the arms of one
(env, algo) are not comparable (other steps or hyperparameters) or too few to conclude.
"""

from __future__ import annotations

import csv
import dataclasses
import io
from collections import defaultdict
from pathlib import Path

import numpy as np

from coordrl.analysis.runs import Run
from coordrl.runs import atomic_path

FEW_SEEDS = 5  # below this, say that a difference may be noise


@dataclasses.dataclass(frozen=True)
class Arm:
    env: str
    algo: str
    arch: str
    runs: tuple[Run, ...]

    def final_scores(self, last: int) -> np.ndarray:
        return np.array([run.final_score(last) for run in self.runs])

    def eval_means(self) -> np.ndarray:
        return np.array([r.evaluation["mean"] for r in self.runs if r.evaluation is not None])


def group_arms(runs: list[Run]) -> list[Arm]:
    groups: dict[tuple[str, str, str], list[Run]] = defaultdict(list)
    for run in runs:
        groups[(run.config.env, run.config.algo, run.config.arch)].append(run)
    return [
        Arm(*key, runs=tuple(sorted(group, key=lambda r: r.config.seed)))
        for key, group in sorted(groups.items())
    ]


def fairness_warnings(arms: list[Arm]) -> list[str]:
    """Arms of one (env, algo) trained for other steps or with other settings, few seeds."""
    warnings = []
    by_task: dict[tuple[str, str], list[Arm]] = defaultdict(list)
    for arm in arms:
        by_task[(arm.env, arm.algo)].append(arm)
    for (env, algo), task_arms in by_task.items():
        steps = {run.last_step for arm in task_arms for run in arm.runs}
        if len(steps) > 1:
            listed = ", ".join(map(str, sorted(steps)))
            warnings.append(f"{env} {algo}: runs stopped at different steps ({listed})")
        settings = {_settings(run) for arm in task_arms for run in arm.runs}
        if len(settings) > 1:
            warnings.append(f"{env} {algo}: runs differ in hyperparameters or env settings")
        for arm in task_arms:
            if len(arm.runs) < FEW_SEEDS:
                warnings.append(
                    f"{env} {algo} {arm.arch}: {len(arm.runs)} run(s); with fewer than "
                    f"{FEW_SEEDS} seeds a difference between arms may be noise"
                )
    return warnings


def _settings(run: Run) -> str:
    """What must match between arms: everything but the arch, the seed and the device."""
    data = run.config.to_dict()
    for key in ("arch", "coord_layers", "with_r", "seed", "device", "timesteps"):
        data.pop(key)
    return repr(sorted(data.items()))


@dataclasses.dataclass(frozen=True)
class Row:
    """One arm's numbers, as the table shows them."""

    env: str
    algo: str
    arch: str
    runs: int
    steps: tuple[int, ...]  # the distinct step counts its runs reached
    final_mean: float
    final_std: float
    final_per_run: tuple[float, ...]  # in seed order
    eval_mean: float | None
    eval_std: float | None
    eval_runs: int


def table_rows(arms: list[Arm], last: int) -> list[Row]:
    rows = []
    for arm in arms:
        finals = arm.final_scores(last)
        evals = arm.eval_means()
        rows.append(
            Row(
                env=arm.env,
                algo=arm.algo,
                arch=arm.arch,
                runs=len(arm.runs),
                steps=tuple(sorted({run.last_step for run in arm.runs})),
                final_mean=float(finals.mean()),
                final_std=float(finals.std()),
                final_per_run=tuple(float(x) for x in finals),
                eval_mean=float(evals.mean()) if len(evals) else None,
                eval_std=float(evals.std()) if len(evals) else None,
                eval_runs=len(evals),
            )
        )
    return rows


MD_HEADER = ("env", "algo", "arch", "runs", "steps", "final score", "per run", "eval score")


def markdown(rows: list[Row]) -> str:
    lines = ["| " + " | ".join(MD_HEADER) + " |", "|" + "---|" * 3 + "---:|" * 5]
    for r in rows:
        evaluation = (
            f"{r.eval_mean:.1f} +- {r.eval_std:.1f} (n={r.eval_runs})"
            if r.eval_mean is not None
            else "-"
        )
        cells = (
            r.env,
            r.algo,
            r.arch,
            str(r.runs),
            "/".join(f"{s:,}" for s in r.steps),
            f"{r.final_mean:.1f} +- {r.final_std:.1f}",
            ", ".join(f"{x:.1f}" for x in r.final_per_run),
            evaluation,
        )
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def write_tables(rows: list[Row], out: Path) -> tuple[Path, Path]:
    """``table.md`` and ``table.csv`` (plain numbers) in ``out``, each written atomically."""
    out.mkdir(parents=True, exist_ok=True)
    with atomic_path(out / "table.md") as tmp:
        tmp.write_text(markdown(rows))
    fields = [f.name for f in dataclasses.fields(Row)]
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(fields)
    for row in rows:
        values = dataclasses.astuple(row)
        writer.writerow([";".join(map(str, v)) if isinstance(v, tuple) else v for v in values])
    with atomic_path(out / "table.csv") as tmp:
        tmp.write_text(buffer.getvalue())
    return out / "table.md", out / "table.csv"

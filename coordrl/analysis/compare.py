"""Compare arms (env x algo x arch) over seeds: per-env tables and rliable aggregates.

Per run, the final score is the mean over its last K training episodes (Atari: true game
score; toy RL: success), whichever trainer played them; its evaluation score is the newest
``coordrl evaluate`` result (Atari: mean game score; toy RL: held-out success). Scores are
normalised for the aggregates (Atari: human-normalised). Warnings say when the arms of one
(env, algo) are not comparable (other steps or hyperparameters) or too few to conclude
anything.
"""

from __future__ import annotations

import csv
import dataclasses
import io
from collections import defaultdict
from pathlib import Path

import numpy as np

from coordrl.analysis.atari_scores import human_normalised
from coordrl.analysis.runs import Run
from coordrl.analysis.stats import METRICS, Estimate, aggregate_estimates, improvement
from coordrl.config import env_family
from coordrl.errors import CoordRLError
from coordrl.runs import atomic_path

FEW_SEEDS = 5  # below this, say that a difference may be noise
METRIC_CHOICES = ("final", "eval")


class CompareError(CoordRLError):
    """Runs that cannot be compared as asked, said in one line."""


@dataclasses.dataclass(frozen=True)
class Arm:
    env: str
    algo: str
    arch: str
    runs: tuple[Run, ...]

    @property
    def kind(self) -> str:
        return self.runs[0].kind

    @property
    def label(self) -> str:
        return f"{self.algo}/{self.arch}"

    def final_scores(self, last: int) -> np.ndarray:
        return np.array([run.final_score(last) for run in self.runs])

    def eval_scores(self) -> np.ndarray:
        return np.array([r.eval_score for r in self.runs if r.eval_score is not None])

    def scores(self, metric: str, last: int) -> np.ndarray:
        """Per run, in seed order: the final training score or the evaluation score."""
        if metric == "final":
            return self.final_scores(last)
        missing = [str(r.path) for r in self.runs if r.eval_score is None]
        if missing:
            raise CompareError(
                f"--metric eval: {missing[0]} has no evaluation (run coordrl evaluate on it)"
            )
        return self.eval_scores()

    def normalised(self, metric: str, last: int) -> np.ndarray:
        """Scores on a common scale: human-normalised (Atari), success rate (toy RL); MinAtar
        scores stay raw here and are scaled per game in :func:`score_matrices`."""
        raw = self.scores(metric, last)
        if self.kind in ("toy", "minatar"):
            return raw
        values = [human_normalised(self.env, float(x)) for x in raw]
        if values[0] is None:
            raise CompareError(f"{self.env}: no random and human reference scores for this game")
        return np.array(values)


def group_arms(runs: list[Run]) -> list[Arm]:
    """Runs by (env, algo, arch), seeds in order; Atari and toy runs do not mix."""
    kinds = sorted({run.kind for run in runs})
    if len(kinds) > 1:
        first, second = (next(r.path for r in runs if r.kind == kind) for kind in kinds[:2])
        raise CompareError(
            f"cannot compare {kinds[0]} runs ({first}) with {kinds[1]} runs ({second}): their "
            "scores mean different things; compare each family on its own"
        )
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
    """One arm's numbers on one env, as the per-env table shows them."""

    env: str
    algo: str
    arch: str
    runs: int
    steps: tuple[int, ...]  # the distinct step counts its runs reached
    final_mean: float
    final_std: float
    final_per_run: tuple[float, ...]  # in seed order
    normalised_mean: float | None  # human-normalised final score (Atari)
    eval_mean: float | None
    eval_std: float | None
    eval_runs: int


def table_rows(arms: list[Arm], last: int) -> list[Row]:
    rows = []
    for arm in arms:
        finals = arm.final_scores(last)
        evals = arm.eval_scores()
        normalised = (
            human_normalised(arm.env, float(finals.mean())) if arm.kind == "atari" else None
        )
        rows.append(
            Row(
                env=arm.env,
                algo=arm.algo,
                arch=arm.arch,
                runs=len(arm.runs),
                steps=tuple(sorted({run.last_step for run in arm.runs})),
                final_mean=float(finals.mean()),
                final_std=float(finals.std(ddof=1)) if len(finals) > 1 else 0.0,
                final_per_run=tuple(float(x) for x in finals),
                normalised_mean=normalised,
                eval_mean=float(evals.mean()) if len(evals) else None,
                eval_std=float(evals.std(ddof=1)) if len(evals) > 1 else None,
                eval_runs=len(evals),
            )
        )
    return rows


@dataclasses.dataclass(frozen=True)
class Aggregates:
    """rliable's summary of every arm over every env, and CoordConv's improvement on conv."""

    metric: str  # "final" or "eval"
    scale: str  # what the normalised scores are
    envs: tuple[str, ...]
    runs_per_env: dict[str, int]  # per arm label
    estimates: dict[str, dict[str, Estimate]]  # arm label -> metric name -> estimate
    improvements: dict[str, Estimate]  # algo -> P(coordconv > conv)


def score_matrices(
    arms: list[Arm], metric: str, last: int
) -> tuple[dict[str, np.ndarray], tuple[str, ...], list[str]]:
    """One (runs x envs) matrix of normalised scores per algo/arch label, the envs, and
    warnings. Envs an arm lacks are left out of all arms; extra runs beyond the fewest
    an env has are dropped (rliable needs a full matrix)."""
    notes = []
    labels = sorted({arm.label for arm in arms})
    envs = sorted({arm.env for arm in arms})
    common = [
        e for e in envs if all(any(a.env == e and a.label == lb for a in arms) for lb in labels)
    ]
    if len(common) < len(envs):
        left = ", ".join(sorted(set(envs) - set(common)))
        notes.append(f"aggregates leave out {left}: not every arm has runs there")
    if not common:
        raise CompareError("no env has runs of every arm, so there is nothing to aggregate")
    matrices = {}
    for label in labels:
        columns = [
            next(a for a in arms if a.env == env and a.label == label).normalised(metric, last)
            for env in common
        ]
        fewest = min(len(c) for c in columns)
        if any(len(c) != fewest for c in columns):
            notes.append(f"{label}: envs have unequal run counts; aggregates use {fewest} each")
        matrices[label] = np.stack([c[:fewest] for c in columns], axis=1)
    if arms[0].kind == "minatar":  # no reference scores: each game over its best run here
        best = np.max([np.abs(m).max(axis=0) for m in matrices.values()], axis=0)
        matrices = {label: m / np.where(best > 0, best, 1.0) for label, m in matrices.items()}
        notes.append(
            "MinAtar aggregates: each game's scores over the best run's in this comparison"
        )
    return matrices, tuple(common), notes


def aggregates(arms: list[Arm], metric: str, last: int, reps: int, seed: int = 0):
    """rliable estimates over the envs every arm has, and P(coordconv > conv) per algo."""
    matrices, envs, notes = score_matrices(arms, metric, last)
    improvements = {}
    for algo in sorted({arm.algo for arm in arms}):
        pair = (f"{algo}/coordconv", f"{algo}/conv")
        if all(label in matrices for label in pair):
            x, y = (matrices[label] for label in pair)
            fewest = min(len(x), len(y))
            improvements[algo] = improvement(x[:fewest], y[:fewest], reps, seed)
    scale = {
        "toy": "success rate",
        "minatar": "score over the best run's, per game",
        "atari": "human-normalised score",
    }[arms[0].kind]
    result = Aggregates(
        metric=metric,
        scale=scale,
        envs=envs,
        runs_per_env={label: len(m) for label, m in matrices.items()},
        estimates=aggregate_estimates(matrices, reps, seed),
        improvements=improvements,
    )
    return result, matrices, notes


def _cell(mean: float | None, std: float | None, digits: int) -> str:
    if mean is None:
        return "-"
    return f"{mean:.{digits}f}" if std is None else f"{mean:.{digits}f} +- {std:.{digits}f}"


def markdown(rows: list[Row], summary: Aggregates | None, last: int) -> str:
    family = env_family(rows[0].env) if rows else "atari"
    toy = family == "toy"
    digits = {"toy": 3, "minatar": 2}.get(family, 1)  # MinAtar scores are often below 1
    final = f"final training {'success' if toy else 'score'} (last {last} episodes)"
    evaluation = "held-out success (eval)" if toy else "eval score"
    header = ["env", "algo", "arch", "runs", "steps", final, "per run"]
    header += ["human-norm.", evaluation] if family == "atari" else [evaluation]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * 3 + "---:|" * (len(header) - 3)]
    for r in rows:
        cells = [
            r.env,
            r.algo,
            r.arch,
            str(r.runs),
            "/".join(f"{s:,}" for s in r.steps),
            _cell(r.final_mean, r.final_std, digits),
            ", ".join(f"{x:.{digits}f}" for x in r.final_per_run),
        ]
        if family == "atari":
            cells.append(_cell(r.normalised_mean, None, 3))
        ev = _cell(r.eval_mean, r.eval_std, digits)
        cells.append(ev if r.eval_runs == r.runs or ev == "-" else f"{ev} (n={r.eval_runs})")
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    lines.append("mean +- sample standard deviation over runs")
    if summary is not None:
        lines += ["", aggregates_markdown(summary)]
    return "\n".join(lines) + "\n"


def aggregates_markdown(summary: Aggregates) -> str:
    which = "evaluation" if summary.metric == "eval" else "final training"
    lines = [
        f"Aggregates over {len(summary.envs)} env(s) of the {which} {summary.scale}, "
        "95% stratified bootstrap CIs (rliable):",
        "",
        "| arm | runs per env | " + " | ".join(METRICS) + " |",
        "|---|---:|" + "---:|" * len(METRICS),
    ]
    for label, estimates in summary.estimates.items():
        cells = [label, str(summary.runs_per_env[label])]
        cells += [str(estimates[name]) for name in METRICS]
        lines.append("| " + " | ".join(cells) + " |")
    for algo, estimate in summary.improvements.items():
        lines += ["", f"P({algo}/coordconv > {algo}/conv) = {estimate}"]
    return "\n".join(lines)


def write_tables(
    rows: list[Row], summary: Aggregates | None, last: int, out: Path
) -> tuple[Path, Path, Path | None]:
    """``table.md``, ``table.csv`` (per env) and ``aggregates.csv``, each written atomically."""
    out.mkdir(parents=True, exist_ok=True)
    with atomic_path(out / "table.md") as tmp:
        tmp.write_text(markdown(rows, summary, last))
    fields = [f.name for f in dataclasses.fields(Row)]
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(fields)
    for row in rows:
        values = dataclasses.astuple(row)
        writer.writerow([";".join(map(str, v)) if isinstance(v, tuple) else v for v in values])
    with atomic_path(out / "table.csv") as tmp:
        tmp.write_text(buffer.getvalue())
    if summary is None:
        return out / "table.md", out / "table.csv", None
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["arm", "statistic", "point", "low", "high", "runs_per_env", "envs"])
    envs = ";".join(summary.envs)
    for label, estimates in summary.estimates.items():
        for name, e in estimates.items():
            writer.writerow(
                [label, name, e.point, e.low, e.high, summary.runs_per_env[label], envs]
            )
    for algo, e in summary.improvements.items():
        label = f"{algo}/coordconv>{algo}/conv"
        writer.writerow([label, "P(improvement)", e.point, e.low, e.high, "", envs])
    with atomic_path(out / "aggregates.csv") as tmp:
        tmp.write_text(buffer.getvalue())
    return out / "table.md", out / "table.csv", out / "aggregates.csv"

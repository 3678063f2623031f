"""Read a run directory into numbers: its config, its training scores, its evaluation.

Atari runs (SB3) log every game's true score in ``episodes.csv``; toy RL runs (on-device
PPO) log each rollout's success rate in ``rollouts.csv``. Either way a run is a series of
(step, score) points, and its evaluation the newest ``eval/*.json``.
"""

from __future__ import annotations

import csv
import dataclasses
import json
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from coordrl.config import ConfigError, RunConfig, is_toy_env, load_config
from coordrl.runs import (
    CONFIG_FILE,
    EPISODES_CSV,
    EVAL_DIR,
    ROLLOUTS_CSV,
    is_finished,
    is_run_dir,
    list_checkpoints,
)


class RunReadError(ValueError):
    """A directory that cannot be read as a run, said in one line."""


@dataclasses.dataclass(frozen=True)
class Run:
    """What a finished or interrupted run holds."""

    path: Path
    config: RunConfig
    steps: np.ndarray  # env step of each point: a game's end (Atari), a rollout (toy)
    scores: np.ndarray  # its true game score (Atari) or the rollout's success rate (toy)
    finished: bool
    last_step: int  # the newest checkpoint's step (the total, once finished)
    evaluation: dict | None  # the newest eval/*.json, if any

    @property
    def kind(self) -> str:
        return "toy" if is_toy_env(self.config.env) else "atari"

    def final_score(self, last: int) -> float:
        """Mean training score of the last ``last`` games (Atari) or rollouts (toy)."""
        return float(self.scores[-last:].mean())

    @property
    def eval_score(self) -> float | None:
        """The evaluation's mean game score (Atari) or held-out success rate (toy)."""
        if self.evaluation is None:
            return None
        if self.kind == "toy":
            return float(self.evaluation["test"]["success_rate"])
        return float(self.evaluation["mean"])


def read_run(path: str | Path) -> Run:
    path = Path(path)
    if not is_run_dir(path):
        raise RunReadError(f"{path} is not a run directory (it has no {CONFIG_FILE})")
    try:
        config = load_config(path / CONFIG_FILE)
    except ConfigError as exc:
        raise RunReadError(str(exc)) from None
    steps, scores = _read_episodes(path)
    checkpoints = list_checkpoints(path)
    return Run(
        path=path,
        config=config,
        steps=steps,
        scores=scores,
        finished=is_finished(path),
        last_step=checkpoints[-1][0] if checkpoints else 0,
        evaluation=_latest_evaluation(path),
    )


def _read_episodes(path: Path) -> tuple[np.ndarray, np.ndarray]:
    logs = {EPISODES_CSV: "score", ROLLOUTS_CSV: "success_rate"}
    name = next((name for name in logs if (path / name).is_file()), None)
    if name is None:
        raise RunReadError(f"{path} has no {EPISODES_CSV} or {ROLLOUTS_CSV}: nothing logged yet")
    file, column = path / name, logs[name]
    try:
        with file.open(newline="") as f:
            rows = [(int(r["step"]), float(r[column])) for r in csv.DictReader(f)]
    except (KeyError, ValueError, TypeError) as exc:
        raise RunReadError(f"{file}: unreadable ({type(exc).__name__}: {exc})") from None
    if not rows:
        raise RunReadError(f"{path} has no finished episodes in {name}")
    steps, scores = np.asarray(rows, dtype=np.float64).T
    return steps.astype(np.int64), scores


def _latest_evaluation(path: Path) -> dict | None:
    files = sorted((path / EVAL_DIR).glob("*.json"), key=lambda p: p.stat().st_mtime)
    if not files:
        return None
    try:
        return json.loads(files[-1].read_text())
    except (OSError, ValueError) as exc:
        raise RunReadError(f"{files[-1]}: unreadable evaluation ({exc})") from None


def find_runs(paths: Iterable[str | Path]) -> list[Path]:
    """Run directories among ``paths``: each one itself, or the runs anywhere below it."""
    found: list[Path] = []
    for path in map(Path, paths):
        if is_run_dir(path):
            found.append(path)
        elif path.is_dir():
            found += sorted(
                p.parent
                for p in path.rglob(CONFIG_FILE)
                if is_run_dir(p.parent)
                and not any(part.startswith(".") for part in p.relative_to(path).parts)
            )
        else:
            raise RunReadError(f"no such run directory: {path}")
    if not found:
        raise RunReadError(f"no run directories in {', '.join(map(str, paths))}")
    return list(dict.fromkeys(found))

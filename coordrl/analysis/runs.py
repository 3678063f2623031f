"""Read a run directory into numbers: its config, every game's true score, its evaluation."""

from __future__ import annotations

import csv
import dataclasses
import json
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from coordrl.config import ConfigError, RunConfig, load_config
from coordrl.runs import (
    CONFIG_FILE,
    EPISODES_CSV,
    EVAL_DIR,
    MODEL_FILE,
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
    steps: np.ndarray  # env step at which each game ended
    scores: np.ndarray  # its true score
    finished: bool
    last_step: int  # the newest checkpoint's step (the total, once finished)
    evaluation: dict | None  # the newest eval/*.json, if any

    def final_score(self, last: int) -> float:
        """Mean true score of the last ``last`` games played in training."""
        return float(self.scores[-last:].mean())


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
        finished=(path / MODEL_FILE).is_file(),
        last_step=checkpoints[-1][0] if checkpoints else 0,
        evaluation=_latest_evaluation(path),
    )


def _read_episodes(path: Path) -> tuple[np.ndarray, np.ndarray]:
    file = path / EPISODES_CSV
    if not file.is_file():
        raise RunReadError(f"{path} has no {EPISODES_CSV}: no game finished yet")
    with file.open(newline="") as f:
        rows = [(int(r["step"]), float(r["score"])) for r in csv.DictReader(f)]
    if not rows:
        raise RunReadError(f"{path} has no finished games in {EPISODES_CSV}")
    steps, scores = np.asarray(rows, dtype=np.float64).T
    return steps.astype(np.int64), scores


def _latest_evaluation(path: Path) -> dict | None:
    files = sorted((path / EVAL_DIR).glob("*.json"), key=lambda p: p.stat().st_mtime)
    return json.loads(files[-1].read_text()) if files else None


def find_runs(paths: Iterable[str | Path]) -> list[Path]:
    """Run directories among ``paths``: each one itself, or the runs anywhere below it."""
    found: list[Path] = []
    for path in map(Path, paths):
        if is_run_dir(path):
            found.append(path)
        elif path.is_dir():
            found += sorted(p.parent for p in path.rglob(CONFIG_FILE) if is_run_dir(p.parent))
        else:
            raise RunReadError(f"no such run directory: {path}")
    if not found:
        raise RunReadError(f"no run directories in {', '.join(map(str, paths))}")
    return list(dict.fromkeys(found))

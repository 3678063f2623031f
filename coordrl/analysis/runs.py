"""Read a run directory into numbers: its config, its training scores, its evaluation.

Every trainer logs each finished episode to ``episodes.csv`` (:mod:`coordrl.episodes`). A
run's training score per episode is its true game score on Atari and its success (1 or 0) on
the toy tasks, whichever trainer played it; its evaluation is the newest ``eval/*.json``.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from coordrl.config import RunConfig, env_family, is_toy_env, load_run_config
from coordrl.episodes import EpisodeTable, read_episodes
from coordrl.runs import (
    CONFIG_FILE,
    EPISODES_CSV,
    EVAL_DIR,
    LEGACY_ROLLOUTS_CSV,
    RunError,
    is_finished,
    is_run_dir,
    list_checkpoints,
)


@dataclasses.dataclass(frozen=True)
class Run:
    """What a finished or interrupted run holds."""

    path: Path
    config: RunConfig
    episodes: EpisodeTable
    finished: bool
    last_step: int  # the newest checkpoint's step (the total, once finished)
    evaluation: dict | None  # the newest eval/*.json, if any

    @property
    def kind(self) -> str:
        """The env family: "toy", "minatar" or "atari"."""
        return env_family(self.config.env)

    @property
    def steps(self) -> np.ndarray:
        """The env step at which each episode ended."""
        return self.episodes.step

    @property
    def scores(self) -> np.ndarray:
        """Each episode's training score: true game score (Atari), success (toy tasks)."""
        return self.episodes.success if self.kind == "toy" else self.episodes.score

    def final_score(self, last: int) -> float:
        """Mean training score of the last ``last`` episodes."""
        return float(self.scores[-last:].mean())

    @property
    def eval_score(self) -> float | None:
        """The evaluation's mean game score (Atari, MinAtar) or held-out success rate (toy)."""
        if self.evaluation is None:
            return None
        if self.kind == "toy":
            return float(self.evaluation["test"]["success_rate"])
        if self.kind == "minatar":
            return float(self.evaluation["mean_return"])
        return float(self.evaluation["mean"])


def read_run(path: str | Path) -> Run:
    """A run directory's config, episodes and newest evaluation; ``RunError`` if unreadable."""
    path = Path(path)
    config = load_run_config(path)
    if (path / LEGACY_ROLLOUTS_CSV).exists() and not (path / EPISODES_CSV).exists():
        raise RunError(
            f"{path} was written by coordrl 0.1, which logged on-device runs per rollout "
            f"({LEGACY_ROLLOUTS_CSV}), not per episode: train it again to compare it"
        )
    episodes = read_episodes(path / EPISODES_CSV)
    if not len(episodes):
        raise RunError(f"{path} has no finished episodes in {EPISODES_CSV}")
    if is_toy_env(config.env) and not episodes.has_success:
        raise RunError(f"{path / EPISODES_CSV}: no success logged for the toy env {config.env}")
    checkpoints = list_checkpoints(path)
    return Run(
        path=path,
        config=config,
        episodes=episodes,
        finished=is_finished(path),
        last_step=checkpoints[-1][0] if checkpoints else 0,
        evaluation=_latest_evaluation(path),
    )


def _latest_evaluation(path: Path) -> dict | None:
    files = sorted((path / EVAL_DIR).glob("*.json"), key=lambda p: p.stat().st_mtime)
    if not files:
        return None
    try:
        return json.loads(files[-1].read_text())
    except (OSError, ValueError) as exc:
        raise RunError(f"{files[-1]}: unreadable evaluation ({exc})") from None


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
            raise RunError(f"no such run directory: {path}")
    if not found:
        raise RunError(f"no run directories in {', '.join(map(str, paths))}")
    return list(dict.fromkeys(found))

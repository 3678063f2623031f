"""``episodes.csv``: every finished episode of a run, whichever trainer played it.

One row per episode: the env step (over all envs) at which it ended, the env's index, its
true score (the unclipped return: a whole game's score on Atari), its length in agent steps,
``1`` / ``0`` for success where the env defines one (blank where it does not, as on Atari),
and the seconds of training so far when it was logged. The lifecycle writes it
(:class:`EpisodeLog`); ``coordrl compare`` reads it (:func:`read_episodes`).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TextIO

import numpy as np

from coordrl.runs import RunError, atomic_path, truncate_log

COLUMNS = ("step", "env", "score", "length", "success", "time")
# coordrl 0.1's SB3 runs: the same rows without ``success`` (upgraded on resume, read as is)
LEGACY_COLUMNS = ("step", "env", "score", "length", "time")


@dataclasses.dataclass(frozen=True)
class Episodes:
    """Episodes that ended since a trainer's last report, one array entry per episode."""

    step: np.ndarray  # int64: env steps done (over all envs) when it ended
    env: np.ndarray  # int64: which env
    score: np.ndarray  # float64: true, unclipped return
    length: np.ndarray  # int64: agent steps
    success: np.ndarray  # float64: 1.0 or 0.0, NaN where the env defines no success

    def __len__(self) -> int:
        return len(self.step)

    @classmethod
    def empty(cls) -> Episodes:
        return cls.from_rows([])

    @classmethod
    def from_rows(cls, rows: list[tuple[int, int, float, int, bool | None]]) -> Episodes:
        """From ``(step, env, score, length, success or None)`` tuples."""
        columns = list(zip(*rows, strict=True)) if rows else [(), (), (), (), ()]
        success = [np.nan if s is None else float(s) for s in columns[4]]
        return cls(
            step=np.asarray(columns[0], dtype=np.int64),
            env=np.asarray(columns[1], dtype=np.int64),
            score=np.asarray(columns[2], dtype=np.float64),
            length=np.asarray(columns[3], dtype=np.int64),
            success=np.asarray(success, dtype=np.float64),
        )


class EpisodeLog:
    """Appends :class:`Episodes` to a run's ``episodes.csv``, flushed at every write.

    Opening it for a resumed run drops the rows logged after the checkpoint it resumes from
    (they are played again) and upgrades a coordrl 0.1 file to the current columns.
    """

    def __init__(self, path: Path, resume_step: int | None = None) -> None:
        self.path = path
        _ensure_header(path)
        if resume_step is not None:
            truncate_log(path, resume_step)
            _upgrade(path)
        self._file: TextIO = path.open("a", newline="")

    def write(self, episodes: Episodes, elapsed: float) -> None:
        """One row per episode, all stamped with ``elapsed`` (seconds of training so far)."""
        if not len(episodes):
            return
        success = np.where(np.isnan(episodes.success), "", np.where(episodes.success > 0, 1, 0))
        columns = (
            episodes.step.tolist(),
            episodes.env.tolist(),
            episodes.score.tolist(),
            episodes.length.tolist(),
            success.tolist(),
        )
        stamp = f"{elapsed:.3f}"
        self._file.write(
            "".join(
                f"{step},{env},{score:.6g},{length},{ok},{stamp}\n"
                for step, env, score, length, ok in zip(*columns, strict=True)
            )
        )
        self._file.flush()

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> EpisodeLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _ensure_header(path: Path) -> None:
    """A log that starts with its header: a new one is created whole (header included, by a
    rename), and one that a kill left empty or without its header is repaired."""
    headers = (",".join(COLUMNS), ",".join(LEGACY_COLUMNS))
    text = path.read_text() if path.exists() else ""
    if text.split("\n", 1)[0].strip() in headers:
        return
    with atomic_path(path) as tmp:
        tmp.write_text(",".join(COLUMNS) + "\n" + text)


def _upgrade(path: Path) -> None:
    """Rewrite a coordrl 0.1 ``episodes.csv`` (no ``success`` column) in today's columns."""
    if not path.exists():
        return
    with path.open() as f:
        header = f.readline().strip()
        if header != ",".join(LEGACY_COLUMNS):
            return
        rows = [line.rstrip("\n").split(",") for line in f if line.strip()]
    with atomic_path(path) as tmp:
        tmp.write_text(
            ",".join(COLUMNS)
            + "\n"
            + "".join(",".join([*row[:4], "", row[4]]) + "\n" for row in rows)
        )


@dataclasses.dataclass(frozen=True)
class EpisodeTable:
    """A whole ``episodes.csv`` as columns (what :func:`read_episodes` returns)."""

    step: np.ndarray
    score: np.ndarray
    length: np.ndarray
    success: np.ndarray  # NaN where the env defines no success

    def __len__(self) -> int:
        return len(self.step)

    @property
    def has_success(self) -> bool:
        return bool(len(self.success)) and not np.isnan(self.success).all()


def read_episodes(path: Path) -> EpisodeTable:
    """The episodes a run logged; ``RunError`` for a file that is missing or not one."""
    import pandas as pd

    try:
        table = pd.read_csv(path, dtype={"success": "float64"})
    except FileNotFoundError:
        raise RunError(f"{path.parent} has no {path.name}: nothing logged yet") from None
    except (OSError, ValueError) as exc:
        raise RunError(f"{path}: unreadable ({type(exc).__name__}: {exc})") from None
    header = tuple(table.columns)
    if header not in (COLUMNS, LEGACY_COLUMNS):
        raise RunError(f"{path}: unexpected columns {', '.join(header)}")
    success = table["success"] if "success" in table else np.full(len(table), np.nan)
    try:
        return EpisodeTable(
            step=table["step"].to_numpy(np.int64),
            score=table["score"].to_numpy(np.float64),
            length=table["length"].to_numpy(np.int64),
            success=np.asarray(success, dtype=np.float64),
        )
    except (ValueError, TypeError) as exc:
        raise RunError(f"{path}: unreadable ({type(exc).__name__}: {exc})") from None

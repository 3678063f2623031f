"""What a training call returns, and the one-line error for a run that cannot go on."""

from __future__ import annotations

import dataclasses
from pathlib import Path


class RunError(ValueError):
    """A run directory that cannot be started or resumed, said in one line."""


@dataclasses.dataclass(frozen=True)
class TrainOutcome:
    """How a call to train ended."""

    run_dir: Path
    timesteps: int
    finished: bool  # False: stopped by a signal, resumable from ``checkpoint``
    checkpoint: Path
    recent_score: float | None  # mean true score of the most recent episodes

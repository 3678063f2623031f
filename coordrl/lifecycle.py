"""The run lifecycle: one place takes any trainer from a run directory to its final model.

A run is fresh (its resolved ``config.yaml`` is written first) or resumed from its newest
readable checkpoint. While the trainer learns, the lifecycle logs every finished episode to
``episodes.csv``, writes the episode statistics and steps per second to TensorBoard (opened
with ``purge_step`` on resume, so a curve stays one line), draws the progress bar, checkpoints
every ``checkpoint_every`` steps (atomically, keeping the newest ``keep_checkpoints``) and
turns SIGINT / SIGTERM into a checkpoint and a clean return. A finished run ends with its
final model, written atomically.

Trainers plug in through :class:`Trainer`: learn up to a step count, reporting
:class:`Progress` at points where their state matches the step count; save and load that
state; save the final model. SB3's algorithms and the on-device agents all do.
"""

from __future__ import annotations

import collections
import dataclasses
import errno
import json
import shlex
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np

from coordrl.config import RunConfig, dump_config
from coordrl.episodes import EpisodeLog, Episodes
from coordrl.locks import hold
from coordrl.runs import (
    CONFIG_FILE,
    EPISODES_CSV,
    LEGACY_ROLLOUTS_CSV,
    PROGRESS_FILE,
    RunError,
    atomic_path,
    list_checkpoints,
    load_newest_checkpoint,
    write_checkpoint,
)
from coordrl.signals import StopSignals

if TYPE_CHECKING:
    from torch.utils.tensorboard import SummaryWriter

RECENT = 100  # episodes in the progress bar's and TensorBoard's running means (as SB3's)
SCALARS_EVERY_S = 1.0  # at most one TensorBoard point per second for the episode statistics


@dataclasses.dataclass(frozen=True)
class Progress:
    """A trainer's report: env steps done (over all envs) and the episodes ended since the
    last report."""

    step: int
    episodes: Episodes


Report = Callable[[Progress], bool]  # returns False when the run must stop (a signal)


class Trainer(Protocol):
    """What the lifecycle needs of a trainer."""

    model_file: str  # the final model's name in the run directory (coordrl.runs)
    num_timesteps: int  # env steps done, over all envs

    def learn(self, total_steps: int, report: Report, writer: SummaryWriter) -> None:
        """Train until ``total_steps`` or until ``report`` returns False. Report only where
        the trainer's state matches ``num_timesteps`` (after an update), so a checkpoint
        taken there resumes exactly; log per-update figures (losses) to ``writer``."""

    def save_state(self, folder: Path) -> None:
        """Write everything a resumed run needs into ``folder`` (a fresh directory)."""

    def load_state(self, folder: Path) -> None:
        """Restore :meth:`save_state`'s files; raise ``OSError``/``ValueError``/... on a
        damaged checkpoint (the lifecycle then tries an older one)."""

    def save_model(self, path: Path) -> None:
        """Write the final agent to ``path``."""

    def close(self) -> None:
        """Release the envs."""


@dataclasses.dataclass(frozen=True)
class TrainOutcome:
    """How a run ended."""

    run_dir: Path
    timesteps: int
    finished: bool  # False: stopped by a signal, resumable from ``checkpoint``
    checkpoint: Path
    recent_score: float | None  # mean true score of the last RECENT episodes
    recent_success: float | None  # their success rate, where the env defines success

    @property
    def summary(self) -> str:
        """``4,096 steps, recent mean score 0.52, success 0.91``: how far it got, how well."""
        text = f"{self.timesteps:,} steps"
        if self.recent_score is not None:
            text += f", recent mean score {self.recent_score:.3g}"
        if self.recent_success is not None:
            text += f", success {self.recent_success:.2f}"
        return text


class Statistics:
    """Running means over the last RECENT episodes: score, length, success."""

    def __init__(self) -> None:
        self.scores: collections.deque[float] = collections.deque(maxlen=RECENT)
        self.lengths: collections.deque[int] = collections.deque(maxlen=RECENT)
        self.successes: collections.deque[float] = collections.deque(maxlen=RECENT)

    def add(self, episodes: Episodes) -> None:
        self.scores.extend(episodes.score[-RECENT:].tolist())
        self.lengths.extend(episodes.length[-RECENT:].tolist())
        known = episodes.success[~np.isnan(episodes.success)]
        self.successes.extend(known[-RECENT:].tolist())

    @property
    def score(self) -> float | None:
        return float(np.mean(self.scores)) if self.scores else None

    @property
    def success(self) -> float | None:
        return float(np.mean(self.successes)) if self.successes else None


def train_run(
    config: RunConfig,
    run_dir: Path,
    make_trainer: Callable[[], Trainer],
    *,
    resume: bool = False,
    lock_wait_s: float = 0.0,
) -> TrainOutcome:
    """Train (or go on training) until ``config.timesteps`` env steps, or a signal stops it.
    The run directory's lock is held throughout: a second writer is refused (after
    waiting up to ``lock_wait_s`` for it to finish)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    with hold(run_dir, wait_s=lock_wait_s):
        return _train_held(config, run_dir, make_trainer, resume)


def _train_held(
    config: RunConfig, run_dir: Path, make_trainer: Callable[[], Trainer], resume: bool
) -> TrainOutcome:
    if resume:
        check_resumable(run_dir)
    else:
        dump_config(config, run_dir / CONFIG_FILE)
    trainer = make_trainer()
    try:
        step, elapsed = 0, 0.0
        if resume:
            trainer, step, elapsed = _restore(trainer, make_trainer, run_dir)
        with _Session(config, run_dir, trainer, step, elapsed, resume) as session:
            if trainer.num_timesteps < config.timesteps:
                trainer.learn(config.timesteps, session.report, session.writer)
            checkpoint = session.checkpoint()
        finished = trainer.num_timesteps >= config.timesteps
        outcome = TrainOutcome(
            run_dir,
            trainer.num_timesteps,
            finished,
            checkpoint,
            session.stats.score,
            session.stats.success,
        )
        if not finished:
            if session.signal is None:
                raise RuntimeError(f"the trainer stopped at step {trainer.num_timesteps} unasked")
            print(
                f"{session.signal} received: checkpoint at step {outcome.timesteps} in {checkpoint}"
            )
            return outcome
        with atomic_path(run_dir / trainer.model_file) as tmp:
            trainer.save_model(tmp)
        return outcome
    finally:
        trainer.close()


class RunRecord:
    """What a run writes while it trains: its episode log, TensorBoard events (episode
    statistics, steps per second) and running means. One per run, also for population members."""

    def __init__(self, run_dir: Path, step: int, elapsed: float, resume: bool) -> None:
        from torch.utils.tensorboard import SummaryWriter

        self.run_dir = run_dir
        self.stats = Statistics()
        self.log = EpisodeLog(run_dir / EPISODES_CSV, step if resume else None)
        self.writer = SummaryWriter(str(run_dir), purge_step=step + 1 if resume else None)
        self.started = time.monotonic() - elapsed
        self.last_scalars = (time.monotonic(), step)
        self.last_step = step

    def record(self, progress: Progress, now: float) -> None:
        """Log the episodes; a TensorBoard point at most every SCALARS_EVERY_S."""
        self.log.write(progress.episodes, now - self.started)
        self.stats.add(progress.episodes)
        self.last_step = progress.step
        if now - self.last_scalars[0] >= SCALARS_EVERY_S:
            self._scalars(now, progress.step)

    def _scalars(self, now: float, step: int) -> None:
        """Steps per second since the last point, and the running means of the episodes."""
        since, step_then = self.last_scalars
        self.writer.add_scalar("time/fps", (step - step_then) / max(now - since, 1e-9), step)
        if self.stats.scores:
            self.writer.add_scalar("rollout/ep_rew_mean", self.stats.score, step)
            self.writer.add_scalar("rollout/ep_len_mean", float(np.mean(self.stats.lengths)), step)
        if self.stats.success is not None:
            self.writer.add_scalar("rollout/success_rate", self.stats.success, step)
        self.last_scalars = (now, step)

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def close(self) -> None:
        if self.last_step > self.last_scalars[1]:  # the curves reach the last step
            self._scalars(time.monotonic(), self.last_step)
        self.writer.close()
        self.log.close()


class ProgressBar:
    """The progress bar of a training process, with the running mean score."""

    def __init__(self, total: int, step: int) -> None:
        from tqdm import tqdm

        self.bar = tqdm(total=total, initial=step, unit="step", smoothing=0, dynamic_ncols=True)

    def update(self, step: int, stats: Statistics) -> None:
        if self.bar.total is not None and step > self.bar.total:
            self.bar.total = step  # a last whole rollout past the total: still a bar
        self.bar.update(step - self.bar.n)
        self.bar.set_postfix(_postfix(stats), refresh=False)

    def close(self) -> None:
        self.bar.close()


class _Session:
    """What a run keeps open while its trainer learns: its record, the progress bar and the
    signal handlers; :meth:`report` is the trainer's callback."""

    def __init__(
        self,
        config: RunConfig,
        run_dir: Path,
        trainer: Trainer,
        step: int,
        elapsed: float,
        resume: bool,
    ) -> None:
        self.config, self.run_dir, self.trainer = config, run_dir, trainer
        self.record = RunRecord(run_dir, step, elapsed, resume)
        self.stats, self.writer = self.record.stats, self.record.writer
        self.bar = ProgressBar(config.timesteps, step)
        self.last_checkpoint = step
        self.stop = StopSignals()
        self.signal: str | None = None

    def __enter__(self) -> _Session:
        self.stop.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.signal = self.stop.name or None
        self.stop.__exit__()
        self.bar.close()
        self.record.close()

    def report(self, progress: Progress) -> bool:
        """Log the episodes, update TensorBoard and the bar, checkpoint when due; False once
        a signal has arrived."""
        self.record.record(progress, time.monotonic())
        self.bar.update(progress.step, self.stats)
        if progress.step - self.last_checkpoint >= self.config.checkpoint_every:
            self.checkpoint()
            self.last_checkpoint = progress.step
        return self.stop.received is None

    def checkpoint(self) -> Path:
        """Checkpoint the trainer at its current step (a no-op if that one exists)."""
        return _checkpoint(
            self.trainer, self.run_dir, self.config.keep_checkpoints, self.record.elapsed
        )


def check_resumable(run_dir: Path) -> None:
    """A run this version cannot continue gets a one-line reason, before anything changes."""
    if (run_dir / LEGACY_ROLLOUTS_CSV).exists() and not (run_dir / EPISODES_CSV).exists():
        raise RunError(
            f"{run_dir} was written by coordrl 0.1, which logged on-device runs per rollout "
            f"({LEGACY_ROLLOUTS_CSV}); this version logs every episode and cannot continue "
            "it: train it again"
        )


def _restore(
    trainer: Trainer, make_trainer: Callable[[], Trainer], run_dir: Path
) -> tuple[Trainer, int, float]:
    """Load the newest readable checkpoint into ``trainer``: (trainer, step, seconds so far)."""

    def load(folder: Path) -> float:
        trainer.load_state(folder)
        progress = folder / PROGRESS_FILE
        return float(json.loads(progress.read_text())["elapsed"]) if progress.exists() else 0.0

    loaded = load_newest_checkpoint(run_dir, load)
    if loaded is not None:
        elapsed, step = loaded
        print(f"resuming from the checkpoint at step {step:,}")
        return trainer, step, elapsed
    print(f"{run_dir} has no readable checkpoint: starting it over from step 0")
    if list_checkpoints(run_dir):  # a failed load may have left the trainer half-restored
        trainer.close()
        trainer = make_trainer()
    return trainer, 0, 0.0


def _checkpoint(trainer: Trainer, run_dir: Path, keep: int, elapsed: float) -> Path:
    def write(folder: Path) -> None:
        trainer.save_state(folder)
        (folder / PROGRESS_FILE).write_text(json.dumps({"elapsed": round(elapsed, 3)}) + "\n")

    try:
        return write_checkpoint(run_dir, trainer.num_timesteps, keep, write)
    except OSError as exc:
        if exc.errno not in (errno.ENOSPC, errno.EDQUOT):
            raise
        saved = list_checkpoints(run_dir)
        kept = f"the one at step {saved[-1][0]:,} is intact" if saved else "there is none before it"
        raise RunError(
            f"{run_dir}: the disk is full ({exc.strerror}) while writing the checkpoint at step "
            f"{trainer.num_timesteps:,}; {kept}: free space, then coordrl train --resume "
            f"{shlex.quote(str(run_dir))}"
        ) from None


def _postfix(stats: Statistics) -> dict[str, str]:
    postfix = {}
    if stats.score is not None:
        postfix["score"] = f"{stats.score:.3g}"
    if stats.success is not None:
        postfix["success"] = f"{stats.success:.2f}"
    return postfix

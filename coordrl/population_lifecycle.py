"""The run lifecycle for a population: K run directories trained by one process, in lockstep.

Each member is an ordinary run (``config.yaml``, ``episodes.csv``, TensorBoard events,
``checkpoints/``, its final model): every tool that reads runs reads it, and ``coordrl train
--resume`` continues it alone. The population holds every member's lock while it trains,
checkpoints all members at one step (the older checkpoints are pruned only once every member
has the new one, so a kill mid-way leaves a step they all have), and resumes from the newest
step every member can load.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from coordrl.config import RunConfig, dump_config
from coordrl.episodes import Episodes
from coordrl.lifecycle import (
    Progress,
    ProgressBar,
    RunRecord,
    Statistics,
    TrainOutcome,
    check_resumable,
)
from coordrl.locks import hold
from coordrl.runs import (
    CONFIG_FILE,
    PROGRESS_FILE,
    UNREADABLE,
    RunError,
    atomic_dir,
    atomic_path,
    checkpoint_dir,
    discard_dir,
    list_checkpoints,
    prune_checkpoints,
)
from coordrl.signals import StopSignals

if TYPE_CHECKING:
    from torch.utils.tensorboard import SummaryWriter


class PopulationTrainer(Protocol):
    """What the population lifecycle needs of a trainer: the single :class:`Trainer`'s
    methods, over one folder or path per member."""

    model_file: str
    num_timesteps: int

    def learn(
        self,
        total_steps: int,
        report: Callable[[int, list[Episodes]], bool],
        writers: Sequence[SummaryWriter],
    ) -> None: ...

    def save_state(self, folders: Sequence[Path]) -> None: ...

    def load_state(self, folders: Sequence[Path]) -> None: ...

    def save_model(self, paths: Sequence[Path]) -> None: ...

    def close(self) -> None: ...


def train_population(
    configs: Sequence[RunConfig],
    run_dirs: Sequence[Path],
    make_trainer: Callable[[], PopulationTrainer],
    *,
    resume: bool = False,
    lock_wait_s: float = 0.0,
) -> list[TrainOutcome]:
    """Train (or go on training) every member until ``configs[0].timesteps`` env steps, or
    a signal; each run directory's lock is held throughout."""
    with contextlib.ExitStack() as locks:
        for run_dir in run_dirs:
            run_dir.mkdir(parents=True, exist_ok=True)
            locks.enter_context(hold(run_dir, "a population training process", lock_wait_s))
        return _train_held(configs, run_dirs, make_trainer, resume)


def _train_held(
    configs: Sequence[RunConfig],
    run_dirs: Sequence[Path],
    make_trainer: Callable[[], PopulationTrainer],
    resume: bool,
) -> list[TrainOutcome]:
    first = configs[0]
    if resume:
        for run_dir in run_dirs:
            check_resumable(run_dir)
    else:
        for config, run_dir in zip(configs, run_dirs, strict=True):
            dump_config(config, run_dir / CONFIG_FILE)
    trainer = make_trainer()
    try:
        step, elapsed = _restore(trainer, run_dirs) if resume else (0, 0.0)
        records = [RunRecord(run_dir, step, elapsed, resume) for run_dir in run_dirs]
        bar = ProgressBar(first.timesteps * len(run_dirs), step * len(run_dirs))
        overall = Statistics()
        last_checkpoint = step

        def checkpoint() -> None:
            _checkpoint(trainer, run_dirs, first.keep_checkpoints, records[0].elapsed)

        def report(now_step: int, episodes: list[Episodes]) -> bool:
            nonlocal last_checkpoint
            now = time.monotonic()
            for record, mine in zip(records, episodes, strict=True):
                record.record(Progress(now_step, mine), now)
                overall.add(mine)
            bar.update(now_step * len(run_dirs), overall)
            if now_step - last_checkpoint >= first.checkpoint_every:
                checkpoint()
                last_checkpoint = now_step
            return stop.received is None

        with StopSignals() as stop:
            try:
                if trainer.num_timesteps < first.timesteps:
                    trainer.learn(first.timesteps, report, [r.writer for r in records])
                checkpoint()
            finally:
                bar.close()
                for record in records:
                    record.close()
            signal = stop.name or None
        finished = trainer.num_timesteps >= first.timesteps
        outcomes = [
            TrainOutcome(
                run_dir,
                trainer.num_timesteps,
                finished,
                checkpoint_dir(run_dir, trainer.num_timesteps),
                record.stats.score,
                record.stats.success,
            )
            for run_dir, record in zip(run_dirs, records, strict=True)
        ]
        if not finished:
            if signal is None:
                raise RuntimeError(f"the trainer stopped at step {trainer.num_timesteps} unasked")
            print(f"{signal} received: every member checkpointed at step {trainer.num_timesteps}")
            return outcomes
        with contextlib.ExitStack() as paths:
            tmps = [paths.enter_context(atomic_path(d / trainer.model_file)) for d in run_dirs]
            trainer.save_model(tmps)
        return outcomes
    finally:
        trainer.close()


def _restore(trainer: PopulationTrainer, run_dirs: Sequence[Path]) -> tuple[int, float]:
    """Load the newest step every member has a readable checkpoint of: (step, seconds)."""
    saved = [dict(list_checkpoints(run_dir)) for run_dir in run_dirs]
    common = sorted(set.intersection(*(set(s) for s in saved)), reverse=True)
    for step in common:
        folders = [s[step] for s in saved]
        try:
            trainer.load_state(folders)
        except UNREADABLE as exc:
            print(f"warning: skipping unreadable population checkpoint at step {step:,}: {exc}")
            continue
        progress = folders[0] / PROGRESS_FILE
        elapsed = json.loads(progress.read_text())["elapsed"] if progress.exists() else 0.0
        ahead = [(d, s) for d, s in zip(run_dirs, saved, strict=True) if max(s) > step]
        for run_dir, steps in ahead:  # not every member got there: that step is played again
            print(f"{run_dir}: going back to step {step:,} with the rest of its population")
            for later in (s for s in steps if s > step):
                discard_dir(steps[later])
        print(f"resuming the population from its checkpoint at step {step:,}")
        return step, float(elapsed)
    if any(saved):
        newest = {str(d): max(s) if s else 0 for d, s in zip(run_dirs, saved, strict=True)}
        raise RunError(
            "the population's members have no checkpoint step in common (newest: "
            + ", ".join(f"{d} at {n:,}" for d, n in newest.items())
            + "); resume them one by one with coordrl train --resume"
        )
    print("the population has no checkpoint: starting it over from step 0")
    return 0, 0.0


def _checkpoint(
    trainer: PopulationTrainer, run_dirs: Sequence[Path], keep: int, elapsed: float
) -> None:
    """Every member's checkpoint at the trainer's step (each complete or absent), then the
    older ones pruned: a kill mid-way leaves the previous step in every member."""
    step = trainer.num_timesteps
    if all(checkpoint_dir(d, step).exists() for d in run_dirs):
        return  # taken at the last report
    with contextlib.ExitStack() as stack:
        folders = []
        for run_dir in run_dirs:
            target = checkpoint_dir(run_dir, step)
            if target.exists():
                discard_dir(target)  # a kill's partial population checkpoint
            folder = stack.enter_context(atomic_dir(target))
            (folder / PROGRESS_FILE).write_text(json.dumps({"elapsed": round(elapsed, 3)}) + "\n")
            folders.append(folder)
        trainer.save_state(folders)
    for run_dir in run_dirs:
        prune_checkpoints(run_dir, keep)

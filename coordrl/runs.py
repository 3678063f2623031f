"""Run directories: their file names, atomic writes, checkpoints; so no work is ever lost.

Every name a run directory holds is defined here and nowhere else::

    config.yaml                 the resolved config, written first
    events.out.tfevents.*       TensorBoard
    episodes.csv                every finished episode (see coordrl.episodes)
    checkpoints/step_N/         the newest few checkpoints, each complete or absent:
        progress.json           the lifecycle's own state (wall time so far)
        model.zip, replay_buffer.pkl  (SB3 agents) or state.pt (on-device agents)
        replay.json, replay_newest.npz  (Atari DQN) the replay segments it is rebuilt from
    checkpoints/replay/adds_A_B_*/  the transitions added between A and B (Atari DQN),
                                written once, deleted when no checkpoint names them
    model.zip | model.pt        the final agent, once the run is finished
    eval/*.json                 what coordrl evaluate measured
    sweep.log, sweep-config.yaml  a sweep trial's output and requested config
    .lock                       who trains the run now (see coordrl.locks); a sweep's out
                                folder holds one while a sweep runs there
    .stop                       in a Ray sweep's out folder: the driver asks trials to stop

and a supervised toy-task run (``coordrl toy train``) holds ``result.json`` and ``model.pt``.
"""

from __future__ import annotations

import csv
import os
import re
import shutil
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

from coordrl.errors import CoordRLError

T = TypeVar("T")

CONFIG_FILE = "config.yaml"
EPISODES_CSV = "episodes.csv"
CHECKPOINTS = "checkpoints"
PROGRESS_FILE = "progress.json"  # in each checkpoint
EVAL_DIR = "eval"
SB3_MODEL = "model.zip"  # an SB3 agent (final model, and in each checkpoint)
REPLAY_BUFFER = "replay_buffer.pkl"  # an off-policy SB3 agent's, in each checkpoint
REPLAY_MANIFEST = "replay.json"  # in an Atari DQN checkpoint: the segments it needs
REPLAY_NEWEST = "replay_newest.npz"  # ... and the newest transition's observations
REPLAY_SEGMENTS = "replay"  # under checkpoints/: the frame replay buffer's segments
TORCH_MODEL = "model.pt"  # an on-device agent's final weights
TORCH_STATE = "state.pt"  # an on-device agent's checkpoint: weights, optimizer, counters
MODEL_FILES = (SB3_MODEL, TORCH_MODEL)  # what a finished run holds, by trainer kind
CHECKPOINT_MODELS = (SB3_MODEL, TORCH_STATE)  # what evaluate can read from a checkpoint
SWEEP_LOG = "sweep.log"  # a sweep trial's commands and everything they printed
SWEEP_CONFIG = "sweep-config.yaml"  # the config a sweep asked a trial to be
SWEEP_EVAL = "sweep.json"  # under eval/: the evaluation a sweep asked for
SWEEP_TABLE = "sweep.csv"  # in a sweep's out: every trial's last status
SWEEP_STOP = ".stop"  # in a Ray sweep's out while its driver asks the trials to stop
LEGACY_ROLLOUTS_CSV = "rollouts.csv"  # coordrl 0.1's per-rollout log of on-device runs
LOCK_FILE = ".lock"  # the process working in a run directory or a sweep's out (coordrl.locks)
TOY_RESULT = "result.json"  # a supervised toy-task run's (coordrl toy train) results
_STEP_DIR = re.compile(r"^step_(\d+)$")


class RunError(CoordRLError):
    """A run directory that cannot be started, resumed or read, said in one line."""


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success rename it over ``path``.

    A reader sees the old file or the whole new one, never a half-written one; on an error
    the temporary file is removed and ``path`` is untouched.
    """
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    try:
        yield tmp
        _fsync(tmp)
        os.replace(tmp, path)
        _fsync(path.parent)
    finally:
        tmp.unlink(missing_ok=True)


def fresh_run_dir(path: str | Path, marker: str = TOY_RESULT) -> Path:
    """``path``, or ``path-2``, ``path-3``... if it already holds a run: never overwrite one.

    A directory holds a run when it has ``marker`` (the file a run writes first or last).
    """
    path = Path(path)
    candidate, n = path, 1
    while (candidate / marker).exists():
        n += 1
        candidate = path.with_name(f"{path.name}-{n}")
    return candidate


@contextmanager
def atomic_dir(path: str | Path) -> Iterator[Path]:
    """Yield a temporary directory beside ``path``; on success rename it to ``path``.

    Files written together (a model and its replay buffer) appear together or not at all.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        yield tmp
        for written in tmp.rglob("*"):
            _fsync(written)
        _fsync(tmp)
        os.replace(tmp, path)
        _fsync(path.parent)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _fsync(path: Path) -> None:
    """Flush a file's (or a directory's entries') data to the disk: what a rename publishes
    then survives an OS crash or power loss, not only a killed process."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return  # nothing to flush (gone), or not openable here (e.g. Windows directories)
    try:
        os.fsync(fd)
    except OSError:
        pass  # a file system without fsync on this kind of file
    finally:
        os.close(fd)


def is_run_dir(path: str | Path) -> bool:
    """A run directory is one with a ``config.yaml``."""
    return (Path(path) / CONFIG_FILE).is_file()


def is_finished(path: str | Path) -> bool:
    """A run that reached its total steps: its final model is written."""
    return any((Path(path) / name).is_file() for name in MODEL_FILES)


def checkpoint_dir(run_dir: str | Path, step: int) -> Path:
    """Where the checkpoint taken at env step ``step`` lives."""
    return Path(run_dir) / CHECKPOINTS / f"step_{step:012d}"


def list_checkpoints(run_dir: str | Path) -> list[tuple[int, Path]]:
    """Complete checkpoints of a run, oldest first, as (step, directory)."""
    root = Path(run_dir) / CHECKPOINTS
    if not root.is_dir():
        return []
    found = []
    for child in root.iterdir():
        match = _STEP_DIR.match(child.name)
        if match and child.is_dir():
            found.append((int(match[1]), child))
    return sorted(found)


def find_model(target: str | Path) -> tuple[Path, Path]:
    """(model file, run directory) of ``target``: a run directory (its final model, else its
    newest checkpoint's), or a model file inside one; else a ``RunError`` saying why."""
    target = Path(target)
    if target.is_dir():
        if not is_run_dir(target):
            raise RunError(f"{target} is not a run directory (it has no {CONFIG_FILE})")
        for name in MODEL_FILES:
            if (target / name).is_file():
                return target / name, target
        checkpoints = list_checkpoints(target)
        for name in CHECKPOINT_MODELS if checkpoints else ():
            if (checkpoints[-1][1] / name).is_file():
                return checkpoints[-1][1] / name, target
        raise RunError(f"{target} has no model and no checkpoint yet")
    if not target.is_file():
        raise RunError(f"no such run directory or model file: {target}")
    for parent in target.parents:
        if is_run_dir(parent):
            return target, parent
    raise RunError(f"{target} is not inside a run directory, so its config is unknown")


def write_checkpoint(
    run_dir: str | Path, step: int, keep: int, write: Callable[[Path], None]
) -> Path:
    """Checkpoint ``step``: ``write`` fills a temporary directory that is then renamed into
    place (complete or absent, never half-written); only the newest ``keep`` are kept."""
    target = checkpoint_dir(run_dir, step)
    if not target.exists():
        with atomic_dir(target) as tmp:
            write(tmp)
        prune_checkpoints(run_dir, keep)
    return target


# What reading a damaged checkpoint raises (torch.load, SB3's zip loader, pickle).
UNREADABLE = (OSError, ValueError, KeyError, EOFError, RuntimeError, zipfile.BadZipFile)


def load_newest_checkpoint(run_dir: str | Path, load: Callable[[Path], T]) -> tuple[T, int] | None:
    """``load`` the newest checkpoint that reads, skipping damaged ones with a warning;
    (what it returned, its step), or None when no checkpoint reads."""
    for step, path in reversed(list_checkpoints(run_dir)):
        try:
            return load(path), step
        except UNREADABLE as exc:
            print(f"warning: skipping unreadable checkpoint {path}: {exc}")
    return None


def prune_checkpoints(run_dir: str | Path, keep: int) -> None:
    """Delete all but the ``keep`` most recent checkpoints, and any half-written or
    half-deleted one. Each goes out of the checkpoint names first (a rename), then is
    deleted: a kill while deleting leaves a leftover that is never read, only cleaned."""
    for _, path in list_checkpoints(run_dir)[:-keep]:
        discard_dir(path)
    remove_leftovers(Path(run_dir) / CHECKPOINTS, "step_")


def discard_dir(path: Path) -> None:
    """Delete a directory so that a kill midway leaves nothing half-deleted under its name:
    it is renamed out of the way (``.NAME.old``) first; :func:`remove_leftovers` cleans."""
    doomed = path.with_name(f".{path.name}.old")
    os.replace(path, doomed)
    shutil.rmtree(doomed, ignore_errors=True)


def remove_leftovers(folder: Path, prefix: str) -> None:
    """Delete what kills left in ``folder`` of directories named ``prefix...``: half-written
    ones (:func:`atomic_dir`'s ``.NAME.tmp``) and half-deleted ones (``.NAME.old``)."""
    for suffix in (".tmp", ".old"):
        for leftover in folder.glob(f".{prefix}*{suffix}"):
            shutil.rmtree(leftover, ignore_errors=True)


def truncate_log(path: str | Path, step: int) -> None:
    """Drop the rows of a CSV log (first column: env step) written after ``step``.

    A resumed run plays those steps again from its checkpoint; the file is rewritten
    atomically, and left alone when nothing is dropped.
    """
    path = Path(path)
    if not path.exists():
        return
    with path.open(newline="") as f:
        rows = list(csv.reader(f))
    kept = rows[:1] + [r for r in rows[1:] if r and int(r[0]) <= step]
    if len(kept) != len(rows):
        with atomic_path(path) as tmp, tmp.open("w", newline="") as f:
            csv.writer(f).writerows(kept)

"""Run a sweep's trials: each one is ``coordrl train`` (then ``coordrl evaluate``) in a process.

A trial is an ordinary run directory, made by the same command a user would type, so a
sweep's runs resume, evaluate and compare like any other. Re-running a sweep skips the
trials that finished, resumes the interrupted ones from their checkpoints and retries the
failed ones; one trial failing never stops the others. Locally, up to ``max_concurrent``
trials run side by side; :mod:`coordrl.agents.sweep_ray` runs the same :func:`run_trial` on
Ray Tune.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import functools
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from coordrl.config import RESUMABLE_KEYS, RunConfig, dump_config, load_run_config
from coordrl.errors import CoordRLError
from coordrl.locks import STALE_S
from coordrl.runs import (
    EVAL_DIR,
    SWEEP_CONFIG,
    SWEEP_EVAL,
    SWEEP_LOG,
    SWEEP_TABLE,
    atomic_path,
    is_finished,
    is_run_dir,
)
from coordrl.signals import PARENT_ENV, StopSignals
from coordrl.sweeps import Sweep, Trial

STATUSES = ("finished", "skipped", "interrupted", "failed")
# how long a resumed trial waits for its run's lock: the lost attempt of a retried trial
# may still be checkpointing, or its lock from a lost host not yet stale
RESUME_LOCK_WAIT_S = 1.5 * STALE_S


@dataclasses.dataclass(frozen=True)
class TrialResult:
    name: str
    status: str  # one of STATUSES
    run_dir: str
    message: str = ""


class Stopper:
    """Shared by a runner's threads: once stopped, live trials get SIGTERM (they checkpoint
    and exit) and no new one starts."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self._lock = threading.Lock()
        self._live: set[subprocess.Popen] = set()

    @property
    def stopped(self) -> bool:
        return self._event.is_set()

    def stop(self) -> None:
        self._event.set()
        with self._lock:
            for process in self._live:
                if process.poll() is None:
                    process.send_signal(signal.SIGTERM)

    def run(self, command: list[str], log: Path, threads: int) -> int | None:
        """Run ``command`` with output appended to ``log``; None if stopped before it began."""
        env = {**os.environ, "OMP_NUM_THREADS": str(threads), "PYTHONUNBUFFERED": "1"}
        env["PYTHONSAFEPATH"] = "1"  # the installed coordrl, not a coordrl/ folder in the cwd
        env[PARENT_ENV] = str(os.getpid())  # SIGTERM to it if this process dies (Ray, kill -9)
        with log.open("a") as out:
            out.write(f"$ coordrl {' '.join(command[3:])}\n")
            out.flush()
            with self._lock:
                if self.stopped:
                    return None
                # its own session: a terminal's Ctrl-C reaches the sweep, which relays it
                # as SIGTERM; a group kill of a Ray worker does not cut a checkpoint short
                process = subprocess.Popen(
                    command, stdout=out, stderr=out, env=env, start_new_session=True
                )
                self._live.add(process)
            try:
                return process.wait()
            finally:
                with self._lock:
                    self._live.discard(process)


def is_done(trial: Trial, evaluate: Mapping[str, Any] | None) -> bool:
    """Trained (and evaluated, when the sweep asks for it): nothing left to do."""
    evaluated = evaluate is None or (trial.run_dir / EVAL_DIR / SWEEP_EVAL).is_file()
    return is_finished(trial.run_dir) and evaluated


def _differences(existing: RunConfig, wanted: RunConfig) -> list[str]:
    old, new = existing.to_dict(), wanted.to_dict()
    return sorted(k for k in old.keys() | new.keys() if old.get(k) != new.get(k))


def _last_error(log: Path) -> str:
    lines = [line.strip() for line in log.read_text(errors="replace").splitlines()]
    errors = [line for line in lines if line.startswith("error:")]
    if errors:
        return errors[-1].removeprefix("error:").strip()
    tail = [line for line in lines if line and not line.startswith("$")]
    return tail[-1][-200:] if tail else "no output"


def _coordrl(*args: str) -> list[str]:
    return [sys.executable, "-m", "coordrl.cli", *args]


def _train_command(trial: Trial) -> list[str] | str:
    """The ``coordrl train`` command that brings the trial to its end, or why there is none."""
    run_dir = trial.run_dir
    if not is_run_dir(run_dir):
        config_file = run_dir / SWEEP_CONFIG  # what the trial was asked to be
        dump_config(trial.config, config_file)
        return _coordrl("train", "--config", str(config_file), "--run-dir", str(run_dir))
    existing = load_run_config(run_dir)
    changed = [k for k in _differences(existing, trial.config) if k not in RESUMABLE_KEYS]
    if changed:
        return (
            f"{run_dir} holds a run with other settings ({', '.join(changed)}); "
            "move it away or give the sweep another out"
        )
    if is_finished(run_dir):
        return []
    command = _coordrl("train", "--resume", str(run_dir))
    command += ["--timesteps", str(trial.config.timesteps), "--device", trial.config.device]
    return [*command, "--wait-for-lock", f"{RESUME_LOCK_WAIT_S:g}"]


def _evaluate_command(trial: Trial, evaluate: Mapping[str, Any]) -> list[str]:
    command = _coordrl("evaluate", str(trial.run_dir))
    command += ["--out", str(trial.run_dir / EVAL_DIR / SWEEP_EVAL), "--seed", "12345"]
    if "episodes" in evaluate:
        command += ["--episodes", str(evaluate["episodes"])]
    if evaluate.get("deterministic"):
        command.append("--deterministic")
    return command


def run_trial(
    trial: Trial,
    evaluate: Mapping[str, Any] | None,
    threads: int = 1,
    stopper: Stopper | None = None,
) -> TrialResult:
    """Train (fresh or resumed) and evaluate one trial; never raises for a failed trial."""
    stopper = stopper or Stopper()
    result = functools.partial(TrialResult, trial.name, run_dir=str(trial.run_dir))
    if is_done(trial, evaluate):
        return result("skipped")
    if stopper.stopped:
        return result("interrupted", message="not started: the sweep was stopped")
    try:
        trial.run_dir.mkdir(parents=True, exist_ok=True)
        log = trial.run_dir / SWEEP_LOG
        command = _train_command(trial)
        if isinstance(command, str):
            return result("failed", message=command)
        if command:
            code = stopper.run(command, log, threads)
            if code is None or stopper.stopped or code == 130:
                return result("interrupted", message="stopped; re-run the sweep to resume")
            if code < 0:
                return result(
                    "failed",
                    message=f"killed by {signal.Signals(-code).name}; "
                    "re-run the sweep to resume it from its last checkpoint",
                )
            if code != 0:
                return result("failed", message=f"{_last_error(log)} (log: {log})")
            if not is_finished(trial.run_dir):
                return result("interrupted", message="stopped by a signal; re-run to resume")
        if evaluate is not None:
            code = stopper.run(_evaluate_command(trial, evaluate), log, threads)
            if code is None or stopper.stopped:
                return result("interrupted", message="stopped before its evaluation")
            if code != 0:
                return result("failed", message=f"evaluation: {_last_error(log)} (log: {log})")
    except OSError as exc:
        return result("failed", message=f"{trial.run_dir}: {exc.strerror or exc}")
    except CoordRLError as exc:  # an unreadable config.yaml in its run directory
        return result("failed", message=str(exc))
    return result("finished")


def write_results(sweep: Sweep, results: list[TrialResult]) -> Path:
    """``<out>/sweep.csv``: each trial's state, replaced as a whole each run. A trial this
    run skipped because it was done is listed as finished (its state), saying so."""
    import csv
    import io

    buffer = io.StringIO()
    writer = csv.writer(buffer)
    fields = [f.name for f in dataclasses.fields(TrialResult)]
    writer.writerow(fields)
    for row in results:
        if row.status == "skipped":
            row = dataclasses.replace(row, status="finished", message="done earlier: skipped")
        writer.writerow(dataclasses.astuple(row))
    path = sweep.out / SWEEP_TABLE
    with atomic_path(path) as tmp:
        tmp.write_text(buffer.getvalue())
    return path


def run_local(
    sweep: Sweep,
    max_concurrent: int,
    on_result: Callable[[TrialResult], None],
    stopper: Stopper | None = None,
) -> list[TrialResult]:
    """Every trial on this machine, ``max_concurrent`` at once, each with ``cpus`` threads."""
    stopper = stopper or Stopper()
    threads = max(1, int(sweep.cpus))
    results: list[TrialResult] = []
    with (
        concurrent.futures.ThreadPoolExecutor(max_workers=max_concurrent) as pool,
        StopSignals() as signals,
    ):
        pending = {
            pool.submit(run_trial, trial, sweep.evaluate, threads, stopper)
            for trial in sweep.trials
        }
        while pending:
            done, pending = concurrent.futures.wait(
                pending, timeout=0.2, return_when=concurrent.futures.FIRST_COMPLETED
            )
            for future in done:
                results.append(future.result())
                on_result(results[-1])
            if signals.received is not None and not stopper.stopped:
                stopper.stop()  # live trials checkpoint and exit; the rest never start
    order = {trial.name: i for i, trial in enumerate(sweep.trials)}
    return sorted(results, key=lambda r: order[r.name])

"""Run a sweep's trials: each one trained (then evaluated) in a process of its own.

A trial is an ordinary run directory, trained and evaluated by a worker process
(:mod:`coordrl.agents.worker`: what ``coordrl train``, ``population`` and ``evaluate`` do,
through the same functions), so a sweep's runs resume, evaluate and compare like any
other, and the runner never starts the command above it. Re-running a sweep skips the
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
import shlex
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from coordrl.config import RESUMABLE_KEYS, RunConfig, dump_config, load_run_config
from coordrl.errors import INTERRUPTED, CoordRLError
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
AUTO_POPULATION = 32  # population: auto puts up to this many compatible trials in one
WORKER = "coordrl.agents.worker"  # the module each trial's process runs


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
            out.write(f"$ python -m {shlex.join(command[2:])}\n")
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


def _worker(*args: str) -> list[str]:
    """The command line of a worker process (:mod:`coordrl.agents.worker`) doing ``args``."""
    return [sys.executable, "-m", WORKER, *args]


def _prepare(trial: Trial) -> str | None:
    """Make ``trial``'s run directory ready for training: a fresh trial gets the config it
    is asked to be; an existing run must hold the same settings. Returns why it cannot."""
    run_dir = trial.run_dir
    if not is_run_dir(run_dir):
        dump_config(trial.config, run_dir / SWEEP_CONFIG)  # what the trial was asked to be
        return None
    existing = load_run_config(run_dir)
    changed = [k for k in _differences(existing, trial.config) if k not in RESUMABLE_KEYS]
    if changed:
        return (
            f"{run_dir} holds a run with other settings ({', '.join(changed)}); "
            "move it away or give the sweep another out"
        )
    return None


def _resume_flags(trial: Trial) -> list[str]:
    command = ["--timesteps", str(trial.config.timesteps), "--device", trial.config.device]
    return [*command, "--wait-for-lock", f"{RESUME_LOCK_WAIT_S:g}"]


def _train_command(trial: Trial) -> list[str] | str:
    """The worker command that brings the trial to its end, or why there is none."""
    run_dir = trial.run_dir
    started = is_run_dir(run_dir)
    problem = _prepare(trial)
    if problem is not None:
        return problem
    if not started:
        return _worker("train", str(run_dir))  # from the sweep-config.yaml _prepare wrote
    if is_finished(run_dir):
        return []
    return [*_worker("train", str(run_dir)), *_resume_flags(trial)]


def _evaluate_command(trial: Trial, evaluate: Mapping[str, Any]) -> list[str]:
    command = _worker("evaluate", str(trial.run_dir))
    command += ["--out", str(trial.run_dir / EVAL_DIR / SWEEP_EVAL), "--seed", "12345"]
    if "episodes" in evaluate:
        command += ["--episodes", str(evaluate["episodes"])]
    if evaluate.get("deterministic"):
        command.append("--deterministic")
    return command


def _training_status(code: int | None, stopper: Stopper, log: Path, run_dir: Path):
    """(status, message) after a training process ended with ``code``; None if it finished."""
    if code is None or stopper.stopped or code == INTERRUPTED:
        return "interrupted", "stopped; re-run the sweep to resume"
    if code < 0:
        return (
            "failed",
            f"killed by {signal.Signals(-code).name}; "
            "re-run the sweep to resume it from its last checkpoint",
        )
    if code != 0:
        return "failed", f"{_last_error(log)} (log: {log})"
    if not is_finished(run_dir):
        return "interrupted", "stopped by a signal; re-run to resume"
    return None


def _evaluate(
    trial: Trial, evaluate: Mapping[str, Any] | None, log: Path, threads: int, stopper: Stopper
) -> TrialResult:
    """Evaluate a trained trial when the sweep asks for it: the trial's result."""
    result = functools.partial(TrialResult, trial.name, run_dir=str(trial.run_dir))
    if evaluate is not None:
        code = stopper.run(_evaluate_command(trial, evaluate), log, threads)
        if code is None or stopper.stopped:
            return result("interrupted", message="stopped before its evaluation")
        if code != 0:
            return result("failed", message=f"evaluation: {_last_error(log)} (log: {log})")
    return result("finished")


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
            status = _training_status(code, stopper, log, trial.run_dir)
            if status is not None:
                return result(status[0], message=status[1])
        return _evaluate(trial, evaluate, log, threads, stopper)
    except OSError as exc:
        return result("failed", message=f"{trial.run_dir}: {exc.strerror or exc}")
    except CoordRLError as exc:  # an unreadable config.yaml in its run directory
        return result("failed", message=str(exc))


def run_population(
    trials: Sequence[Trial],
    evaluate: Mapping[str, Any] | None,
    threads: int = 1,
    stopper: Stopper | None = None,
) -> list[TrialResult]:
    """Train ``trials`` as one population (in one worker, as ``coordrl population`` does),
    then evaluate each; a batch of one is :func:`run_trial`. Never raises for a failed
    trial."""
    if len(trials) == 1:
        return [run_trial(trials[0], evaluate, threads, stopper)]
    stopper = stopper or Stopper()
    results: dict[str, TrialResult] = {}
    members: list[Trial] = []
    for trial in trials:
        result = functools.partial(TrialResult, trial.name, run_dir=str(trial.run_dir))
        try:
            trial.run_dir.mkdir(parents=True, exist_ok=True)
            problem = _prepare(trial)
        except OSError as exc:
            problem = f"{trial.run_dir}: {exc.strerror or exc}"
        except CoordRLError as exc:
            problem = str(exc)
        if problem is not None:
            results[trial.name] = result("failed", message=problem)
        elif stopper.stopped:
            results[trial.name] = result(
                "interrupted", message="not started: the sweep was stopped"
            )
        elif is_finished(trial.run_dir):
            results[trial.name] = _evaluate(
                trial, evaluate, trial.run_dir / SWEEP_LOG, threads, stopper
            )
        else:
            members.append(trial)
    if members:
        log = members[0].run_dir / SWEEP_LOG
        names = ", ".join(t.name for t in members)
        for trial in members[1:]:
            with (trial.run_dir / SWEEP_LOG).open("a") as out:
                out.write(f"# trained in a population ({names}); its output: {log}\n")
        command = _worker("train", *(str(t.run_dir) for t in members))
        if is_run_dir(members[0].run_dir):
            command += _resume_flags(members[0])
        code = stopper.run(command, log, threads)
        for trial in members:
            status = _training_status(code, stopper, log, trial.run_dir)
            if status is not None:
                results[trial.name] = TrialResult(
                    trial.name, status[0], str(trial.run_dir), status[1]
                )
            else:
                results[trial.name] = _evaluate(
                    trial, evaluate, trial.run_dir / SWEEP_LOG, threads, stopper
                )
    return [results[t.name] for t in trials]


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


def batches(sweep: Sweep) -> list[tuple[Trial, ...]]:
    """The sweep's trials to run, in populations of up to ``sweep.population`` (all that fit
    together where it is None, ``auto``), in sweep order; single trials where a trial cannot
    join one. Members start and resume together: trials that have started form populations
    only with trials checkpointed at the same step."""
    from coordrl.agents.population import population_key
    from coordrl.runs import list_checkpoints

    groups: dict[Any, list[Trial]] = {}
    order: list[Any] = []
    for index, trial in enumerate(sweep.trials):
        if is_done(trial, sweep.evaluate):
            continue
        key = population_key(trial.config) if sweep.population != 1 else None
        if key is not None and not is_finished(trial.run_dir):
            saved = list_checkpoints(trial.run_dir) if is_run_dir(trial.run_dir) else []
            key = (key, is_run_dir(trial.run_dir), saved[-1][0] if saved else 0)
        else:
            key = ("single", index)
        if key not in groups:
            groups[key] = []
            order.append(key)
        groups[key].append(trial)
    out: list[tuple[Trial, ...]] = []
    for key in order:
        group = groups[key]
        size = sweep.population or min(len(group), AUTO_POPULATION)
        parts = -(-len(group) // size)  # as equal as can be
        out += [tuple(group[i::parts]) for i in range(parts)]
    return out


def run_local(
    sweep: Sweep,
    max_concurrent: int,
    on_result: Callable[[TrialResult], None],
    stopper: Stopper | None = None,
) -> list[TrialResult]:
    """Every trial on this machine, ``max_concurrent`` trials or populations at once, each
    with ``cpus`` threads."""
    stopper = stopper or Stopper()
    threads = max(1, int(sweep.cpus))
    results: list[TrialResult] = [
        TrialResult(t.name, "skipped", str(t.run_dir))
        for t in sweep.trials
        if is_done(t, sweep.evaluate)
    ]
    for result in results:
        on_result(result)
    with (
        concurrent.futures.ThreadPoolExecutor(max_workers=max_concurrent) as pool,
        StopSignals() as signals,
    ):
        pending = {
            pool.submit(run_population, batch, sweep.evaluate, threads, stopper)
            for batch in batches(sweep)
        }
        while pending:
            done, pending = concurrent.futures.wait(
                pending, timeout=0.2, return_when=concurrent.futures.FIRST_COMPLETED
            )
            for future in done:
                for result in future.result():
                    results.append(result)
                    on_result(result)
            if signals.received is not None and not stopper.stopped:
                stopper.stop()  # live trials checkpoint and exit; the rest never start
    order = {trial.name: i for i, trial in enumerate(sweep.trials)}
    return sorted(results, key=lambda r: order[r.name])

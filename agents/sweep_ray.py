"""Run a sweep's trials on Ray Tune: the same :func:`coordrl.agents.sweep.run_population`
(one trial, or a population of trials, per Tune trial), placed by Ray.

Ray decides where each trial runs from its resources (``cpus``, ``gpus``, fractions
allowed); the trial itself is the same worker process as in a local sweep, so
its run directory is written where the sweep's ``out`` points. On a cluster that path
must be on storage every node shares (NFS or similar), and every node needs coordrl
installed in the same Python environment.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from coordrl.agents.sweep import Stopper, TrialResult, batches, run_population
from coordrl.runs import SWEEP_STOP
from coordrl.signals import StopSignals
from coordrl.sweeps import Sweep

STOP_POLL_S = 0.5
MAX_RETRIES = 2  # Tune's retries of a trial lost with its worker or node


def _trainable(params: dict[str, Any], sweep: Sweep, work: list[list[int]]) -> None:
    """One Tune trial: run the sweep's trials ``work[params["index"]]`` (one trial, or a
    population) and report how each went. When the driver asks the sweep to stop (the stop
    file in ``out``, which every node sees), the training process gets SIGTERM,
    checkpoints and exits."""
    from ray import tune

    trials = [sweep.trials[i] for i in work[params["index"]]]
    stopper, finished = Stopper(), threading.Event()

    def watch() -> None:
        while not finished.wait(STOP_POLL_S):
            if (sweep.out / SWEEP_STOP).exists():
                stopper.stop()
                return

    threading.Thread(target=watch, daemon=True).start()
    try:
        threads = max(1, int(sweep.cpus))
        results = run_population(trials, sweep.evaluate, threads=threads, stopper=stopper)
    finally:
        finished.set()
    tune.report({"results": json.dumps([dataclasses.asdict(r) for r in results])})


# Ray's workers SIGKILL their child processes when they exit; a trial's worker process
# would then die mid-rollout. Without that, a trial's process gets SIGTERM from the kernel
# when its worker exits (coordrl.signals.exit_with_parent): it checkpoints and exits.
INIT_OPTIONS: dict[str, Any] = {
    "log_to_driver": False,
    "logging_level": logging.WARNING,
    "runtime_env": {"env_vars": {"RAY_kill_child_processes_on_worker_exit": "0"}},
}
CONNECT_TIMEOUT_S = 15.0  # Ray itself retries an unreachable cluster for minutes
PROBE_TIMEOUT_S = 5.0


def connect(address: str | None, timeout_s: float = CONNECT_TIMEOUT_S) -> None:
    """``ray.init``: ``address`` or ``RAY_ADDRESS`` (a cluster), else a fresh local Ray.

    A cluster's address is probed first (``ConnectionError`` at once when nothing listens);
    while Ray connects, its own retry logs are held back, and after ``timeout_s`` the
    process ends with one ``error:`` line: Ray's connect cannot be interrupted.
    """
    import ray

    if ray.is_initialized():
        return
    target = address or os.environ.get("RAY_ADDRESS") or None
    endpoint = _endpoint(target)
    if endpoint is None:  # a local Ray, or 'auto' (found or refused at once by Ray)
        ray.init(address=address, **INIT_OPTIONS)
        return
    _probe(*endpoint)
    with _quiet_stderr() as (stderr, held_back), _watchdog(timeout_s, target, stderr, held_back):
        try:
            ray.init(address=address, **INIT_OPTIONS)
        except ray.exceptions.AuthenticationError:
            raise ConnectionError(AUTH_HINT) from None


def _endpoint(address: str | None) -> tuple[str, int] | None:
    """(host, port) of a cluster address (``HOST:PORT`` or ``ray://HOST:PORT``), else None."""
    if not address or address in ("auto", "local"):
        return None
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(f"expected HOST:PORT, ray://HOST:PORT, auto or local, got {address!r}")
    return host.strip("[]"), int(port)


def _probe(host: str, port: int) -> None:
    """Raise ``ConnectionError`` unless something accepts a TCP connection at host:port."""
    try:
        with socket.create_connection((host, port), timeout=PROBE_TIMEOUT_S):
            pass
    except OSError as exc:
        reason = "no answer" if isinstance(exc, TimeoutError) else (exc.strerror or str(exc))
        raise ConnectionError(f"nothing listens at {host}:{port} ({reason})") from None


AUTH_HINT = (
    "the cluster asks for its token: set RAY_AUTH_MODE=token here, with the head's token "
    "in ~/.ray/auth_token or RAY_AUTH_TOKEN (`ray get-auth-token` on the head prints it)"
)


@contextlib.contextmanager
def _quiet_stderr() -> Iterator[tuple[int, Path]]:
    """Send fd 2 (where Ray's C++ client logs its retries) to a scratch file; yield a
    duplicate of the real stderr, and the scratch file."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryDirectory() as scratch_dir:
        scratch = Path(scratch_dir) / "ray-connect.log"
        with scratch.open("wb") as held_back:
            os.dup2(held_back.fileno(), 2)
            try:
                yield saved, scratch
            finally:
                sys.stderr.flush()
                os.dup2(saved, 2)
                os.close(saved)


@contextlib.contextmanager
def _watchdog(timeout_s: float, address: str, stderr: int, held_back: Path) -> Iterator[None]:
    """End the process with one ``error:`` line if the block is still running after
    ``timeout_s`` (nothing is written before a sweep has connected); Ray's held-back
    logs tell a cluster that wants a token from one that does not answer."""
    done = threading.Event()

    def expire() -> None:
        deadline = time.monotonic() + timeout_s
        while not done.wait(0.5):
            logs = held_back.read_text(errors="replace") if held_back.exists() else ""
            if "InvalidAuthToken" in logs:  # Ray would retry it for minutes
                reason = AUTH_HINT
            elif time.monotonic() > deadline:
                reason = f"no answer within {timeout_s:.0f} s"
            else:
                continue
            os.write(stderr, f"error: cannot reach Ray at {address}: {reason}\n".encode())
            os._exit(2)

    threading.Thread(target=expire, daemon=True).start()
    try:
        yield
    finally:
        done.set()


def run_ray(
    sweep: Sweep,
    max_concurrent: int | None,
    on_result: Callable[[TrialResult], None],
) -> list[TrialResult]:
    """Every trial, or population of trials (:func:`~coordrl.agents.sweep.batches`), as a
    Tune trial (Ray connected first, see :func:`connect`); a Tune trial that errors inside
    Ray is reported as failed for each of its trials."""
    from ray import tune

    index = {trial.name: i for i, trial in enumerate(sweep.trials)}
    work = [[index[t.name] for t in batch] for batch in batches(sweep)]
    todo = {i for batch in work for i in batch}
    skipped = {
        i: TrialResult(trial.name, "skipped", str(trial.run_dir))
        for i, trial in enumerate(sweep.trials)
        if i not in todo
    }
    for result in skipped.values():
        on_result(result)
    if not work:
        return list(skipped.values())

    stop_file = sweep.out / SWEEP_STOP
    stop_file.unlink(missing_ok=True)  # a stop file of an earlier, interrupted sweep

    def lost(batch: int, message: str) -> list[TrialResult]:
        return [
            TrialResult(sweep.trials[i].name, "failed", str(sweep.trials[i].run_dir), message)
            for i in work[batch]
        ]

    class Report(tune.Callback):
        def on_step_begin(self, iteration, trials, **info) -> None:
            if signals.received is not None and not stop_file.exists():
                stop_file.touch()  # every trial's process checkpoints and exits

        def on_trial_result(self, iteration, trials, trial, result, **info) -> None:
            for row in json.loads(result["results"]):
                on_result(TrialResult(**row))

        def on_trial_error(self, iteration, trials, trial, **info) -> None:
            for result in lost(trial.config["index"], LOST):
                on_result(result)

    def name(tune_trial) -> str:
        batch = work[tune_trial.config["index"]]
        first = sweep.trials[batch[0]].name
        return first if len(batch) == 1 else f"{first}+{len(batch) - 1}"

    trainable = tune.with_resources(
        tune.with_parameters(_trainable, sweep=sweep, work=work),
        {"cpu": sweep.cpus, "gpu": sweep.gpus},
    )
    tuner = tune.Tuner(
        trainable,
        param_space={"index": tune.grid_search(list(range(len(work))))},
        tune_config=tune.TuneConfig(
            max_concurrent_trials=max_concurrent,
            trial_name_creator=name,
            trial_dirname_creator=name,
        ),
        run_config=tune.RunConfig(
            name=time.strftime("tune-%Y%m%d-%H%M%S"),
            storage_path=str((sweep.out / ".tune").resolve()),
            callbacks=[Report()],
            verbose=0,
            # a trial whose worker or node is lost runs again (resuming its checkpoint)
            failure_config=tune.FailureConfig(max_failures=MAX_RETRIES),
        ),
    )
    # Tune's own Ctrl-C handling kills the trials' actors; ours lets each trial checkpoint
    os.environ["TUNE_DISABLE_SIGINT_HANDLER"] = "1"
    try:
        with StopSignals() as signals:
            grid = tuner.fit()
    finally:
        stop_file.unlink(missing_ok=True)
    by_name: dict[str, TrialResult] = {r.name: r for r in skipped.values()}
    for batch in range(len(work)):
        found = [r for r in grid if r.config and r.config.get("index") == batch]
        metrics = found[0].metrics if found else {}
        if metrics and "results" in metrics:
            by_name.update(
                (row["name"], TrialResult(**row)) for row in json.loads(metrics["results"])
            )
        else:
            error = found[0].error if found else None
            first = str(error).strip().splitlines()[0] if error else "it did not run"
            by_name.update((r.name, r) for r in lost(batch, f"{LOST} ({first})"))
    return [by_name[trial.name] for trial in sweep.trials]


FIELDS = dataclasses.fields(TrialResult)
LOST = "its Ray worker or node was lost; re-run the sweep to resume it from its last checkpoint"

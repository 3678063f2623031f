"""Run a sweep's trials on Ray Tune: the same :func:`coordrl.agents.sweep.run_trial`, placed by Ray.

Ray decides where each trial runs from its resources (``cpus``, ``gpus``, fractions
allowed); the trial itself is the same ``coordrl train`` process as in a local sweep, so
its run directory is written where the sweep's ``out`` points. On a cluster that path
must be on storage every node shares (NFS or similar), and every node needs coordrl
installed in the same Python environment.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable
from typing import Any

from coordrl.agents.sweep import TrialResult, is_done, run_trial
from coordrl.sweeps import Sweep


def _trainable(params: dict[str, Any], sweep: Sweep) -> None:
    """One Tune trial: run the sweep's trial number ``params["index"]`` and report how."""
    from ray import tune

    trial = sweep.trials[params["index"]]
    result = run_trial(trial, sweep.evaluate, threads=max(1, int(sweep.cpus)))
    tune.report(dataclasses.asdict(result))


def connect(address: str | None) -> None:
    """``ray.init``: ``address`` or ``RAY_ADDRESS`` (a cluster), else a fresh local Ray."""
    import ray

    if ray.is_initialized():
        return
    ray.init(address=address, log_to_driver=False, logging_level=logging.WARNING)


def run_ray(
    sweep: Sweep,
    max_concurrent: int | None,
    on_result: Callable[[TrialResult], None],
) -> list[TrialResult]:
    """Every trial as a Tune trial (Ray connected first, see :func:`connect`); a trial that
    errors inside Ray is reported as failed."""
    from ray import tune

    todo = [i for i, trial in enumerate(sweep.trials) if not is_done(trial, sweep.evaluate)]
    skipped = {
        i: TrialResult(trial.name, "skipped", str(trial.run_dir))
        for i, trial in enumerate(sweep.trials)
        if i not in todo
    }
    for result in skipped.values():
        on_result(result)
    if not todo:
        return list(skipped.values())

    class Report(tune.Callback):
        def on_trial_result(self, iteration, trials, trial, result, **info) -> None:
            on_result(TrialResult(**{f.name: result[f.name] for f in FIELDS}))

        def on_trial_error(self, iteration, trials, trial, **info) -> None:
            name = sweep.trials[trial.config["index"]].name
            run_dir = str(sweep.trials[trial.config["index"]].run_dir)
            on_result(TrialResult(name, "failed", run_dir, "the Ray trial errored"))

    trainable = tune.with_resources(
        tune.with_parameters(_trainable, sweep=sweep), {"cpu": sweep.cpus, "gpu": sweep.gpus}
    )
    tuner = tune.Tuner(
        trainable,
        param_space={"index": tune.grid_search(todo)},
        tune_config=tune.TuneConfig(
            max_concurrent_trials=max_concurrent,
            trial_name_creator=lambda t: sweep.trials[t.config["index"]].name,
            trial_dirname_creator=lambda t: sweep.trials[t.config["index"]].name,
        ),
        run_config=tune.RunConfig(
            name=time.strftime("tune-%Y%m%d-%H%M%S"),
            storage_path=str((sweep.out / ".tune").resolve()),
            callbacks=[Report()],
            verbose=0,
        ),
    )
    grid = tuner.fit()
    results = []
    for index, trial in enumerate(sweep.trials):
        if index in skipped:
            results.append(skipped[index])
            continue
        found = [r for r in grid if r.config and r.config.get("index") == index]
        metrics = found[0].metrics if found else {}
        if metrics and "status" in metrics:
            results.append(TrialResult(**{f.name: metrics[f.name] for f in FIELDS}))
        else:
            error = found[0].error if found else None
            message = f"the Ray trial errored: {error}" if error else "the Ray trial did not run"
            results.append(TrialResult(trial.name, "failed", str(trial.run_dir), message))
    return results


FIELDS = dataclasses.fields(TrialResult)

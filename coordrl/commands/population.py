"""``coordrl population``: several run directories trained as one population, in one process.

What ``coordrl sweep`` runs for a batch of compatible trials (``population:`` in a sweep
file). Each directory holds a run to resume (``config.yaml``) or the config of a run to
start (``sweep-config.yaml``, as a sweep writes it); each member stays an ordinary run.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from coordrl.commands.common import UserError, positive_float, positive_int, quoted, writable_dir


def _member_configs(args: argparse.Namespace) -> tuple[list, bool]:
    """Each member's checked config, and whether the population resumes."""
    from coordrl.agents.trainers import preflight
    from coordrl.config import load_config, load_run_config, merge, validate
    from coordrl.runs import CONFIG_FILE, SWEEP_CONFIG, is_finished, is_run_dir

    overrides = {
        key: value
        for key, value in (("timesteps", args.timesteps), ("device", args.device))
        if value is not None
    }
    started = [is_run_dir(d) for d in args.run_dirs]
    if any(started) and not all(started):
        fresh = next(d for d, s in zip(args.run_dirs, started, strict=True) if not s)
        raise UserError(
            f"{fresh} has not started while other members have: a population starts and "
            "resumes together (train the members one by one with coordrl train)"
        )
    configs = []
    for run_dir in args.run_dirs:
        if is_run_dir(run_dir):
            if is_finished(run_dir):
                raise UserError(f"{run_dir} is finished: leave it out of the population")
            config = validate(merge(load_run_config(run_dir).to_dict(), overrides), "command line")
            source = f"{run_dir / CONFIG_FILE}"
        elif (run_dir / SWEEP_CONFIG).is_file():
            config = load_config(run_dir / SWEEP_CONFIG, overrides)
            source = f"{run_dir / SWEEP_CONFIG}"
        else:
            raise UserError(f"{run_dir} holds neither a run ({CONFIG_FILE}) nor a {SWEEP_CONFIG}")
        configs.append(preflight(config, source))
    return configs, all(started)


def population_command(args: argparse.Namespace) -> None:
    from coordrl.agents.population import check_population, train

    args.run_dirs = [Path(d) for d in args.run_dirs]
    if len(set(args.run_dirs)) != len(args.run_dirs):
        raise UserError("a run directory is named twice")
    configs, resume = _member_configs(args)
    check_population(configs, "population")
    for run_dir in args.run_dirs:
        writable_dir(run_dir)
    first = configs[0]
    verb = "resuming" if resume else "training"
    print(
        f"{verb} a population of {len(configs)} {first.algo.upper()} agents on {first.env} for "
        f"{first.timesteps:,} steps each, {first.n_envs} envs each"
    )
    outcomes = train(configs, args.run_dirs, resume=resume, lock_wait_s=args.wait_for_lock)
    for outcome in outcomes:
        score = (
            ""
            if outcome.recent_score is None
            else f", recent mean score {outcome.recent_score:.3g}"
        )
        print(f"{outcome.run_dir}: {outcome.timesteps:,} steps{score}")
    if not outcomes[0].finished:
        dirs = " ".join(quoted(d) for d in args.run_dirs)
        print(f"stopped; go on: coordrl population {dirs}")


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "population",
        help="train several run directories as one population (what sweeps run)",
        description="Train run directories that share an env, an on-device algorithm and a "
        "network as one batched computation; each stays an ordinary run.",
    )
    parser.add_argument(
        "run_dirs", nargs="+", metavar="RUN_DIR", help="a run, or a folder with sweep-config.yaml"
    )
    parser.add_argument("--timesteps", type=positive_int, help="total env steps per member")
    parser.add_argument("--device", help="auto, cpu, cuda or cuda:N")
    parser.add_argument(
        "--wait-for-lock",
        type=positive_float,
        default=0.0,
        metavar="SECONDS",
        help="if another process holds a member, wait this long for it to go (default 0)",
    )
    parser.set_defaults(func=population_command)

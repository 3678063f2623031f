"""``coordrl population``: several run directories trained as one population, in one process.

By hand what ``coordrl sweep`` does for a batch of compatible trials (``population:`` in a
sweep file, through the same functions in its worker). Each directory holds a run to resume
(``config.yaml``) or the config of a run to start (``sweep-config.yaml``, as a sweep writes
it); each member stays an ordinary run.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from coordrl.commands.common import UserError, positive_float, positive_int, quoted, writable_dir


def population_command(args: argparse.Namespace) -> None:
    from coordrl.agents.population import check_population, describe_population, train
    from coordrl.agents.trainers import configs_to_train

    run_dirs = [Path(d) for d in args.run_dirs]
    if len(set(run_dirs)) != len(run_dirs):
        raise UserError("a run directory is named twice")
    configs, resume = configs_to_train(run_dirs, timesteps=args.timesteps, device=args.device)
    check_population(configs, "population")
    for run_dir in run_dirs:
        writable_dir(run_dir)
    print(describe_population(configs, resume=resume))
    outcomes = train(configs, run_dirs, resume=resume, lock_wait_s=args.wait_for_lock)
    for outcome in outcomes:
        print(f"{outcome.run_dir}: {outcome.summary}")
    if not outcomes[0].finished:
        dirs = " ".join(quoted(d) for d in run_dirs)
        print(f"stopped; go on: coordrl population {dirs}")


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "population",
        help="train several run directories as one population (as sweeps do)",
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

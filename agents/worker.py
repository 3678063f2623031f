"""The process a sweep starts for a trial: ``python -m coordrl.agents.worker``.

``train RUN_DIR...`` trains run directories, one alone or several as one population; each
holds a run to resume (``config.yaml``) or the config of a run to start
(``sweep-config.yaml``, as a sweep writes it). ``evaluate RUN_DIR --out FILE`` scores a
trained one. It does for such directories what ``coordrl train``, ``coordrl population``
and ``coordrl evaluate`` do, through the same functions, on the trainers' floor: the sweep
runner (:mod:`coordrl.agents.sweep`) never starts the command above it. A mistake is one
``error:`` line and exit code 2; SIGTERM checkpoints the run, which then exits.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from coordrl.agents import population, trainers
from coordrl.agents.run_evaluation import evaluate_run
from coordrl.config import load_run_config
from coordrl.device import resolve_device
from coordrl.errors import exit_code
from coordrl.runs import find_model
from coordrl.signals import exit_with_parent


def train(args: argparse.Namespace) -> None:
    """Train (or resume) the run directories: one alone, several as a population."""
    configs, resume = trainers.configs_to_train(
        args.run_dirs, timesteps=args.timesteps, device=args.device
    )
    if len(configs) == 1:
        print(trainers.describe_run(configs[0], args.run_dirs[0], resume=resume))
        outcome = trainers.train(
            configs[0], args.run_dirs[0], resume=resume, lock_wait_s=args.wait_for_lock
        )
        outcomes = [outcome]
    else:
        population.check_population(configs, "population")
        print(population.describe_population(configs, resume=resume))
        outcomes = population.train(
            configs, args.run_dirs, resume=resume, lock_wait_s=args.wait_for_lock
        )
    for outcome in outcomes:
        state = "done" if outcome.finished else "stopped"
        print(f"{outcome.run_dir}: {state}, {outcome.summary}")


def evaluate(args: argparse.Namespace) -> None:
    """Score a run directory's model into ``args.out``."""
    model_path, run_dir = find_model(args.run_dir)
    config = load_run_config(run_dir)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    summary = evaluate_run(
        config,
        model_path,
        resolve_device("auto"),
        args.out,
        episodes=args.episodes,
        deterministic=args.deterministic,
        seed=args.seed,
    )
    for line in summary:
        print(line)


def build_parser() -> argparse.ArgumentParser:
    """The worker's arguments: those of ``coordrl train`` / ``evaluate`` a sweep uses."""
    parser = argparse.ArgumentParser(prog="python -m coordrl.agents.worker")
    commands = parser.add_subparsers(dest="command", required=True)
    training = commands.add_parser("train", help="train or resume run directories")
    training.add_argument("run_dirs", nargs="+", type=Path, metavar="RUN_DIR")
    training.add_argument("--timesteps", type=int, help="total env steps per run")
    training.add_argument("--device", help="auto, cpu, cuda or cuda:N")
    training.add_argument("--wait-for-lock", type=float, default=0.0, metavar="SECONDS")
    training.set_defaults(func=train)
    evaluation = commands.add_parser("evaluate", help="score a trained run directory")
    evaluation.add_argument("run_dir", type=Path)
    evaluation.add_argument("--out", type=Path, required=True, help="the scores' JSON file")
    evaluation.add_argument("--episodes", type=int)
    evaluation.add_argument("--deterministic", action="store_true")
    evaluation.add_argument("--seed", type=int, default=0)
    evaluation.set_defaults(func=evaluate)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    exit_with_parent()

    def work() -> None:
        args = build_parser().parse_args(argv)
        args.func(args)

    return exit_code(work)


if __name__ == "__main__":
    sys.exit(main())

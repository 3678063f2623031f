"""The ``coordrl`` command. User mistakes end as one ``error:`` line on stderr and exit code 2.

The top floor: it may import anything below it, and nothing imports it. Subcommands import
their machinery lazily so that ``coordrl --help`` stays fast.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

USER_ERROR = 2


class UserError(Exception):
    """A mistake in what the user asked for: reported as one line, exit code 2."""


class Parser(argparse.ArgumentParser):
    """argparse with one-line errors: ``error: ...`` and exit code 2, no usage dump."""

    def error(self, message: str) -> NoReturn:
        print(f"error: {message} (see {self.prog} --help)", file=sys.stderr)
        raise SystemExit(USER_ERROR)


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {value}")
    return value


def writable_dir(path: Path) -> Path:
    """Create ``path`` if needed and check that files can be written there."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / ".coordrl-write-test"
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        raise UserError(f"cannot write to {path}: {exc.strerror or exc}") from None
    return path


# ---------------------------------------------------------------- coordrl toy ...


def toy_data(args: argparse.Namespace) -> None:
    from coordrl.toy.data import make_dataset, write_h5

    out = writable_dir(Path(args.out))
    for split in args.split:
        dataset = make_dataset(split, args.seed)
        path = write_h5(dataset, out / f"rectangle_4_{split}.h5")
        print(
            f"{split}: {len(dataset.train_positions)} train, {len(dataset.test_positions)} test "
            f"-> {path}"
        )


def toy_train(args: argparse.Namespace) -> None:
    from coordrl.toy.data import read_h5
    from coordrl.toy.train import ToyConfig, train

    config = ToyConfig(
        task=args.task,
        split=args.split,
        arch=args.arch,
        epochs=args.epochs,
        lr=args.lr,
        weight_decay=args.weight_decay,
        batch_size=args.batch_size,
        seed=args.seed,
        device=args.device,
    )
    try:
        config.validate()
    except ValueError as exc:
        raise UserError(str(exc)) from None
    dataset = None
    if args.data is not None:
        if not Path(args.data).is_file():
            raise UserError(f"no such data file: {args.data}")
        try:
            dataset = read_h5(args.data, split=args.split)
        except (OSError, ValueError) as exc:
            raise UserError(f"cannot read {args.data}: {exc}") from None
    default = Path("runs/toy") / f"{args.task}-{args.split}-{args.arch}-seed{args.seed}"
    from coordrl.runs import fresh_run_dir

    out = writable_dir(fresh_run_dir(Path(args.out) if args.out else default))
    result = train(config, out, dataset=dataset)
    print(result.summary())
    print(f"result: {out / 'result.json'}")
    print(f"TensorBoard: tensorboard --logdir {out}")


def toy_table(args: argparse.Namespace) -> None:
    from coordrl.device import resolve_device
    from coordrl.toy.plots import plot_curves, plot_predictions
    from coordrl.toy.table import collect_rows, run_trials, trial_configs, write_table

    try:
        resolve_device(args.device)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    out = writable_dir(Path(args.out))
    configs = trial_configs(args.seeds, device=args.device, epochs_scale=args.epochs_scale)
    print(f"{len(configs)} trials under {out / 'runs'} ({args.workers} worker processes)")
    failures = run_trials(configs, out, workers=args.workers)
    rows = collect_rows(configs, out)
    if not rows:
        raise UserError("no trial finished, so there is no table to write")
    md, csv_path = write_table(rows, out)
    figures = [
        plot_predictions(rows, out / "predictions.png"),
        plot_curves(rows, out / "curves.png"),
    ]
    print(md.read_text())
    print(f"table: {md}, {csv_path}")
    print(f"figures: {', '.join(str(f) for f in figures)}")
    if failures:
        raise UserError(f"{len(failures)} trial(s) failed: {'; '.join(failures)}")


TOY_TASKS = ("point", "navigate")


def toy_rl(args: argparse.Namespace) -> None:
    from agents.outcome import RunError
    from agents.toy_experiment import plot_curves, run_trial, summarise, trials, write_table
    from coordrl.config import ConfigError, parse_overrides

    out = writable_dir(Path(args.out))
    overrides = parse_overrides(args.set)
    for key in ("device", "n_envs", "timesteps"):
        if getattr(args, key) is not None:
            overrides[key] = getattr(args, key)
    if args.canvas is not None:
        overrides["env_kwargs"] = {**overrides.get("env_kwargs", {}), "canvas": args.canvas}
    try:
        todo = trials(args.seeds, out, REPO_ROOT / "configs" / "toy", overrides, args.tasks)
    except ConfigError as exc:
        raise UserError(str(exc)) from None
    print(f"{len(todo)} trials ({', '.join(args.tasks)} x conv, coordconv x {args.seeds} seeds)")
    done, failures = [], []
    for index, trial in enumerate(todo, 1):
        label = f"[{index}/{len(todo)}] {trial.task} {trial.arch} seed {trial.seed}"
        try:
            result = run_trial(trial, args.episodes)
        except (RunError, ValueError) as exc:
            failures.append(f"{label}: {exc}")
            print(f"{label}: failed: {exc}", file=sys.stderr)
            continue
        done.append((trial, result))
        print(
            f"{label}: held-out success {100 * result['test']['success_rate']:.1f}%, "
            f"training {100 * result['train']['success_rate']:.1f}%"
        )
    if not done:
        raise UserError("no trial finished, so there is no table to write")
    rows = summarise(done)
    table = write_table(rows, out)
    figure = plot_curves(done, out)
    print(table.read_text(), end="")
    print(f"table: {table}\nfigure: {figure}")
    if failures:
        raise UserError(f"{len(failures)} trial(s) failed: {'; '.join(failures)}")


def add_toy_commands(subparsers: argparse._SubParsersAction) -> None:
    from coordrl.toy.data import OFFICIAL_SPLIT_SEED, SPLITS
    from coordrl.toy.models import ARCHS, TASKS

    toy = subparsers.add_parser(
        "toy", help="the paper's coordinate tasks (supervised), and the toy RL experiment"
    )
    toy_sub = toy.add_subparsers(dest="toy_command", required=True, parser_class=Parser)

    data = toy_sub.add_parser("data", help="write Not-so-Clevr in the official HDF5 layout")
    data.add_argument("--split", choices=SPLITS, nargs="+", default=list(SPLITS))
    data.add_argument("--out", required=True, help="directory for rectangle_4_<split>.h5")
    data.add_argument(
        "--seed",
        type=int,
        default=OFFICIAL_SPLIT_SEED,
        help="uniform-split seed (default: the official one)",
    )
    data.set_defaults(func=toy_data)

    train = toy_sub.add_parser("train", help="train one conv or CoordConv model")
    train.add_argument("--task", choices=TASKS, default="classification")
    train.add_argument("--split", choices=SPLITS, default="quadrant")
    train.add_argument("--arch", choices=ARCHS, default="coordconv")
    train.add_argument("--epochs", type=positive_int, default=10)
    train.add_argument("--lr", type=positive_float, default=0.01)
    train.add_argument("--weight-decay", type=float, default=0.001)
    train.add_argument("--batch-size", type=positive_int, default=32)
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    train.add_argument("--data", help="an HDF5 file in the official layout (default: generate)")
    train.add_argument(
        "--out", help="run directory (default: runs/toy/<task>-<split>-<arch>-seed<seed>)"
    )
    train.set_defaults(func=toy_train)

    table = toy_sub.add_parser("table", help="every task x split x arch: table and figures")
    table.add_argument("--seeds", type=positive_int, default=1)
    table.add_argument("--workers", type=positive_int, default=2, help="parallel trial processes")
    table.add_argument(
        "--epochs-scale",
        type=positive_float,
        default=1.0,
        help="multiply every task's epoch budget (default 1: ~30 min on 2 cores)",
    )
    table.add_argument("--device", default="cpu")
    table.add_argument("--out", default="results/toy")
    table.set_defaults(func=toy_table)

    rl = toy_sub.add_parser(
        "rl", help="RL: conv vs CoordConv over seeds on the torch toy envs' quadrant split"
    )
    rl.add_argument("--seeds", type=positive_int, default=5)
    rl.add_argument(
        "--tasks", nargs="+", choices=("point", "navigate"), default=["point", "navigate"]
    )
    rl.add_argument("--timesteps", type=positive_int, help="per run (default: the config's)")
    rl.add_argument("--n-envs", type=positive_int)
    rl.add_argument("--canvas", type=positive_int, help="canvas size (default: 64)")
    rl.add_argument("--episodes", type=positive_int, default=1000, help="per evaluation")
    rl.add_argument("--device", help="auto, cpu, cuda or cuda:N (default: the config's)")
    rl.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    rl.add_argument("--out", default="results/toyrl")
    rl.set_defaults(func=toy_rl)


# ---------------------------------------------------------------- coordrl train / evaluate

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CONFIG = REPO_ROOT / "configs" / "atari" / "ppo.yaml"
QUICK_START = {"timesteps": 20_000, "checkpoint_every": 10_000}
RESUMABLE_CHANGES = ("timesteps", "device")


def _train_overrides(args: argparse.Namespace) -> dict:
    from coordrl.config import parse_overrides

    overrides = parse_overrides(args.set)
    flags = {
        "env": args.env,
        "arch": args.arch,
        "seed": args.seed,
        "timesteps": args.timesteps,
        "n_envs": args.n_envs,
        "device": args.device,
    }
    overrides.update({key: value for key, value in flags.items() if value is not None})
    return overrides


def train_command(args: argparse.Namespace) -> None:
    from agents.training import RunError, preflight, read_run_config, train
    from coordrl.config import ConfigError, is_toy_env, load_config, merge, validate
    from coordrl.device import resolve_device
    from coordrl.runs import CONFIG_FILE, fresh_run_dir, is_run_dir
    from envs.atari import resolve_env_id

    try:
        overrides = _train_overrides(args)
        if args.resume is not None:
            run_dir = Path(args.resume)
            config = read_run_config(run_dir)
            changed = sorted(set(overrides) - set(RESUMABLE_CHANGES))
            if changed or args.config is not None:
                raise UserError(
                    f"--resume continues a run with its own config; only --timesteps and "
                    f"--device may change (got {', '.join(changed) or '--config'})"
                )
            config = validate(merge(config.to_dict(), overrides), "command line")
        else:
            quick = args.config is None and not overrides
            config_path = Path(args.config) if args.config else DEFAULT_CONFIG
            if quick:
                overrides = dict(QUICK_START)
                print(
                    f"quick start: {config_path.relative_to(REPO_ROOT)} with CoordConv for "
                    f"{QUICK_START['timesteps']:,} steps (pass --config for a full run)"
                )
            config = load_config(config_path, overrides)
        if not is_toy_env(config.env):
            config = config.replace(env=resolve_env_id(config.env))
        device = resolve_device(config.device)
        preflight(config)
    except (ConfigError, RunError, ValueError) as exc:
        raise UserError(str(exc)) from None

    if args.resume is None:
        family = "toyrl" if is_toy_env(config.env) else "atari"
        game = config.env.split("/")[-1].removesuffix("-v5").removesuffix("-v0")
        name = f"{game}-{config.algo}-{config.arch}-seed{config.seed}"
        default = Path("runs") / family / name
        run_dir = Path(args.run_dir) if args.run_dir else fresh_run_dir(default, CONFIG_FILE)
        if is_run_dir(run_dir):
            raise UserError(f"{run_dir} already holds a run: --resume it or pick another --run-dir")
    writable_dir(run_dir)
    verb = "resuming" if args.resume else "training"
    print(
        f"{verb} {config.algo.upper()} ({config.arch}) on {config.env} for {config.timesteps:,} "
        f"steps, {config.n_envs} envs, {device} -> {run_dir}"
    )
    try:
        outcome = train(config, run_dir, resume=args.resume is not None)
    except RunError as exc:
        raise UserError(str(exc)) from None
    score = (
        "" if outcome.recent_score is None else f", recent mean score {outcome.recent_score:.1f}"
    )
    if not outcome.finished:
        print(
            f"stopped at step {outcome.timesteps:,}{score}; go on: coordrl train --resume {run_dir}"
        )
        return
    print(f"done: {outcome.timesteps:,} steps{score}")
    if config.algo == "device_ppo":
        print(f"run: {run_dir} (model.pt, config.yaml, rollouts.csv, checkpoints/)")
    else:
        print(f"run: {run_dir} (model.zip, config.yaml, episodes.csv, checkpoints/)")
    print(f"TensorBoard: tensorboard --logdir {run_dir.parent}")
    if is_toy_env(config.env):
        print(f"evaluate on held-out positions: coordrl evaluate {run_dir}")
    else:
        print(f"evaluate: coordrl evaluate {run_dir} --episodes 10 --video {run_dir / 'videos'}")


MODEL_NAMES = ("model.zip", "model.pt")  # SB3 agents; on-device PPO agents
CHECKPOINT_NAMES = ("model.zip", "state.pt")


def _find_model(target: Path) -> tuple[Path, Path]:
    """(model file, run directory) for a run directory, its model or a checkpoint's."""
    from coordrl.runs import is_run_dir, list_checkpoints

    if target.is_dir():
        if not is_run_dir(target):
            raise UserError(f"{target} is not a run directory (it has no config.yaml)")
        for name in MODEL_NAMES:
            if (target / name).is_file():
                return target / name, target
        checkpoints = list_checkpoints(target)
        for name in CHECKPOINT_NAMES if checkpoints else ():
            if (checkpoints[-1][1] / name).is_file():
                return checkpoints[-1][1] / name, target
        raise UserError(f"{target} has no model and no checkpoint yet")
    if not target.is_file():
        raise UserError(f"no such run directory or model file: {target}")
    for parent in target.parents:
        if is_run_dir(parent):
            return target, parent
    raise UserError(f"{target} is not inside a run directory, so its config is unknown")


def _fresh_file(folder: Path, model_path: Path) -> Path:
    """``eval/model.json``, or ``model-2.json``... : an earlier evaluation is never overwritten."""
    parent = model_path.parent.name
    stem = parent if parent.startswith("step_") else model_path.stem
    path, n = folder / f"{stem}.json", 1
    while path.exists():
        n += 1
        path = folder / f"{stem}-{n}.json"
    return path


def evaluate_command(args: argparse.Namespace) -> None:
    from agents.outcome import RunError
    from agents.training import read_run_config
    from coordrl.config import is_toy_env
    from coordrl.device import resolve_device

    model_path, run_dir = _find_model(Path(args.target))
    try:
        config = read_run_config(run_dir)
        device = resolve_device(args.device)
    except (RunError, ValueError) as exc:
        raise UserError(str(exc)) from None
    out = Path(args.out) if args.out else _fresh_file(run_dir / "eval", model_path)
    writable_dir(out.parent)
    if is_toy_env(config.env):
        if args.video is not None or args.env is not None:
            raise UserError("--video and --env apply to Atari runs; toy runs play their own task")
        _evaluate_toy(args, config, model_path, device, out)
    else:
        _evaluate_atari(args, config, model_path, device, out)


def _evaluate_atari(args, config, model_path: Path, device, out: Path) -> None:
    from agents.evaluation import EvaluationError, evaluate, load_for_evaluation, write_json
    from envs.atari import resolve_env_id

    try:
        if args.env is not None:
            config = config.replace(env=resolve_env_id(args.env))
        model = load_for_evaluation(config, model_path, str(device))
        if args.video is not None:
            writable_dir(Path(args.video))
        evaluation = evaluate(
            model,
            config,
            model_path,
            episodes=args.episodes or 10,
            deterministic=args.deterministic,
            seed=args.seed,
            video_dir=Path(args.video) if args.video is not None else None,
            video_episodes=args.video_episodes,
        )
    except (EvaluationError, ValueError) as exc:
        raise UserError(str(exc)) from None
    stats = evaluation.summary()
    print(
        f"{config.env}, {stats['episodes']} games: mean {stats['mean']:.1f} +- {stats['std']:.1f} "
        f"(min {stats['min']:g}, max {stats['max']:g})"
    )
    print(f"scores: {write_json(evaluation, out)}")
    for video in evaluation.videos:
        print(f"video: {video}")


def _evaluate_toy(args, config, model_path: Path, device, out: Path) -> None:
    import json

    from agents.toy_evaluation import evaluate_part, load_policy
    from coordrl.runs import atomic_path

    episodes = args.episodes or 1000
    try:
        policy = load_policy(config, model_path, device, args.deterministic)
    except ValueError as exc:  # RunError, EvaluationError: unreadable or mismatched model
        raise UserError(str(exc)) from None
    parts = {
        part: evaluate_part(config, policy, part, episodes, args.seed, device)
        for part in ("test", "train")
    }
    result = {
        "model": str(model_path),
        "env": config.env,
        "env_kwargs": dict(config.env_kwargs),
        "deterministic": args.deterministic,
        **parts,
    }
    with atomic_path(out) as tmp:
        tmp.write_text(json.dumps(result, indent=2) + "\n")
    for part, label in (("test", "held-out positions"), ("train", "training positions")):
        r = parts[part]
        print(
            f"{label:<19} success {100 * r['success_rate']:5.1f}% +- {100 * r['success_se']:.1f} "
            f"(n={r['episodes']}), mean return {r['mean_return']:.3f}"
        )
    print(f"scores: {out}")


def compare_command(args: argparse.Namespace) -> None:
    from coordrl.analysis.compare import (
        fairness_warnings,
        group_arms,
        table_rows,
        write_tables,
    )
    from coordrl.analysis.plots import plot_learning_curves
    from coordrl.analysis.runs import RunReadError, find_runs, read_run

    try:
        runs = [read_run(path) for path in find_runs(args.runs)]
    except RunReadError as exc:
        raise UserError(str(exc)) from None
    out = writable_dir(Path(args.out))
    arms = group_arms(runs)
    md, csv_path = write_tables(table_rows(arms, args.last), out)
    curves = plot_learning_curves(arms, out / "curves.png")
    print(md.read_text(), end="")
    for warning in fairness_warnings(arms):
        print(f"warning: {warning}", file=sys.stderr)
    print(f"final score: mean true score of each run's last {args.last} training games")
    print(f"table: {md}, {csv_path}\nfigure: {curves}")


def add_train_commands(subparsers: argparse._SubParsersAction) -> None:
    train = subparsers.add_parser(
        "train",
        help="train an agent: Atari or a toy env (no arguments: a short CoordConv PPO run)",
        description="Train an agent (SB3 on Atari or the toy envs, or the on-device PPO on "
        "the toy envs) into a run directory.",
    )
    train.add_argument("--config", help="YAML config (default: configs/atari/ppo.yaml)")
    train.add_argument("--env", help="ALE/<Game>-v5 or <Game> (e.g. Breakout), or coordrl/...")
    arch = train.add_mutually_exclusive_group()
    arch.add_argument("--coordconv", dest="arch", action="store_const", const="coordconv")
    arch.add_argument("--conv", dest="arch", action="store_const", const="conv")
    train.add_argument("--seed", type=int)
    train.add_argument("--timesteps", type=positive_int, help="total env steps")
    train.add_argument("--n-envs", type=positive_int)
    train.add_argument("--device", help="auto, cpu, cuda or cuda:N")
    train.add_argument("--run-dir", help="default: runs/atari/<game>-<algo>-<arch>-seed<seed>")
    train.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config key, e.g. --set hyperparams.n_steps=64 (repeatable)",
    )
    train.add_argument("--resume", metavar="RUN_DIR", help="go on from the run's last checkpoint")
    train.set_defaults(func=train_command)

    evaluate = subparsers.add_parser("evaluate", help="score a saved agent, record videos")
    evaluate.add_argument("target", help="a run directory or a model.zip inside one")
    evaluate.add_argument(
        "--episodes", type=positive_int, help="games (Atari, default 10) or episodes (toy, 1000)"
    )
    evaluate.add_argument("--deterministic", action="store_true", help="greedy actions")
    evaluate.add_argument("--video", metavar="DIR", help="record MP4s of the first games here")
    evaluate.add_argument("--video-episodes", type=positive_int, default=1)
    evaluate.add_argument("--env", help="play another env than the run's (same game family)")
    evaluate.add_argument("--seed", type=int, default=0)
    evaluate.add_argument("--device", default="auto")
    evaluate.add_argument("--out", help="scores JSON (default: RUN_DIR/eval/<model>.json)")
    evaluate.set_defaults(func=evaluate_command)

    compare = subparsers.add_parser("compare", help="table and curves of runs across seeds")
    compare.add_argument("runs", nargs="+", help="run directories, or directories holding them")
    compare.add_argument("--out", required=True, help="directory for table.md/.csv, curves.png")
    compare.add_argument(
        "--last", type=positive_int, default=10, help="games per run in its final score"
    )
    compare.set_defaults(func=compare_command)


def build_parser() -> Parser:
    parser = Parser(prog="coordrl", description="CoordConv for deep reinforcement learning")
    subparsers = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    add_train_commands(subparsers)
    add_toy_commands(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return USER_ERROR
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""``coordrl toy data | train | table | rl``: the supervised tasks and the toy RL experiment."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from coordrl.commands.common import (
    REPO_ROOT,
    Parser,
    UserError,
    positive_float,
    positive_int,
    writable_dir,
)


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


def add_parser(subparsers: argparse._SubParsersAction) -> None:
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

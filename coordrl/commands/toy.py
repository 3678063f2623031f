"""``coordrl toy data | train | table``: the paper's supervised coordinate tasks."""

from __future__ import annotations

import argparse
from pathlib import Path

from coordrl.commands.common import (
    Parser,
    UserError,
    new_run_dir,
    positive_float,
    positive_int,
    quoted,
    writable_dir,
)
from coordrl.runs import TOY_RESULT


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

    dataset = None
    if args.data is not None:
        if not Path(args.data).is_file():
            raise UserError(f"no such data file: {args.data}")
        try:
            dataset = read_h5(args.data, split=args.split)
        except (OSError, ValueError) as exc:
            raise UserError(f"cannot read {args.data}: {exc}") from None
    split = dataset.split if dataset is not None else args.split or "quadrant"
    config = ToyConfig(
        task=args.task,
        split=split,
        arch=args.arch,
        epochs=args.epochs,
        lr=args.lr,
        weight_decay=args.weight_decay,
        batch_size=args.batch_size,
        seed=args.seed,
        device=args.device,
    )
    config.validate()
    default = Path("runs/toy") / f"{args.task}-{split}-{args.arch}-seed{args.seed}"
    out = writable_dir(new_run_dir(args.run_dir, default, TOY_RESULT, "pick another --run-dir"))
    result = train(config, out, dataset=dataset)
    print(result.summary())
    print(f"result: {out / 'result.json'}")
    print(f"TensorBoard: tensorboard --logdir {quoted(out)}")


def toy_table(args: argparse.Namespace) -> None:
    from coordrl.device import resolve_device
    from coordrl.toy.plots import plot_curves, plot_predictions
    from coordrl.toy.table import collect_rows, run_trials, trial_configs, write_table

    resolve_device(args.device)
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


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    from coordrl.not_so_clevr import OFFICIAL_SPLIT_SEED, SPLITS
    from coordrl.toy.models import ARCHS, TASKS

    toy = subparsers.add_parser(
        "toy", help="the paper's coordinate tasks (supervised): data, one model, the table"
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
    train.add_argument(
        "--split",
        choices=SPLITS,
        help="default: quadrant, or with --data the split its positions are (a contradiction "
        "is refused)",
    )
    train.add_argument("--arch", choices=ARCHS, default="coordconv")
    train.add_argument("--epochs", type=positive_int, default=10)
    train.add_argument("--lr", type=positive_float, default=0.01)
    train.add_argument("--weight-decay", type=float, default=0.001)
    train.add_argument("--batch-size", type=positive_int, default=32)
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    train.add_argument("--data", help="an HDF5 file in the official layout (default: generate)")
    train.add_argument(
        "--run-dir",
        help="run directory, refused if it holds a run (default: "
        "runs/toy/<task>-<split>-<arch>-seed<seed>, -2, -3... if taken)",
    )
    train.add_argument("--out", dest="run_dir", help=argparse.SUPPRESS)  # its name until 0.2
    train.set_defaults(func=toy_train)

    table = toy_sub.add_parser("table", help="every task x split x arch: table and figures")
    table.add_argument("--seeds", type=positive_int, default=1)
    table.add_argument("--workers", type=positive_int, default=2, help="parallel trial processes")
    table.add_argument(
        "--epochs-scale",
        type=positive_float,
        default=1.0,
        help="multiply every task's epoch budget (default 1: ~45 min on 2 cores)",
    )
    table.add_argument("--device", default="cpu")
    table.add_argument("--out", default="results/toy")
    table.set_defaults(func=toy_table)

"""``coordrl compare``: conv vs CoordConv over seeds, tables and figures from run directories."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from coordrl.commands.common import UserError, positive_int, writable_dir


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


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    compare = subparsers.add_parser("compare", help="table and curves of runs across seeds")
    compare.add_argument("runs", nargs="+", help="run directories, or directories holding them")
    compare.add_argument("--out", required=True, help="directory for table.md/.csv, curves.png")
    compare.add_argument(
        "--last", type=positive_int, default=10, help="games per run in its final score"
    )
    compare.set_defaults(func=compare_command)

"""``coordrl compare``: conv vs CoordConv over seeds, tables and figures from run directories."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from coordrl.commands.common import UserError, positive_int, writable_dir
from coordrl.runs import TOY_RESULT, RunError, is_run_dir


def compare_command(args: argparse.Namespace) -> None:
    from coordrl.analysis import plots
    from coordrl.analysis.compare import (
        aggregates,
        fairness_warnings,
        group_arms,
        table_rows,
        write_tables,
    )
    from coordrl.analysis.runs import find_runs, read_run
    from coordrl.toy.table import read_results

    out = Path(args.out)
    if is_run_dir(out) or (out / TOY_RESULT).is_file():
        raise UserError(f"--out {out} is a run directory; pick a folder of its own")
    supervised = read_results([Path(p) for p in args.runs if Path(p).is_dir()])
    try:
        run_paths = find_runs(args.runs)
    except RunError:
        if not supervised or not all(Path(p).is_dir() for p in args.runs):
            raise
        run_paths = []  # only the supervised toy tasks' runs
    if supervised and run_paths:
        raise UserError(
            f"cannot compare the supervised toy tasks' runs with RL runs ({run_paths[0]}); "
            "compare each on its own"
        )
    if supervised:
        _compare_supervised(supervised, out)
        return
    runs = [read_run(path) for path in run_paths]
    arms = group_arms(runs)
    summary, matrices, notes = aggregates(arms, args.metric, args.last, args.reps, args.seed)
    rows = table_rows(arms, args.last)
    writable_dir(out)
    md, table_csv, aggregates_csv = write_tables(rows, summary, args.last, out)
    figures = [
        plots.plot_learning_curves(arms, out / "curves.png", args.last, args.reps // 10),
        plots.plot_aggregates(summary, out / "aggregates.png"),
        plots.plot_profiles(matrices, summary.scale, out / "profiles.png", args.reps // 10),
    ]
    if summary.improvements:
        figures.append(plots.plot_improvement(summary, out / "improvement.png"))
    print(md.read_text(), end="")
    for warning in [*fairness_warnings(arms), *notes]:
        print(f"warning: {warning}", file=sys.stderr)
    print(f"tables: {md}, {table_csv}, {aggregates_csv}")
    print(f"figures: {', '.join(str(f) for f in figures)}")


def _compare_supervised(results, out: Path) -> None:
    """The paper's toy tasks: the table and figures of ``coordrl toy table``, from its runs."""
    from coordrl.toy.plots import plot_curves, plot_predictions
    from coordrl.toy.table import rows_from_results, write_table

    rows = rows_from_results(results)
    writable_dir(out)
    md, csv_path = write_table(rows, out)
    figures = [
        plot_predictions(rows, out / "predictions.png"),
        plot_curves(rows, out / "curves.png"),
    ]
    print(md.read_text(), end="")
    print(f"tables: {md}, {csv_path}\nfigures: {', '.join(str(f) for f in figures)}")


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    compare = subparsers.add_parser(
        "compare",
        help="conv vs CoordConv over seeds: tables, rliable aggregates and figures",
        description="Group runs by env, algo and arch; per-env final and evaluation scores; "
        "IQM, mean, median, optimality gap and P(CoordConv > conv) with stratified "
        "bootstrap CIs (rliable); learning curves, interval estimates, performance profiles.",
    )
    compare.add_argument("runs", nargs="+", help="run directories, or directories holding them")
    compare.add_argument("--out", required=True, help="directory for the tables and PNGs")
    compare.add_argument(
        "--last",
        type=positive_int,
        default=100,
        help="episodes per run in its final score and curves' running means (default 100, "
        "as TensorBoard's rollout/ep_rew_mean)",
    )
    compare.add_argument(
        "--metric",
        choices=("final", "eval"),
        default="final",
        help="what the aggregates summarise: the final training score, or each run's newest "
        "evaluation (Atari: coordrl evaluate's mean; toy RL: held-out success)",
    )
    compare.add_argument(
        "--reps", type=positive_int, default=10_000, help="bootstrap resamples (default 10000)"
    )
    compare.add_argument("--seed", type=int, default=0, help="bootstrap random seed")
    compare.set_defaults(func=compare_command)

"""``coordrl sweep``: a grid of runs from a sweep file, on this machine or on Ray Tune."""

from __future__ import annotations

import argparse
import os
import sys
from collections import Counter
from pathlib import Path

from coordrl.commands.common import UserError, positive_int, quoted, writable_dir
from coordrl.errors import INTERRUPTED
from coordrl.locks import hold
from coordrl.shipped import find_config
from coordrl.sweeps import Sweep, load_sweep

FAILED = 1


def sweep_command(args: argparse.Namespace) -> int:
    from coordrl.agents.trainers import preflight

    path = find_config(args.sweep, what="sweep file")
    sweep = load_sweep(path, check=preflight)
    writable_dir(sweep.out)
    if args.ray_address is not None:  # before the lock: a failed connect leaves nothing
        _connect_ray(args.ray_address or None)
    with hold(sweep.out, "a sweep"):  # one sweep at a time in an out folder
        return _run(args, path, sweep)


def _run(args: argparse.Namespace, path: Path, sweep: Sweep) -> int:
    from tqdm import tqdm

    from coordrl.agents.sweep import is_done, run_local, write_results

    done = sum(is_done(trial, sweep.evaluate) for trial in sweep.trials)
    use_ray = args.ray_address is not None
    where = "Ray Tune" if use_ray else f"this machine, {args.max_concurrent or 'auto'} at once"
    print(
        f"{len(sweep.trials)} trials ({done} already done, skipped) -> {sweep.out} ({where}; "
        f"each {sweep.cpus:g} CPU, {sweep.gpus:g} GPU)"
    )
    # miniters=1: skipped trials arrive in a burst, which would otherwise teach tqdm to
    # redraw only every dozen trials
    bar = tqdm(total=len(sweep.trials), unit="trial", dynamic_ncols=True, miniters=1)

    def on_result(result) -> None:
        bar.update(1)
        bar.set_postfix_str(f"last: {result.name} {result.status}")
        if result.status in ("failed", "interrupted"):
            bar.write(f"{result.status}: {result.name}: {result.message}", file=sys.stderr)

    if use_ray:
        from coordrl.agents.sweep_ray import run_ray

        results = run_ray(sweep, args.max_concurrent, on_result)
    else:
        concurrent = args.max_concurrent or max(1, int((os.cpu_count() or 1) // sweep.cpus))
        results = run_local(sweep, concurrent, on_result)
    bar.close()
    table = write_results(sweep, results)
    counts = Counter(result.status for result in results)
    print(", ".join(f"{counts[s]} {s}" for s in ("finished", "skipped", "interrupted", "failed")))
    print(f"trials: {table}")
    metric = " --metric eval" if sweep.evaluate is not None else ""
    compare_dir = quoted(sweep.out / "compare")
    print(f"compare them: coordrl compare {quoted(sweep.out)}{metric} --out {compare_dir}")
    if counts["interrupted"]:
        print(f"interrupted: re-run `coordrl sweep {quoted(path)}` to resume", file=sys.stderr)
        return INTERRUPTED
    if counts["failed"]:
        print(f"{counts['failed']} trial(s) failed (see above and {table})", file=sys.stderr)
        return FAILED
    return 0


def _connect_ray(address: str | None) -> None:
    try:
        from coordrl.agents.sweep_ray import connect
    except ImportError:
        raise UserError("Ray is not installed: pip install -e '.[ray]'") from None
    try:
        connect(address)
    except (ConnectionError, ValueError, RuntimeError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UserError(f"cannot reach Ray at {address or 'RAY_ADDRESS'}: {first}") from None


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    sweep = subparsers.add_parser(
        "sweep",
        help="run a grid of trials (env x algo x arch x seed ...) locally or on Ray",
        description="Expand a sweep file's grid and run each trial as an ordinary run "
        "directory. Re-running skips finished trials and resumes interrupted ones.",
    )
    sweep.add_argument(
        "sweep", help="a sweep file, or a shipped one by name (e.g. sweeps/toyrl; coordrl configs)"
    )
    sweep.add_argument(
        "--ray-address",
        nargs="?",
        const="",
        help="run on Ray Tune: 'auto' (the cluster this node belongs to), ray://HOST:10001, "
        "'local' (a private Ray here); bare flag: $RAY_ADDRESS or a new local Ray",
    )
    sweep.add_argument(
        "--max-concurrent",
        type=positive_int,
        help="trials at once (default: CPUs / cpus per trial here; Ray: as resources allow)",
    )
    sweep.set_defaults(func=sweep_command)

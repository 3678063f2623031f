"""``coordrl evaluate``: score a saved agent (Atari games and videos, or toy held-out targets)."""

from __future__ import annotations

import argparse
from pathlib import Path

from coordrl.commands.common import UserError, positive_int, writable_dir
from coordrl.config import env_family, load_run_config
from coordrl.runs import EVAL_DIR, find_model


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
    from coordrl.agents.run_evaluation import evaluate_run
    from coordrl.device import resolve_device

    model_path, run_dir = find_model(args.target)
    config = load_run_config(run_dir)
    family = env_family(config.env)
    if family != "atari" and (args.video is not None or args.env is not None):
        raise UserError(f"--video and --env apply to Atari runs; {family} runs play their own env")
    device = resolve_device(args.device)
    out = Path(args.out) if args.out else _fresh_file(run_dir / EVAL_DIR, model_path)
    created = not out.parent.exists()
    writable_dir(out.parent)
    try:
        if args.video is not None:
            writable_dir(Path(args.video))
        summary = evaluate_run(
            config,
            model_path,
            device,
            out,
            episodes=args.episodes,
            deterministic=args.deterministic,
            seed=args.seed,
            env=args.env,
            video_dir=Path(args.video) if args.video is not None else None,
            video_episodes=args.video_episodes,
        )
    finally:
        if created and out.parent.is_dir() and not any(out.parent.iterdir()):
            out.parent.rmdir()  # a failed evaluation leaves no empty folder behind
    for line in summary:
        print(line)


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    evaluate = subparsers.add_parser("evaluate", help="score a saved agent, record videos")
    evaluate.add_argument("target", help="a run directory or a model.zip inside one")
    evaluate.add_argument(
        "--episodes",
        type=positive_int,
        help="games (Atari 10, MinAtar 100) or episodes (toy, 1000)",
    )
    evaluate.add_argument("--deterministic", action="store_true", help="greedy actions")
    evaluate.add_argument("--video", metavar="DIR", help="record MP4s of the first games here")
    evaluate.add_argument("--video-episodes", type=positive_int, default=1)
    evaluate.add_argument("--env", help="play another env than the run's (same game family)")
    evaluate.add_argument("--seed", type=int, default=0)
    evaluate.add_argument("--device", default="auto")
    evaluate.add_argument("--out", help="scores JSON (default: RUN_DIR/eval/<model>.json)")
    evaluate.set_defaults(func=evaluate_command)

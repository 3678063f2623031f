"""``coordrl evaluate``: score a saved agent (Atari games and videos, or toy held-out targets)."""

from __future__ import annotations

import argparse
from pathlib import Path

from coordrl.commands.common import UserError, positive_int, writable_dir


def _find_model(target: Path) -> tuple[Path, Path]:
    """(model file, run directory) for a run directory, its model or a checkpoint's."""
    from coordrl.runs import CHECKPOINT_MODELS, MODEL_FILES, is_run_dir, list_checkpoints

    if target.is_dir():
        if not is_run_dir(target):
            raise UserError(f"{target} is not a run directory (it has no config.yaml)")
        for name in MODEL_FILES:
            if (target / name).is_file():
                return target / name, target
        checkpoints = list_checkpoints(target)
        for name in CHECKPOINT_MODELS if checkpoints else ():
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
    from coordrl.config import load_run_config
    from coordrl.device import resolve_device
    from coordrl.runs import EVAL_DIR

    model_path, run_dir = _find_model(Path(args.target))
    config = load_run_config(run_dir)
    device = resolve_device(args.device)
    out = Path(args.out) if args.out else _fresh_file(run_dir / EVAL_DIR, model_path)
    created = not out.parent.exists()
    writable_dir(out.parent)
    try:
        _evaluate(args, config, model_path, device, out)
    finally:
        if created and out.parent.is_dir() and not any(out.parent.iterdir()):
            out.parent.rmdir()  # a failed evaluation leaves no empty folder behind


def _evaluate(args: argparse.Namespace, config, model_path: Path, device, out: Path) -> None:
    from coordrl.config import env_family

    family = env_family(config.env)
    if family != "atari" and (args.video is not None or args.env is not None):
        raise UserError(f"--video and --env apply to Atari runs; {family} runs play their own env")
    if family == "toy":
        _evaluate_toy(args, config, model_path, device, out)
    elif family == "minatar":
        _evaluate_minatar(args, config, model_path, device, out)
    else:
        _evaluate_atari(args, config, model_path, device, out)


def _evaluate_atari(args, config, model_path: Path, device, out: Path) -> None:
    from coordrl.agents.evaluation import evaluate, load_for_evaluation, write_json
    from coordrl.envs.atari import resolve_env_id

    model = load_for_evaluation(config, model_path, str(device))  # on the game it learned
    if args.env is not None:
        config = config.replace(env=resolve_env_id(args.env))
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
    stats = evaluation.summary()
    print(
        f"{config.env}, {stats['episodes']} games: mean {stats['mean']:.1f} +- {stats['std']:.1f} "
        f"(min {stats['min']:g}, max {stats['max']:g})"
    )
    print(f"scores: {write_json(evaluation, out)}")
    for video in evaluation.videos:
        print(f"video: {video}")


def _write_result(args, config, model_path: Path, out: Path, scores: dict) -> None:
    """A torch-env evaluation's JSON: the model, env and options, then ``scores``."""
    import json

    from coordrl.runs import atomic_path

    result = {
        "model": str(model_path),
        "env": config.env,
        "env_kwargs": dict(config.env_kwargs),
        "deterministic": args.deterministic,
        **scores,
    }
    with atomic_path(out) as tmp:
        tmp.write_text(json.dumps(result, indent=2) + "\n")


def _evaluate_minatar(args, config, model_path: Path, device, out: Path) -> None:
    from coordrl.agents.torch_evaluation import evaluate_scores, load_policy

    policy = load_policy(config, model_path, device, args.deterministic)
    scores = evaluate_scores(config, policy, args.episodes or 100, args.seed, device)
    _write_result(args, config, model_path, out, scores)
    print(
        f"{config.env}, {scores['episodes']} games: mean {scores['mean_return']:.2f} "
        f"+- {scores['se_return']:.2f} (standard error; std {scores['std_return']:.2f})"
    )
    print(f"scores: {out}")


def _evaluate_toy(args, config, model_path: Path, device, out: Path) -> None:
    from coordrl.agents.torch_evaluation import evaluate_part, load_policy

    episodes = args.episodes or 1000
    policy = load_policy(config, model_path, device, args.deterministic)
    parts = {
        part: evaluate_part(config, policy, part, episodes, args.seed, device)
        for part in ("test", "train")
    }
    _write_result(args, config, model_path, out, parts)
    for part, label in (("test", "held-out positions"), ("train", "training positions")):
        r = parts[part]
        print(
            f"{label:<19} success {100 * r['success_rate']:5.1f}% +- {100 * r['success_se']:.1f} "
            f"(n={r['episodes']}), mean return {r['mean_return']:.3f}"
        )
    print(f"scores: {out}")


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

"""``coordrl train``: one run directory from a config, a fresh run or a resumed one."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from coordrl.commands.common import (
    UserError,
    new_run_dir,
    positive_float,
    positive_int,
    quoted,
    writable_dir,
)
from coordrl.config import (
    RESUMABLE_KEYS,
    RunConfig,
    env_family,
    load_config,
    load_run_config,
    parse_overrides,
    run_name,
)
from coordrl.runs import CONFIG_FILE, MODEL_FILES, is_finished, is_run_dir, list_checkpoints
from coordrl.shipped import find_config

DEFAULT_CONFIG = "atari/ppo"  # a shipped config (coordrl configs)
QUICK_START = {"timesteps": 20_000, "checkpoint_every": 10_000}


def _train_overrides(args: argparse.Namespace) -> dict:
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


def default_run_dir(config: RunConfig) -> Path:
    """``runs/atari/Breakout-ppo-coordconv-seed0``, ``runs/toyrl/Point-device_ppo-conv-seed3``
    or ``runs/minatar/...``."""
    family = env_family(config.env)
    return Path("runs") / ("toyrl" if family == "toy" else family) / run_name(config)


def _refuse_finished(run_dir: Path, timesteps: int) -> None:
    """``--resume`` of a finished run changes nothing unless ``--timesteps`` extends it."""
    if not is_finished(run_dir):
        return
    checkpoints = list_checkpoints(run_dir)
    done = checkpoints[-1][0] if checkpoints else timesteps
    if timesteps <= done:
        raise UserError(
            f"{run_dir} is finished ({done:,} steps); to train it further: coordrl train "
            f"--resume {quoted(run_dir)} --timesteps N, with N > {done:,}"
        )


def _config(args: argparse.Namespace) -> RunConfig:
    """The run's config (its own when it resumes), checked in full."""
    from coordrl.agents.trainers import preflight, resumed_config

    overrides = _train_overrides(args)
    flags = " + command line" if overrides else ""  # where a mistake may come from
    if args.resume is not None:
        load_run_config(args.resume)  # a folder that holds no run: said before anything else
        changed = sorted(set(overrides) - set(RESUMABLE_KEYS))
        if changed or args.config is not None:
            raise UserError(
                f"--resume continues a run with its own config; only --timesteps and "
                f"--device may change (got {', '.join(changed) or '--config'})"
            )
        return resumed_config(
            Path(args.resume), overrides, f"{Path(args.resume) / CONFIG_FILE}{flags}"
        )
    name = args.config or DEFAULT_CONFIG
    path = find_config(name)
    if args.config is None and not overrides:
        overrides = dict(QUICK_START)
        print(
            f"quick start: {DEFAULT_CONFIG} with CoordConv for {QUICK_START['timesteps']:,} "
            "steps (pass --config for a full run; coordrl configs lists them)"
        )
    return preflight(load_config(path, overrides), f"{name}{flags}")


def train_command(args: argparse.Namespace) -> None:
    from coordrl.agents.trainers import describe_run, train
    from coordrl.device import resolve_device

    config = _config(args)
    resolve_device(config.device)  # a device this machine lacks: refused before any file
    if args.resume is not None:
        run_dir = Path(args.resume)
        _refuse_finished(run_dir, config.timesteps)
    else:
        hint = "--resume it or pick another --run-dir"
        run_dir = new_run_dir(args.run_dir, default_run_dir(config), CONFIG_FILE, hint)
    writable_dir(run_dir)
    print(describe_run(config, run_dir, resume=args.resume is not None))
    try:
        outcome = train(
            config, run_dir, resume=args.resume is not None, lock_wait_s=args.wait_for_lock
        )
    except KeyboardInterrupt:  # before the lifecycle's own signal handling, or in its start-up
        if is_run_dir(run_dir):
            saved = list_checkpoints(run_dir)
            where = f"from step {saved[-1][0]:,}" if saved else "from the start (no checkpoint yet)"
            print(f"go on {where}: coordrl train --resume {quoted(run_dir)}", file=sys.stderr)
        raise
    if not outcome.finished:
        print(f"stopped at {outcome.summary}; go on: coordrl train --resume {quoted(run_dir)}")
        return
    print(f"done: {outcome.summary}")
    model = next(name for name in MODEL_FILES if (run_dir / name).is_file())
    print(f"run: {run_dir} ({model}, config.yaml, episodes.csv, checkpoints/)")
    print(f"TensorBoard: tensorboard --logdir {quoted(run_dir.parent)}")
    target = quoted(run_dir)
    if env_family(config.env) == "toy":
        print(f"evaluate on held-out positions: coordrl evaluate {target}")
    elif env_family(config.env) == "minatar":
        print(f"evaluate: coordrl evaluate {target} --episodes 100")
    else:
        videos = quoted(run_dir / "videos")
        print(f"evaluate: coordrl evaluate {target} --episodes 10 --video {videos}")


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    train = subparsers.add_parser(
        "train",
        help="train an agent: Atari or a toy env (no arguments: a short CoordConv PPO run)",
        description="Train an agent (SB3 on Atari or the toy envs, or the on-device PPO on "
        "the toy envs) into a run directory; python train.py in a checkout is the same.",
    )
    train.add_argument(
        "--config",
        help="a YAML file, or a shipped config by name (default: atari/ppo; coordrl configs)",
    )
    train.add_argument("--env", help="ALE/<Game>-v5 or <Game> (e.g. Breakout), or coordrl/...")
    arch = train.add_mutually_exclusive_group()
    arch.add_argument("--coordconv", dest="arch", action="store_const", const="coordconv")
    arch.add_argument("--conv", dest="arch", action="store_const", const="conv")
    train.add_argument("--seed", type=int)
    train.add_argument("--timesteps", type=positive_int, help="total env steps")
    train.add_argument("--n-envs", type=positive_int)
    train.add_argument("--device", help="auto, cpu, cuda or cuda:N")
    train.add_argument(
        "--run-dir", help="default: runs/<atari|toyrl>/<game>-<algo>-<arch>-seed<seed>"
    )
    train.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config key, e.g. --set hyperparams.n_steps=64 (repeatable)",
    )
    train.add_argument("--resume", metavar="RUN_DIR", help="go on from the run's last checkpoint")
    train.add_argument(
        "--wait-for-lock",
        type=positive_float,
        default=0.0,
        metavar="SECONDS",
        help="if another process holds the run, wait this long for it to go (default 0)",
    )
    train.set_defaults(func=train_command)

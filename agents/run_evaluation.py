"""Evaluate a run's agent, whichever its env family: the scores as JSON, and what to print.

Atari agents play whole games (:mod:`coordrl.agents.evaluation`: true scores, videos); a
MinAtar agent plays games on its torch env and a toy-task agent plays the held-out and the
training positions (:mod:`coordrl.agents.torch_evaluation`). ``coordrl evaluate`` and the
worker a sweep starts (:mod:`coordrl.agents.worker`) both evaluate through
:func:`evaluate_run`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from coordrl.agents.evaluation import evaluate, load_for_evaluation, write_json
from coordrl.agents.torch_evaluation import evaluate_part, evaluate_scores, load_policy
from coordrl.config import RunConfig, env_family
from coordrl.envs.atari import resolve_env_id
from coordrl.runs import atomic_path

EPISODES = {"atari": 10, "minatar": 100, "toy": 1000}  # games, games, episodes per part


def evaluate_run(
    config: RunConfig,
    model_path: Path,
    device: torch.device,
    out: Path,
    *,
    episodes: int | None = None,
    deterministic: bool = False,
    seed: int = 0,
    env: str | None = None,
    video_dir: Path | None = None,
    video_episodes: int = 1,
) -> list[str]:
    """Play ``model_path`` (default ``episodes``: :data:`EPISODES`), write its scores to
    ``out`` and return the lines that summarise them. ``env`` (another game), ``video_dir``
    and ``video_episodes`` are for Atari runs."""
    family = env_family(config.env)
    episodes = episodes or EPISODES[family]
    if family == "atari":
        return _atari(
            config,
            model_path,
            device,
            out,
            episodes,
            deterministic,
            seed,
            env,
            video_dir,
            video_episodes,
        )
    policy = load_policy(config, model_path, device, deterministic)
    result = {
        "model": str(model_path),
        "env": config.env,
        "env_kwargs": dict(config.env_kwargs),
        "deterministic": deterministic,
    }
    if family == "minatar":
        scores = evaluate_scores(config, policy, episodes, seed, device)
        _write(out, {**result, **scores})
        return [
            f"{config.env}, {scores['episodes']} games: mean {scores['mean_return']:.2f} "
            f"+- {scores['se_return']:.2f} (standard error; std {scores['std_return']:.2f})",
            f"scores: {out}",
        ]
    parts = {
        part: evaluate_part(config, policy, part, episodes, seed, device)
        for part in ("test", "train")
    }
    _write(out, {**result, **parts})
    lines = []
    for part, label in (("test", "held-out positions"), ("train", "training positions")):
        r = parts[part]
        lines.append(
            f"{label:<19} success {100 * r['success_rate']:5.1f}% +- {100 * r['success_se']:.1f} "
            f"(n={r['episodes']}), mean return {r['mean_return']:.3f}"
        )
    return [*lines, f"scores: {out}"]


def _atari(
    config: RunConfig,
    model_path: Path,
    device: torch.device,
    out: Path,
    episodes: int,
    deterministic: bool,
    seed: int,
    env: str | None,
    video_dir: Path | None,
    video_episodes: int,
) -> list[str]:
    """An Atari agent's true scores over whole games, on its own game or ``env``."""
    model = load_for_evaluation(config, model_path, str(device))  # on the game it learned
    if env is not None:
        config = config.replace(env=resolve_env_id(env))
    evaluation = evaluate(
        model,
        config,
        model_path,
        episodes=episodes,
        deterministic=deterministic,
        seed=seed,
        video_dir=video_dir,
        video_episodes=video_episodes,
    )
    stats = evaluation.summary()
    return [
        f"{config.env}, {stats['episodes']} games: mean {stats['mean']:.1f} +- {stats['std']:.1f} "
        f"(min {stats['min']:g}, max {stats['max']:g})",
        f"scores: {write_json(evaluation, out)}",
        *(f"video: {video}" for video in evaluation.videos),
    ]


def _write(out: Path, result: dict[str, Any]) -> None:
    """A torch-env evaluation's JSON, written atomically."""
    with atomic_path(out) as tmp:
        tmp.write_text(json.dumps(result, indent=2) + "\n")

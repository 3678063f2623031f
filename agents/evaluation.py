"""Evaluate a saved Atari agent: true scores over whole games, and MP4 videos of RGB frames.

Evaluation plays under the training protocol (same frames, sticky actions and no-ops; see
:mod:`coordrl.envs.atari`) but without life-loss terminals or reward clipping, so scores are real
game scores.
"""

from __future__ import annotations

import dataclasses
import json
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import torch
from stable_baselines3.common.base_class import BaseAlgorithm
from tqdm import tqdm

from coordrl.agents.actor_critic import load_network
from coordrl.agents.builders import extractor_of, load_algorithm
from coordrl.config import RunConfig
from coordrl.envs.atari import FRAME_SKIP, make_eval_env
from coordrl.errors import CoordRLError
from coordrl.extractors import arch_of
from coordrl.runs import atomic_path

VIDEO_FPS = 60 // FRAME_SKIP  # real-time playback of agent steps


class EvaluationError(CoordRLError):
    """A model that cannot be evaluated as asked, said in one line."""


@dataclasses.dataclass(frozen=True)
class Evaluation:
    """True scores of ``episodes`` games and where their videos went."""

    model: str
    env: str
    deterministic: bool
    scores: list[float]
    lengths: list[int]
    videos: list[str]

    def summary(self) -> dict[str, Any]:
        scores = np.asarray(self.scores)
        return {
            "episodes": len(scores),
            "mean": float(scores.mean()),
            "std": float(scores.std()),
            "min": float(scores.min()),
            "max": float(scores.max()),
        }

    def to_dict(self) -> dict[str, Any]:
        return {**self.summary(), **dataclasses.asdict(self)}


class TorchAgent:
    """An on-device trainer's network behind SB3's ``predict``, so one evaluation loop plays
    both kinds of agent."""

    def __init__(self, network: Any, observation_space: Any, action_space: Any) -> None:
        self.network = network
        self.observation_space, self.action_space = observation_space, action_space
        self.device = next(network.parameters()).device

    def predict(self, obs: np.ndarray, deterministic: bool = False) -> tuple[np.ndarray, None]:
        with torch.no_grad():
            batch = torch.as_tensor(np.asarray(obs), device=self.device)[None]
            head, _ = self.network(batch)
            dist = self.network.distribution(head)
            action = self.network.mode(head) if deterministic else dist.sample()
        return action[0].cpu().numpy(), None


def load_for_evaluation(
    config: RunConfig, model_path: Path, device: str
) -> BaseAlgorithm | TorchAgent:
    """Load ``model_path`` (an SB3 ``.zip``, or an on-device trainer's ``.pt``); refuse a
    damaged file or a model of another arch than the config's."""
    if model_path.suffix == ".pt":
        env = make_eval_env(config.env)
        spaces = env.observation_space, env.action_space
        env.close()
        return TorchAgent(load_network(config, model_path, *spaces, device), *spaces)
    try:
        model = load_algorithm(config.algo, model_path, env=None, device=device)
    except (zipfile.BadZipFile, EOFError, KeyError, ValueError, RuntimeError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise EvaluationError(
            f"cannot load {model_path} as an SB3 {config.algo} model: {reason}"
        ) from None
    model_arch = arch_of(extractor_of(model))
    if model_arch != config.arch:
        raise EvaluationError(
            f"{model_path} holds a {model_arch} agent, but its config says arch {config.arch}"
        )
    return model


def check_spaces(model: BaseAlgorithm | TorchAgent, env, env_id: str, model_path: Path) -> None:
    """A model trained on another game (other actions or frames) gets a clear error."""
    if model.observation_space.shape != env.observation_space.shape:
        raise EvaluationError(
            f"{model_path} sees observations of shape {model.observation_space.shape}, "
            f"{env_id} gives {env.observation_space.shape}"
        )
    if model.action_space != env.action_space:
        raise EvaluationError(
            f"{model_path} acts in {model.action_space}, {env_id} has {env.action_space}: "
            "a model trained on another game?"
        )


def evaluate(
    model: BaseAlgorithm | TorchAgent,
    config: RunConfig,
    model_path: Path,
    *,
    episodes: int,
    deterministic: bool = False,
    seed: int = 0,
    video_dir: Path | None = None,
    video_episodes: int = 1,
) -> Evaluation:
    """Play ``episodes`` whole games; record the first ``video_episodes`` when ``video_dir``."""
    env = make_eval_env(
        config.env,
        repeat_action_probability=config.repeat_action_probability,
        noop_max=config.noop_max,
        render=video_dir is not None,
    )
    check_spaces(model, env, config.env, model_path)
    scores, lengths, videos = [], [], []
    try:
        for episode in tqdm(range(episodes), unit="game", desc="evaluating"):
            obs, _ = env.reset(seed=seed if episode == 0 else None)
            record = video_dir is not None and episode < video_episodes
            frames = [env.render()] if record else []
            score, length, done = 0.0, 0, False
            while not done:
                action, _ = model.predict(obs, deterministic=deterministic)
                obs, reward, terminated, truncated, _ = env.step(int(action))
                score += float(reward)
                length += 1
                done = terminated or truncated
                if record:
                    frames.append(env.render())
            scores.append(score)
            lengths.append(length)
            if record:
                assert video_dir is not None
                path = video_dir / f"episode-{episode:03d}.mp4"
                write_video(frames, path)
                videos.append(str(path))
    finally:
        env.close()
    return Evaluation(str(model_path), config.env, deterministic, scores, lengths, videos)


def write_video(frames: list[np.ndarray], path: Path, fps: int = VIDEO_FPS) -> Path:
    """Write RGB frames as an H.264 MP4 that any player opens; atomically."""
    import imageio_ffmpeg

    path.parent.mkdir(parents=True, exist_ok=True)
    height, width = frames[0].shape[:2]
    tmp = path.with_name(f".{path.stem}.partial{path.suffix}")
    writer = imageio_ffmpeg.write_frames(
        str(tmp), (width, height), fps=fps, macro_block_size=1, quality=8
    )
    writer.send(None)
    try:
        for frame in frames:
            writer.send(np.ascontiguousarray(frame))
    finally:
        writer.close()
    tmp.replace(path)
    return path


def write_json(evaluation: Evaluation, path: Path) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(evaluation.to_dict(), indent=2) + "\n")
    return path

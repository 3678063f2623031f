"""Train an Atari agent into a run directory, and resume one from its last checkpoint.

A run directory holds ``config.yaml`` (the resolved config, written first), TensorBoard
events, ``episodes.csv`` (true score of every finished game), ``checkpoints/step_N/`` (the
most recent few, each written atomically) and, once finished, ``model.zip``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.logger import Logger, TensorBoardOutputFormat
from stable_baselines3.common.off_policy_algorithm import OffPolicyAlgorithm
from stable_baselines3.common.vec_env import VecEnv
from torch.utils.tensorboard import SummaryWriter

from agents.builders import build_algorithm, load_algorithm
from agents.callbacks import (
    Checkpointer,
    EpisodeLog,
    GracefulStop,
    ProgressBar,
    save_checkpoint,
)
from agents.outcome import RunError, TrainOutcome
from coordrl.config import RunConfig, dump_config, is_toy_env, load_config
from coordrl.device import resolve_device
from coordrl.runs import (
    CONFIG_FILE,
    EPISODES_CSV,
    MODEL_FILE,
    atomic_path,
    is_run_dir,
    list_checkpoints,
    load_newest_checkpoint,
    truncate_log,
)
from envs.atari import make_vec_env


class ResumableTensorBoard(TensorBoardOutputFormat):
    """SB3's TensorBoard output, told where a resumed run restarts.

    ``purge_step`` (the checkpoint's step + 1) makes TensorBoard hide the events a killed run
    wrote after its last checkpoint, so the resumed curve continues as one line.
    """

    def __init__(self, folder: str, purge_step: int | None = None) -> None:
        self.writer = SummaryWriter(log_dir=folder, purge_step=purge_step)
        self._is_closed = False


def read_run_config(run_dir: Path) -> RunConfig:
    if not is_run_dir(run_dir):
        raise RunError(f"{run_dir} is not a run directory (it has no {CONFIG_FILE})")
    return load_config(run_dir / CONFIG_FILE)


def _load_latest(config: RunConfig, run_dir: Path, env, device) -> tuple[BaseAlgorithm, int] | None:
    """The newest checkpoint that loads (a damaged one is skipped with a warning), or None."""

    def load(path: Path) -> BaseAlgorithm:
        model = load_algorithm(config.algo, path / "model.zip", env, device)
        if isinstance(model, OffPolicyAlgorithm) and (path / "replay_buffer.pkl").exists():
            model.load_replay_buffer(path / "replay_buffer.pkl")
        return model

    return load_newest_checkpoint(run_dir, load)


def preflight(config: RunConfig) -> None:
    """Settings that are valid one by one but not together: a RunError before any file."""
    if config.algo == "device_ppo":
        from agents.toy_training import ppo_settings

        settings = ppo_settings(config)
        if (settings.n_steps * config.n_envs) % settings.batch_size:
            raise RunError(
                f"n_steps x n_envs ({settings.n_steps} x {config.n_envs}) must be a multiple "
                f"of hyperparams.batch_size ({settings.batch_size})"
            )
    if config.algo == "dqn" and config.env_kwargs.get("action") == "xy":
        raise RunError("dqn needs discrete actions: use env_kwargs.action=cells, or ppo / a2c")


def make_env(config: RunConfig, seed: int) -> VecEnv:
    """The SB3 ``VecEnv`` a config trains on: Atari, or a torch toy env through the adapter."""
    if is_toy_env(config.env):
        import gymnasium as gym

        import envs.toy  # noqa: F401  (registers the coordrl/* ids)
        from envs.toy.sb3 import SB3VecEnv

        toy = gym.make_vec(config.env, num_envs=config.n_envs, device="cpu", **config.env_kwargs)
        env: VecEnv = SB3VecEnv(toy)
        env.seed(seed)
        return env
    return make_vec_env(
        config.env,
        config.n_envs,
        seed=seed,
        backend=config.backend,
        repeat_action_probability=config.repeat_action_probability,
        noop_max=config.noop_max,
    )


def train(config: RunConfig, run_dir: Path, *, resume: bool = False) -> TrainOutcome:
    """Train (or go on training) until ``config.timesteps`` env steps, or a signal stops it."""
    if config.algo == "device_ppo":
        from agents.toy_training import train_device_ppo

        return train_device_ppo(config, run_dir, resume=resume)
    device = resolve_device(config.device)
    if resume:
        start = list_checkpoints(run_dir)
        seed = config.seed + (start[-1][0] if start else 0)  # fresh games, not a replay
    else:
        run_dir.mkdir(parents=True, exist_ok=True)
        dump_config(config, run_dir / CONFIG_FILE)
        seed = config.seed
    env = make_env(config, seed)
    try:
        loaded = _load_latest(config, run_dir, env, device) if resume else None
        if loaded is not None:
            model, step = loaded
        else:
            if resume:
                print(f"{run_dir} has no checkpoint yet: starting it over from step 0")
            model, step = build_algorithm(config, env, device), 0
        truncate_log(run_dir / EPISODES_CSV, step)
        model.set_logger(
            Logger(str(run_dir), [ResumableTensorBoard(str(run_dir), step + 1 if resume else None)])
        )
        stop = GracefulStop()
        callbacks = [
            stop,
            EpisodeLog(run_dir),
            Checkpointer(run_dir, config.checkpoint_every, config.keep_checkpoints),
            ProgressBar(config.timesteps),
        ]
        remaining = config.timesteps - model.num_timesteps
        if remaining > 0:
            model.learn(remaining, callback=callbacks, reset_num_timesteps=False)
        model.logger.close()
        scores = [info["r"] for info in model.ep_info_buffer]
        recent = float(np.mean(scores)) if scores else None
        if stop.signals.received is not None and model.num_timesteps < config.timesteps:
            checkpoint = save_checkpoint(model, run_dir, config.keep_checkpoints)
            step = model.num_timesteps
            print(f"{stop.signals.name} received: checkpoint at step {step} in {checkpoint}")
            return TrainOutcome(run_dir, model.num_timesteps, False, checkpoint, recent)
        checkpoint = save_checkpoint(model, run_dir, config.keep_checkpoints)  # to extend later
        with atomic_path(run_dir / MODEL_FILE) as tmp, tmp.open("wb") as f:
            model.save(f)
        return TrainOutcome(run_dir, model.num_timesteps, True, checkpoint, recent)
    finally:
        env.close()

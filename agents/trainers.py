"""From a config to a trained run: which trainer, checked before any file is written.

``algo`` picks the trainer: SB3's ``a2c`` / ``ppo`` / ``dqn`` (:mod:`coordrl.agents.sb3_trainer`),
or ``device_ppo`` / ``device_a2c`` (:mod:`coordrl.agents.device_ppo`,
:mod:`coordrl.agents.device_a2c`) on a torch env or on Atari through
:mod:`coordrl.envs.atari_device`; the run lifecycle
(:mod:`coordrl.lifecycle`) does the rest, the same for all.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from coordrl.config import (
    ConfigError,
    RunConfig,
    is_torch_env,
    is_toy_env,
    load_config,
    load_run_config,
    merge,
    validate,
)
from coordrl.device import resolve_device
from coordrl.envs.factory import check_env_config, make_device_env, make_torch_env
from coordrl.lifecycle import Trainer, TrainOutcome, train_run
from coordrl.runs import CONFIG_FILE, SWEEP_CONFIG, RunError, is_finished, is_run_dir
from coordrl.settings import SETTINGS

DEVICE_ALGOS = tuple(SETTINGS)  # trainers that keep the rollout on the env's device


def preflight(config: RunConfig, source: str) -> RunConfig:
    """Settings that only the trainers and envs can judge (the env's own checks, the
    network on its observations, the replay memory): one ``ConfigError`` before any file is
    written. Returns ``config`` with its env resolved."""
    config = check_env_config(config, source)
    if config.algo in DEVICE_ALGOS and not is_torch_env(config.env) and config.backend != "ale":
        raise ConfigError(
            f"{source}: algo: {config.algo} steps Atari through ale-py's C++ env: "
            f"use backend: ale (backend: {config.backend} is for SB3's algos)"
        )
    batch = config.env_batch_size
    if batch is not None and config.algo not in DEVICE_ALGOS:
        raise ConfigError(
            f"{source}: env_batch_size: only for the on-device algos ({', '.join(DEVICE_ALGOS)})"
        )
    if batch is not None and config.n_envs % batch:
        raise ConfigError(
            f"{source}: env_batch_size ({batch}) must divide n_envs ({config.n_envs})"
        )
    if config.algo == "dqn" and config.env_kwargs.get("action") == "xy":
        raise ConfigError(
            f"{source}: algo: dqn needs discrete actions: use env_kwargs.action=cells, or ppo / a2c"
        )
    space = None  # a torch env's observation space, built once for the checks below
    if is_torch_env(config.env):
        from coordrl.extractors import extractor_spec

        space = make_torch_env(config, torch.device("cpu"), num_envs=1).single_observation_space
        extractor, _ = extractor_spec(config.arch, network=config.network)
        try:
            extractor(space)
        except ValueError as exc:
            key = "env_kwargs" if is_toy_env(config.env) else "network"
            raise ConfigError(f"{source}: {key}: {exc}") from None
    if config.algo == "dqn":
        _check_replay_buffer(config, source)
        _check_replay_memory(config, space, source)
    return config


def _check_replay_buffer(config: RunConfig, source: str) -> None:
    """The frame buffer needs frame stacks, and has no use for SB3's memory option."""
    from coordrl.agents.builders import replay_buffer_kind

    kind = replay_buffer_kind(config)
    if kind == "frames" and is_torch_env(config.env):
        raise ConfigError(
            f"{source}: hyperparams.replay_buffer: frames needs Atari's frame stacks; "
            f"{config.env} gives other observations: use sb3"
        )
    if kind == "frames" and config.hyperparams.get("optimize_memory_usage"):
        raise ConfigError(
            f"{source}: hyperparams.optimize_memory_usage is for replay_buffer: sb3; the "
            "default frames buffer stores each frame once already (1/8 of SB3's memory)"
        )


SB3_DQN_BUFFER = 1_000_000  # SB3's default buffer_size


def _check_replay_memory(config: RunConfig, space: Any, source: str) -> None:
    """A replay buffer this machine cannot hold is refused with both figures, before SB3
    tries to allocate it (which ends in a traceback and a run directory without a run).
    ``space``: a torch env's observation space; None for Atari."""
    from coordrl.agents.builders import replay_buffer_kind
    from coordrl.envs.atari import FRAME_STACK, SCREEN_SIZE

    if space is not None:
        per_obs = int(np.prod(space.shape)) * space.dtype.itemsize
    else:
        per_obs = FRAME_STACK * SCREEN_SIZE * SCREEN_SIZE  # uint8 frames
    frames = replay_buffer_kind(config) == "frames"
    shared = bool(config.hyperparams.get("optimize_memory_usage", False))
    # the frame buffer: one frame per transition; SB3's: obs and next_obs, unless shared
    per_transition = per_obs // FRAME_STACK if frames else per_obs * (1 if shared else 2)
    size = int(config.hyperparams.get("buffer_size", SB3_DQN_BUFFER))
    need, have = size * per_transition, available_memory()
    if have is not None and need > have:
        if frames or shared:
            hint = ""
        elif space is None:
            hint = "; replay_buffer: frames needs 1/8 of it"
        else:
            hint = "; optimize_memory_usage: true halves it"
        raise ConfigError(
            f"{source}: hyperparams.buffer_size: {size:,} transitions need "
            f"{need / 2**30:,.1f} GiB of replay memory ({per_transition:,} bytes each{hint}); "
            f"this machine has {have / 2**30:,.1f} GiB available"
        )


def available_memory() -> int | None:
    """Bytes of memory available to a new allocation now (Linux's MemAvailable), or None."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def make_trainer(config: RunConfig) -> Trainer:
    """A fresh trainer for a preflighted config, on its device."""
    device = resolve_device(config.device)
    if config.algo in DEVICE_ALGOS:
        from coordrl.agents.device_a2c import DeviceA2C
        from coordrl.agents.device_ppo import DevicePPO

        agent = {"device_ppo": DevicePPO, "device_a2c": DeviceA2C}[config.algo]
        return agent(
            make_device_env(config, device),
            SETTINGS[config.algo](**config.hyperparams),
            arch=config.arch,
            seed=config.seed,
            **config.network_kwargs,
        )
    from coordrl.agents.sb3_trainer import SB3Trainer

    return SB3Trainer(config, device)


def train(
    config: RunConfig, run_dir: Path, *, resume: bool = False, lock_wait_s: float = 0.0
) -> TrainOutcome:
    """Train (or go on training) ``run_dir`` until ``config.timesteps`` env steps, or a signal."""
    return train_run(
        config, run_dir, lambda: make_trainer(config), resume=resume, lock_wait_s=lock_wait_s
    )


def resumed_config(run_dir: Path, overrides: Mapping[str, Any], source: str) -> RunConfig:
    """``run_dir``'s own config with ``overrides`` (the keys a resume may change) laid over
    it, checked in full; ``source`` names where a mistake comes from."""
    config = validate(merge(load_run_config(run_dir).to_dict(), overrides), "command line")
    return preflight(config, source)


def configs_to_train(
    run_dirs: Sequence[Path], *, timesteps: int | None = None, device: str | None = None
) -> tuple[list[RunConfig], bool]:
    """Each directory's checked config (with ``timesteps`` and ``device``, where given), and
    whether they resume: a run (``config.yaml``) resumes; a folder with a
    ``sweep-config.yaml`` (as a sweep writes it) starts from it. Directories trained
    together all start or all resume."""
    given = {"timesteps": timesteps, "device": device}
    overrides = {key: value for key, value in given.items() if value is not None}
    started = [is_run_dir(d) for d in run_dirs]
    if any(started) and not all(started):
        fresh = next(d for d, s in zip(run_dirs, started, strict=True) if not s)
        raise RunError(
            f"{fresh} has not started while other members have: a population starts and "
            "resumes together (train the members one by one with coordrl train)"
        )
    configs = []
    for run_dir in run_dirs:
        if is_run_dir(run_dir):
            if is_finished(run_dir):
                raise RunError(f"{run_dir} is finished: there is nothing left to train")
            configs.append(resumed_config(run_dir, overrides, str(run_dir / CONFIG_FILE)))
        elif (run_dir / SWEEP_CONFIG).is_file():
            config = load_config(run_dir / SWEEP_CONFIG, overrides)
            configs.append(preflight(config, str(run_dir / SWEEP_CONFIG)))
        else:
            raise RunError(f"{run_dir} holds neither a run ({CONFIG_FILE}) nor a {SWEEP_CONFIG}")
    return configs, all(started)


def describe_run(config: RunConfig, run_dir: Path, *, resume: bool) -> str:
    """``training PPO (coordconv) on ALE/Breakout-v5 for 10,000,000 steps, 8 envs, cpu ->
    runs/...``: the line that opens a run's output."""
    verb = "resuming" if resume else "training"
    return (
        f"{verb} {config.algo.upper()} ({config.arch}) on {config.env} for "
        f"{config.timesteps:,} steps, {config.n_envs} envs, {resolve_device(config.device)} "
        f"-> {run_dir}"
    )

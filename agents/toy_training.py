"""Run the on-device PPO on a torch toy env into a run directory, and resume it.

The same layout as the Atari runs: ``config.yaml``, TensorBoard events, atomic
``checkpoints/step_N/`` (here ``state.pt``: network, optimizer, step counter and RNG
states), the final ``model.pt``, plus ``rollouts.csv`` (one row per rollout: episodes
ended, their mean return and success rate, steps per second). Toy episodes end by the
thousand per second, so they are logged per rollout rather than one by one.
"""

from __future__ import annotations

import csv
import time
from pathlib import Path
from typing import Any

import gymnasium as gym
import torch
from torch.utils.tensorboard import SummaryWriter
from tqdm import tqdm

import envs.toy  # noqa: F401  (registers the coordrl/* ids)
from agents.device_ppo import DevicePPO, PPOSettings, RolloutStats
from agents.outcome import TrainOutcome
from agents.signals import StopSignals
from coordrl.config import SCHEDULE, RunConfig, dump_config
from coordrl.device import resolve_device
from coordrl.runs import (
    CONFIG_FILE,
    ROLLOUTS_CSV,
    atomic_path,
    load_newest_checkpoint,
    truncate_log,
    write_checkpoint,
)

ROLLOUT_COLUMNS = ("step", "episodes", "mean_return", "success_rate", "sps", "time")
MODEL_PT = "model.pt"
STATE_PT = "state.pt"


def ppo_settings(config: RunConfig) -> PPOSettings:
    """The config's ``hyperparams`` as :class:`PPOSettings` (``lin_x``: x, decayed to 0)."""
    hyper = dict(config.hyperparams)
    rate = hyper.pop("learning_rate", None)
    if isinstance(rate, str):
        match = SCHEDULE.match(rate)
        assert match is not None
        hyper.update(learning_rate=float(match["value"]), linear_lr=True)
    elif rate is not None:
        hyper.update(learning_rate=rate, linear_lr=False)
    return PPOSettings(**hyper)


def make_toy_env(config: RunConfig, device: torch.device, part: str = "train"):
    """The config's torch toy env, ``config.n_envs`` wide, drawing targets from ``part``."""
    return gym.make_vec(
        config.env,
        num_envs=config.n_envs,
        device=device,
        part=part,
        **config.env_kwargs,
    )


def build_agent(config: RunConfig, env) -> DevicePPO:
    return DevicePPO(
        env,
        ppo_settings(config),
        arch=config.arch,
        coord_layers=config.coord_layers,
        with_r=config.with_r,
        seed=config.seed,
    )


def save_state(agent: DevicePPO, run_dir: Path, keep: int) -> Path:
    """Checkpoint everything a resumed run needs, as one atomic directory."""
    state = {
        "model": agent.model.state_dict(),
        "optimizer": agent.optimizer.state_dict(),
        "num_timesteps": agent.num_timesteps,
        "torch_rng": torch.get_rng_state(),
    }
    return write_checkpoint(
        run_dir, agent.num_timesteps, keep, lambda folder: torch.save(state, folder / STATE_PT)
    )


def load_state(agent: DevicePPO, run_dir: Path) -> int:
    """Restore the newest readable checkpoint into ``agent``; its step, or 0 if none."""

    def load(path: Path) -> dict[str, Any]:
        return torch.load(path / STATE_PT, map_location=agent.device, weights_only=True)

    loaded = load_newest_checkpoint(run_dir, load)
    if loaded is None:
        return 0
    state, step = loaded
    agent.model.load_state_dict(state["model"])
    agent.optimizer.load_state_dict(state["optimizer"])
    agent.num_timesteps = int(state["num_timesteps"])
    torch.set_rng_state(state["torch_rng"].cpu())
    return step  # the env is reseeded from seed + step when learning goes on


def train_device_ppo(config: RunConfig, run_dir: Path, *, resume: bool = False):
    """Train until ``config.timesteps`` or a signal; returns the Atari runs' TrainOutcome."""
    device = resolve_device(config.device)
    if not resume:
        run_dir.mkdir(parents=True, exist_ok=True)
        dump_config(config, run_dir / CONFIG_FILE)
    env = make_toy_env(config, device)
    agent = build_agent(config, env)
    step = load_state(agent, run_dir) if resume else 0
    if resume and step == 0:
        print(f"{run_dir} has no checkpoint yet: starting it over from step 0")
    truncate_log(run_dir / ROLLOUTS_CSV, step)
    writer = SummaryWriter(str(run_dir), purge_step=step + 1 if resume else None)
    fresh = not (run_dir / ROLLOUTS_CSV).exists()
    log = (run_dir / ROLLOUTS_CSV).open("a", newline="")
    rows = csv.writer(log)
    if fresh:
        rows.writerow(ROLLOUT_COLUMNS)
    bar = tqdm(total=config.timesteps, initial=agent.num_timesteps, unit="step", smoothing=0)
    start, last_checkpoint, recent = time.time(), step, None

    with StopSignals() as stop:

        def on_rollout(stats: RolloutStats) -> bool:
            nonlocal last_checkpoint, recent
            writer.add_scalar("charts/SPS", stats.sps, stats.step)
            if stats.episodes:
                writer.add_scalar("rollout/ep_rew_mean", stats.mean_return, stats.step)
                writer.add_scalar("rollout/success_rate", stats.success_rate, stats.step)
                recent = stats.mean_return
            for key, value in stats.losses.items():
                writer.add_scalar(f"train/{key}", value, stats.step)
            rate = agent.optimizer.param_groups[0]["lr"]
            writer.add_scalar("train/learning_rate", rate, stats.step)
            rows.writerow(
                (
                    stats.step,
                    stats.episodes,
                    f"{stats.mean_return:.6g}",
                    f"{stats.success_rate:.6g}",
                    round(stats.sps),
                    round(time.time() - start, 3),
                )
            )
            log.flush()
            bar.update(stats.step - bar.n)
            bar.set_postfix(success=f"{stats.success_rate:.2f}", refresh=False)
            if stats.step - last_checkpoint >= config.checkpoint_every:
                save_state(agent, run_dir, config.keep_checkpoints)
                last_checkpoint = stats.step
            return stop.received is None

        try:
            agent.learn(config.timesteps, on_rollout=on_rollout)
        finally:
            bar.close()
            writer.close()
            log.close()
    checkpoint = save_state(agent, run_dir, config.keep_checkpoints)
    if stop.received is not None and agent.num_timesteps < config.timesteps:
        print(f"{stop.name} received: checkpoint at step {agent.num_timesteps} in {checkpoint}")
        return TrainOutcome(run_dir, agent.num_timesteps, False, checkpoint, recent)
    with atomic_path(run_dir / MODEL_PT) as tmp:
        torch.save({"model": agent.model.state_dict()}, tmp)
    return TrainOutcome(run_dir, agent.num_timesteps, True, checkpoint, recent)

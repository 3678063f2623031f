"""Benchmark the torch toy envs and the on-device PPO: ratios measured side by side.

    python benchmarks/toy_envs.py [--device auto] [--sizes 1 64 1024 4096] [--rounds 3]

Prints:
  - env steps/s with random actions, each task, for each number of envs N: the torch env
    (one batch on the device) against the plain numpy implementation of the same task under
    gymnasium's SyncVectorEnv (same-step autoreset, as the torch env); target on a CPU
    >= 20x at N = 1024, on a GPU >= 10M steps/s at N >= 4096;
  - training steps/s on the pointing task: the on-device PPO against SB3's PPO through the
    SB3 adapter, both with the shipped toy/point config's network, envs and hyperparameters
    (the experiment's; the learning rate held constant) (target >= 2x on a CPU,
    >= 10x on a GPU; on a GPU the on-device PPO should pass 200k steps/s).
Contenders run in interleaved rounds (order rotated each round); each figure is the
median over rounds.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import replace

import gymnasium as gym
import numpy as np
import torch
from gymnasium.vector import AutoresetMode
from stable_baselines3 import PPO
from timing import interleaved_rates

import coordrl.envs.toy
from coordrl.agents.builders import schedule
from coordrl.agents.device_ppo import DevicePPO
from coordrl.config import RunConfig, load_config
from coordrl.device import resolve_device
from coordrl.envs.factory import make_torch_env
from coordrl.envs.toy.sb3 import SB3VecEnv
from coordrl.extractors import make_policy_kwargs
from coordrl.settings import PPOSettings
from coordrl.shipped import find_config

POINT_CONFIG = "toy/point"  # a shipped config


def torch_env_steps(env_id: str, n: int, device, steps: int) -> Callable[[], int]:
    env = gym.make_vec(env_id, num_envs=n, device=device)
    env.reset(seed=0)
    bank = torch.randint(env.single_action_space.n, (16, n), device=device)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)

    def run() -> int:
        for i in range(steps):
            env.step(bank[i % 16])
        sync()
        return steps * n

    return run


def numpy_env_steps(env_id: str, n: int, steps: int) -> Callable[[], int]:
    env = gym.make_vec(
        env_id,
        num_envs=n,
        vectorization_mode="sync",
        vector_kwargs={"autoreset_mode": AutoresetMode.SAME_STEP},
    )
    return sync_env_steps(env, steps)


def sync_env_steps(env, steps: int) -> Callable[[], int]:
    """Random steps of a gymnasium numpy vector env (e.g. a SyncVectorEnv)."""
    n = env.num_envs
    env.reset(seed=0)
    bank = np.random.default_rng(0).integers(0, env.single_action_space.n, (16, n))

    def run() -> int:
        for i in range(steps):
            env.step(bank[i % 16])
        return steps * n

    return run


def steps_for(n: int, budget: int) -> int:
    """Vector steps per timing: about ``budget`` env transitions, 5 to 2000 calls."""
    return min(2000, max(5, budget // n))


def env_table(args, device) -> list[tuple[str, int, float, float]]:
    rows = []
    for task, env_id in coordrl.envs.toy.TASKS.items():
        for n in args.sizes:
            contenders = {
                "torch": torch_env_steps(env_id, n, device, steps_for(n, args.torch_budget)),
                "numpy": numpy_env_steps(env_id, n, steps_for(n, args.numpy_budget)),
            }
            rates = interleaved_rates(contenders, args.rounds, f"{task} N={n}")
            rows.append((task, n, rates["torch"], rates["numpy"]))
    return rows


def point_config(n_envs: int | None = None) -> tuple[RunConfig, PPOSettings]:
    """The shipped toy/point config at ``n_envs`` envs (default: its own), and its PPO settings.

    The minibatch size scales with the envs, so an epoch keeps the shipped number of minibatches.
    """
    shipped = load_config(find_config(POINT_CONFIG))
    settings = PPOSettings(**shipped.hyperparams)
    if not n_envs:
        return shipped, settings
    minibatches = shipped.n_envs * settings.n_steps // settings.batch_size
    settings = replace(settings, batch_size=n_envs * settings.n_steps // minibatches)
    hyperparams = {**shipped.hyperparams, "batch_size": settings.batch_size}
    return shipped.replace(n_envs=n_envs, hyperparams=hyperparams), settings


def training_rates(args, device) -> dict[str, float]:
    """Both PPOs on the pointing task with the shipped toy/point config's network and settings."""
    config, settings = point_config(args.ppo_envs)
    rollout = config.n_envs * settings.n_steps
    ours = DevicePPO(make_torch_env(config, device), settings, arch=config.arch)
    adapter = SB3VecEnv(make_torch_env(config, torch.device("cpu")))
    theirs = PPO(
        "CnnPolicy",
        adapter,
        n_steps=settings.n_steps,
        batch_size=settings.batch_size,
        n_epochs=settings.n_epochs,
        learning_rate=schedule(settings.learning_rate),
        gamma=settings.gamma,
        gae_lambda=settings.gae_lambda,
        clip_range=schedule(settings.clip_range),
        ent_coef=settings.ent_coef,
        vf_coef=settings.vf_coef,
        max_grad_norm=settings.max_grad_norm,
        policy_kwargs=make_policy_kwargs(config.arch),
        device=device,
        seed=0,
    )

    def run_ours() -> int:
        before = ours.num_timesteps
        ours.learn(before + rollout)
        if device.type == "cuda":
            torch.cuda.synchronize()
        return ours.num_timesteps - before

    def run_theirs() -> int:
        before = theirs.num_timesteps
        theirs.learn(rollout, reset_num_timesteps=False)
        return theirs.num_timesteps - before

    label = f"PPO training, {config.n_envs} envs x {settings.n_steps} steps"
    return interleaved_rates(
        {"on-device PPO": run_ours, "SB3 PPO via the adapter": run_theirs}, args.rounds, label
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--sizes", type=int, nargs="+", default=[1, 64, 1024, 4096])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--torch-budget", type=int, default=2_000_000, help="steps per timing")
    parser.add_argument("--numpy-budget", type=int, default=100_000, help="steps per timing")
    parser.add_argument("--ppo-envs", type=int, help="default: toy/point's")
    args = parser.parse_args()
    device = resolve_device(args.device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    print(f"device {name}, torch {torch.__version__}, {torch.get_num_threads()} threads")

    rows = env_table(args, device)
    print("\nenv steps/s, random actions (median):")
    print(f"  {'task':<9} {'N':>5} {'torch':>14} {'numpy (Sync)':>14} {'ratio':>8}")
    for task, n, fast, slow in rows:
        print(f"  {task:<9} {n:>5} {fast:>14,.0f} {slow:>14,.0f} {fast / slow:>7.1f}x")
    rates = training_rates(args, device)
    print(f"\nPPO training steps/s, pointing, {POINT_CONFIG}'s network and settings:")
    for label, rate in rates.items():
        print(f"  {label:<26} {rate:>10,.0f}")
    ratio = rates["on-device PPO"] / rates["SB3 PPO via the adapter"]
    target = "10" if device.type == "cuda" else "2"
    print(f"\nratio on-device / SB3 PPO: {ratio:.2f}x (target >= {target}x)")
    at_1024 = [fast / slow for _, n, fast, slow in rows if n == 1024]
    if at_1024:
        print(f"env ratio at N=1024: {', '.join(f'{r:.1f}x' for r in at_1024)} (target >= 20x)")


if __name__ == "__main__":
    main()

"""Benchmark Atari env and training throughput: ratios measured side by side in one run.

    python benchmarks/atari.py [--env Breakout] [--n-envs 8] [--rounds 5] [--device auto]

Prints:
  - env steps/s, random actions: the ale backend (C++ AtariVectorEnv) over the SB3 reference
    backend (make_atari_env + VecFrameStack), same preprocessing (target >= 2.5x), and the
    bare C++ env for scale (what the SB3 VecEnv wrapper costs);
  - PPO training fps (rl-zoo3 Atari hyperparameters, ale backend): CoordConv over conv
    (target overhead <= 5%, i.e. a ratio >= 0.95);
  - coordrl's PPO (conv, ale backend) over plain SB3 PPO on make_atari_env with the same
    hyperparameters (target >= 1.15x on a 2-core CPU, >= 2x on a GPU machine);
  - the on-device PPO and A2C over SB3's PPO and A2C, CoordConv, the shipped configs'
    hyperparameters and env counts, both on ale-py's C++ env (target >= 1.0x on the CPU,
    >= 3x on a GPU machine), and with the envs in two emulator groups over one.
Contenders run in interleaved rounds (order rotated each round) so machine noise hits them
alike; each figure is the median over rounds.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

import numpy as np
import torch
from ale_py.vector_env import AtariVectorEnv
from stable_baselines3 import PPO
from timing import interleaved_rates

from coordrl.agents.builders import build_algorithm, schedule
from coordrl.config import load_config
from coordrl.device import resolve_device
from coordrl.envs.atari import game_name, make_vec_env, resolve_env_id
from coordrl.shipped import find_config

PPO_CONFIG = "atari/ppo"  # a shipped config


def random_steps(env, n_envs: int, n_actions: int, steps: int) -> Callable[[], int]:
    """Step ``env`` (any vector env with reset/step) with uniformly random actions."""
    rng = np.random.default_rng(0)

    def run() -> int:
        for _ in range(steps // n_envs):
            env.step(rng.integers(0, n_actions, n_envs))
        return steps // n_envs * n_envs

    env.reset()
    return run


def learning(model, steps: int) -> Callable[[], int]:
    """Go on training ``model`` for ``steps`` env steps (whole rollouts)."""

    def run() -> int:
        before = model.num_timesteps
        model.learn(steps, reset_num_timesteps=False)
        return model.num_timesteps - before

    return run


def trainer_learning(trainer, steps: int) -> Callable[[], int]:
    """Go on training an on-device trainer for ``steps`` env steps (whole rollouts)."""

    def run() -> int:
        before = trainer.num_timesteps
        trainer.learn(before + steps)
        return trainer.num_timesteps - before

    return run


def on_device_against_sb3(
    env_id: str, device: torch.device, rounds: int, steps: int, n_envs: dict[str, int] | None = None
) -> dict[str, float]:
    """Training steps/s of the on-device PPO and A2C and of SB3's, with CoordConv and the
    shipped configs (``atari/ppo`` vs ``atari/device_ppo``...): same hyperparameters, env
    count (``n_envs[algo]`` or the config's) and C++ env; the on-device ones also with the
    envs in two emulator groups (``env_batch_size``: half steps while the network acts on
    the other half). Keys: "SB3 PPO", "on-device PPO", "on-device PPO, 2 groups"..."""
    from coordrl.agents.trainers import make_trainer, preflight

    contenders, closers = {}, []
    for algo in ("ppo", "a2c"):
        overrides = {"env": env_id, "seed": 0, "device": str(device), "arch": "coordconv"}
        if n_envs and algo in n_envs:
            overrides["n_envs"] = n_envs[algo]
        sb3_config = load_config(find_config(f"atari/{algo}"), overrides)
        ours = preflight(load_config(find_config(f"atari/device_{algo}"), overrides), "benchmark")
        rollout = sb3_config.hyperparams["n_steps"] * sb3_config.n_envs
        per_round = max(1, steps // rollout) * rollout
        env = make_vec_env(env_id, sb3_config.n_envs, seed=0)
        trainer = make_trainer(ours)
        halves = make_trainer(ours.replace(env_batch_size=ours.n_envs // 2))
        closers += [env, trainer, halves]
        name = algo.upper()
        contenders[f"SB3 {name}"] = learning(build_algorithm(sb3_config, env, device), per_round)
        contenders[f"on-device {name}"] = trainer_learning(trainer, per_round)
        contenders[f"on-device {name}, 2 groups"] = trainer_learning(halves, per_round)
    rates = interleaved_rates(contenders, rounds, "Atari training, on-device vs SB3")
    for closer in closers:
        closer.close()
    return rates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--env", default="Breakout")
    parser.add_argument("--n-envs", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--env-steps", type=int, default=8000, help="random steps per round")
    parser.add_argument("--ppo-steps", type=int, default=2048, help="PPO steps per round")
    parser.add_argument(
        "--train-steps", type=int, default=2048, help="steps per round, on-device vs SB3"
    )
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()
    env_id = resolve_env_id(args.env)
    device = resolve_device(args.device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    print(
        f"{env_id}, {args.n_envs} envs, device {name}, torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads, {args.rounds} rounds"
    )

    envs = {b: make_vec_env(env_id, args.n_envs, seed=0, backend=b) for b in ("ale", "sb3")}
    raw = AtariVectorEnv(game_name(env_id), args.n_envs, repeat_action_probability=0.25)
    n_actions = int(raw.single_action_space.n)
    contenders = {
        f"{b} backend": random_steps(env, args.n_envs, n_actions, args.env_steps)
        for b, env in envs.items()
    }
    contenders["C++ env alone (no wrapper)"] = random_steps(
        raw, args.n_envs, n_actions, args.env_steps
    )
    env_rates = interleaved_rates(contenders, args.rounds, "env steps")
    raw.close()

    base = load_config(find_config(PPO_CONFIG), {"env": env_id, "n_envs": args.n_envs, "seed": 0})
    hyper = base.hyperparams
    models = {
        "coordrl PPO, coordconv": build_algorithm(
            base.replace(arch="coordconv"), envs["ale"], device
        ),
        "coordrl PPO, conv": build_algorithm(base.replace(arch="conv"), envs["ale"], device),
    }
    models["SB3 PPO, make_atari_env"] = PPO(
        "CnnPolicy",
        envs["sb3"],
        n_steps=hyper["n_steps"],
        n_epochs=hyper["n_epochs"],
        batch_size=hyper["batch_size"],
        learning_rate=schedule(hyper["learning_rate"]),
        clip_range=schedule(hyper["clip_range"]),
        vf_coef=hyper["vf_coef"],
        ent_coef=hyper["ent_coef"],
        seed=0,
        device=device,
    )
    fps = interleaved_rates(
        {label: learning(model, args.ppo_steps) for label, model in models.items()},
        args.rounds,
        "PPO training",
    )
    for env in envs.values():
        env.close()
    versus = on_device_against_sb3(env_id, device, args.rounds, args.train_steps)

    print("\nenv steps/s, random actions (median):")
    for label, rate in env_rates.items():
        print(f"  {label:<28} {rate:10,.0f}")
    kept = env_rates["ale backend"] / env_rates["C++ env alone (no wrapper)"]
    print(f"  (the SB3 VecEnv wrapper keeps {kept:.0%} of the C++ env's own rate)")
    print("PPO training fps (median):")
    for label, rate in fps.items():
        print(f"  {label:<28} {rate:10,.0f}")
    print("training steps/s, CoordConv, shipped configs (median):")
    for label, rate in versus.items():
        print(f"  {label:<28} {rate:10,.0f}")
    print("\nratios:")
    print(
        f"  ale backend / SB3 backend, env steps/s       "
        f"{env_rates['ale backend'] / env_rates['sb3 backend']:.2f}  (target >= 2.5)"
    )
    print(
        f"  PPO fps, CoordConv / conv                    "
        f"{fps['coordrl PPO, coordconv'] / fps['coordrl PPO, conv']:.3f}  (target >= 0.95)"
    )
    target = "2" if device.type == "cuda" else "1.15"
    print(
        f"  PPO fps, coordrl (conv) / SB3 make_atari_env "
        f"{fps['coordrl PPO, conv'] / fps['SB3 PPO, make_atari_env']:.2f}  (target >= {target})"
    )
    target = "3" if device.type == "cuda" else "1.0"
    for name in ("PPO", "A2C"):
        ratio = versus[f"on-device {name}"] / versus[f"SB3 {name}"]
        print(f"  {name} training, on-device / SB3              {ratio:.2f}  (target >= {target})")
        halves = versus[f"on-device {name}, 2 groups"] / versus[f"on-device {name}"]
        print(f"  {name} training, 2 emulator groups / 1        {halves:.2f}")


if __name__ == "__main__":
    main()

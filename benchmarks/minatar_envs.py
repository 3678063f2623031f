"""Benchmark the torch MinAtar games and the on-device agents: ratios measured side by side.

    python benchmarks/minatar_envs.py [--device auto] [--sizes 1 64 1024 4096] [--rounds 3]

(Named so as not to shadow the ``minatar`` package, which it imports.)

Prints:
  - env steps/s with random actions, each game, for each number of envs N: the torch port
    (one batch on the device) against the ``minatar`` package (one Python env per instance
    under gymnasium's SyncVectorEnv, same-step autoreset); target on a CPU at N = 1024:
    >= 20x for every game, >= 50x for Breakout and Freeway; on a GPU >= 1M steps/s at
    N >= 4096;
  - training steps/s on Breakout with MinAtar's CoordConv network: the on-device A2C and PPO
    against SB3's A2C and PPO through the SB3 adapter, same hyperparameters and envs
    (target >= 2x on a CPU).
Contenders run in interleaved rounds (order rotated each round); each figure is the median.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

import torch
from gymnasium.vector import AutoresetMode, SyncVectorEnv
from minatar.gym import BaseEnv
from stable_baselines3 import A2C, PPO
from stable_baselines3.common.sb2_compat.rmsprop_tf_like import RMSpropTFLike
from timing import interleaved_rates
from toy_envs import steps_for, sync_env_steps, torch_env_steps

from coordrl.agents.device_a2c import DeviceA2C
from coordrl.agents.device_ppo import DevicePPO
from coordrl.device import resolve_device
from coordrl.envs.minatar import GAMES, env_id
from coordrl.envs.toy.sb3 import SB3VecEnv
from coordrl.extractors import make_policy_kwargs
from coordrl.settings import A2CSettings, PPOSettings

TARGETS = {"breakout": 50, "freeway": 50}  # x at N = 1024 on a CPU; the others: 20


def package_steps(game: str, n: int, steps: int) -> Callable[[], int]:
    env = SyncVectorEnv(
        [lambda: BaseEnv(game, use_minimal_action_set=True)] * n,
        autoreset_mode=AutoresetMode.SAME_STEP,
    )
    return sync_env_steps(env, steps)


def training_rates(args, device: torch.device) -> dict[str, float]:
    """On-device A2C / PPO and SB3's A2C / PPO on Breakout, one rollout per call."""
    n = args.train_envs
    a2c = A2CSettings()
    ppo = PPOSettings(n_steps=128, batch_size=n * 128 // 8, learning_rate=5e-4, clip_range=0.2)
    kwargs = make_policy_kwargs("coordconv", network="minatar")
    ours_a2c = DeviceA2C(GAMES["breakout"](n, device=device), a2c, network="minatar")
    ours_ppo = DevicePPO(GAMES["breakout"](n, device=device), ppo, network="minatar")
    sb3_a2c = A2C(
        "CnnPolicy",
        SB3VecEnv(GAMES["breakout"](n)),
        n_steps=a2c.n_steps,
        learning_rate=a2c.learning_rate,
        ent_coef=a2c.ent_coef,
        vf_coef=a2c.vf_coef,
        policy_kwargs={
            **kwargs,
            "optimizer_class": RMSpropTFLike,
            "optimizer_kwargs": {"eps": a2c.rms_prop_eps},
        },
        device=device,
        seed=0,
    )
    sb3_ppo = PPO(
        "CnnPolicy",
        SB3VecEnv(GAMES["breakout"](n)),
        n_steps=ppo.n_steps,
        batch_size=ppo.batch_size,
        n_epochs=ppo.n_epochs,
        learning_rate=ppo.learning_rate,
        clip_range=ppo.clip_range,
        ent_coef=ppo.ent_coef,
        policy_kwargs=make_policy_kwargs("coordconv", network="minatar"),
        device=device,
        seed=0,
    )

    def ours(agent, rollout: int) -> Callable[[], int]:
        def run() -> int:
            before = agent.num_timesteps
            agent.learn(before + rollout * args.updates)
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            return agent.num_timesteps - before

        return run

    def theirs(model, rollout: int) -> Callable[[], int]:
        def run() -> int:
            before = model.num_timesteps
            model.learn(rollout * args.updates, reset_num_timesteps=False)
            return model.num_timesteps - before

        return run

    return interleaved_rates(
        {
            "on-device A2C": ours(ours_a2c, n * a2c.n_steps),
            "SB3 A2C via the adapter": theirs(sb3_a2c, n * a2c.n_steps),
            "on-device PPO": ours(ours_ppo, n * ppo.n_steps),
            "SB3 PPO via the adapter": theirs(sb3_ppo, n * ppo.n_steps),
        },
        args.rounds,
        f"training, {n} envs",
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--games", nargs="+", choices=list(GAMES), default=list(GAMES))
    parser.add_argument("--sizes", type=int, nargs="+", default=[1, 64, 1024, 4096])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--torch-budget", type=int, default=400_000, help="steps per timing")
    parser.add_argument("--package-budget", type=int, default=40_000, help="steps per timing")
    parser.add_argument("--train-envs", type=int, default=16)
    parser.add_argument("--updates", type=int, default=4, help="rollouts per timing")
    args = parser.parse_args()
    device = resolve_device(args.device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    print(f"device {name}, torch {torch.__version__}, {torch.get_num_threads()} threads")

    rows = []
    for game in args.games:
        for n in args.sizes:
            rates = interleaved_rates(
                {
                    "torch": torch_env_steps(
                        env_id(game), n, device, steps_for(n, args.torch_budget)
                    ),
                    "package": package_steps(game, n, steps_for(n, args.package_budget)),
                },
                args.rounds,
                f"{game} N={n}",
            )
            rows.append((game, n, rates["torch"], rates["package"]))
    print("\nenv steps/s, random actions (median):")
    print(f"  {'game':<15} {'N':>5} {'torch':>14} {'minatar (Sync)':>15} {'ratio':>8}")
    for game, n, fast, slow in rows:
        print(f"  {game:<15} {n:>5} {fast:>14,.0f} {slow:>15,.0f} {fast / slow:>7.1f}x")
    for game, n, fast, slow in rows:
        if n == 1024 and device.type == "cpu":
            target = TARGETS.get(game, 20)
            verdict = "met" if fast / slow >= target else "NOT met"
            print(f"  {game} at N=1024: {fast / slow:.1f}x (target >= {target}x: {verdict})")

    rates = training_rates(args, device)
    print(f"\ntraining steps/s, Breakout, CoordConv MinAtar network, {args.train_envs} envs:")
    for label, rate in rates.items():
        print(f"  {label:<26} {rate:>10,.0f}")
    for algo in ("A2C", "PPO"):
        ratio = rates[f"on-device {algo}"] / rates[f"SB3 {algo} via the adapter"]
        print(f"  on-device / SB3 {algo}: {ratio:.2f}x (target >= 2x on a CPU)")


if __name__ == "__main__":
    main()

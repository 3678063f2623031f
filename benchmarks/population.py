"""Benchmark population training against today's way: ratios measured side by side.

    python benchmarks/population.py [--games breakout seaquest] [--members 20] [--rounds 3]

On each game, with the ``minatar/a2c`` settings (16 envs per agent, n_steps 5), in
alternating rounds (order rotated each round):
  - ``singles``: two single-agent ``device_a2c`` processes at once, one thread each (how a
    sweep ran its trials on this 2-core CPU before populations): their steps/s summed;
  - ``population fp32`` / ``population bf16``: one process training ``--members`` agents
    (half conv, half CoordConv) as one population, all threads.
Prints each one's aggregate training steps/s (median over rounds, with min-max), the ratio
population / singles (target >= 5x in float32), and the arithmetic each reaches in GFLOP/s
against this machine's batched-matmul peak measured in the same run (the physical limit):
``bmm`` of 20 x 1024 x 1600 x 128, the shape of MinAtar's dense layer over 20 members.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

GAMES = {"breakout": "Breakout", "seaquest": "Seaquest"}
WARMUP_UPDATES = 20


def population_configs(game: str, members: int, precision: str, device: str = "cpu"):
    """``members`` configs of ``minatar/a2c`` on ``game``: seeds 0, 0, 1, 1, ..., conv and
    CoordConv in turn."""
    from coordrl.agents.trainers import preflight
    from coordrl.config import load_config
    from coordrl.shipped import find_config

    configs = []
    for k in range(members):
        overrides = {
            "env": f"coordrl/MinAtar-{GAMES[game]}-v0",
            "seed": k // 2,
            "arch": ("conv", "coordconv")[k % 2],
            "device": device,
            "hyperparams": {"precision": precision},
        }
        configs.append(preflight(load_config(find_config("minatar/a2c"), overrides), "bench"))
    return configs


def flops_per_step(config) -> float:
    """Network FLOPs per env step of A2C: the acting forward pass, and the update's forward
    and backward (twice the forward's arithmetic; no gradient for the input)."""
    from coordrl.envs.factory import make_torch_env

    env = make_torch_env(config, __import__("torch").device("cpu"), num_envs=1)
    channels, height, width = env.single_observation_space.shape
    actions = int(env.single_action_space.n)
    positions = (height - 2) * (width - 2)
    macs = positions * 16 * channels * 9 + positions * 16 * 128 + 128 * (actions + 1)
    return 2.0 * macs * (1 + 3)


def worker(kind: str, game: str, members: int, precision: str, seconds: float) -> None:
    """Train for about ``seconds`` after a warm-up; print steps/s as JSON."""
    from coordrl.agents.population import PopulationTrainer
    from coordrl.agents.trainers import make_trainer

    configs = population_configs(game, members, precision)
    trainer = make_trainer(configs[0]) if kind == "single" else PopulationTrainer(configs)
    agents = 1 if kind == "single" else members
    per_update = configs[0].n_envs * configs[0].hyperparams["n_steps"]
    trainer.learn(WARMUP_UPDATES * per_update)
    start, steps = time.perf_counter(), trainer.num_timesteps
    while time.perf_counter() - start < seconds:
        trainer.learn(trainer.num_timesteps + 10 * per_update)
    rate = agents * (trainer.num_timesteps - steps) / (time.perf_counter() - start)
    print(json.dumps({"rate": rate, "flops_per_step": flops_per_step(configs[0])}))


def _spawn(args: list[str], threads: int) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    command = [sys.executable, __file__, "--worker", *args]
    return subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=env)


def _result(process: subprocess.Popen) -> dict:
    out, _ = process.communicate()
    if process.returncode != 0:
        raise SystemExit(f"a benchmark worker failed (exit {process.returncode})")
    return json.loads(out.strip().splitlines()[-1])


def singles(game: str, seconds: float) -> dict:
    runs = [_spawn(["single", game, "1", "fp32", str(seconds)], 1) for _ in range(2)]
    results = [_result(p) for p in runs]
    return {"rate": sum(r["rate"] for r in results), "flops_per_step": results[0]["flops_per_step"]}


def population(game: str, members: int, precision: str, seconds: float) -> dict:
    threads = os.cpu_count() or 1
    return _result(_spawn(["population", game, str(members), precision, str(seconds)], threads))


def bmm_peak(precision: str, rounds: int = 5) -> float:
    """GFLOP/s of ``bmm`` 20 x 1024 x 1600 x 128 (the best of ``rounds``)."""
    import torch

    dtype = torch.bfloat16 if precision == "bf16" else torch.float32
    a = torch.rand(20, 1024, 1600, dtype=dtype)
    b = torch.rand(20, 1600, 128, dtype=dtype)
    torch.bmm(a, b)
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        torch.bmm(a, b)
        best = min(best, time.perf_counter() - start)
    return 2 * 20 * 1024 * 1600 * 128 / best / 1e9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--games", nargs="+", default=list(GAMES), choices=list(GAMES))
    parser.add_argument("--members", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=15.0, help="timed part of each run")
    parser.add_argument("--worker", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        kind, game, members, precision, seconds = args.worker
        worker(kind, game, int(members), precision, float(seconds))
        return
    peaks = {p: bmm_peak(p) for p in ("fp32", "bf16")}
    print(
        f"batched matmul peak (bmm 20x1024x1600x128, {os.cpu_count()} threads): "
        f"fp32 {peaks['fp32']:.0f} GFLOP/s, bf16 {peaks['bf16']:.0f} GFLOP/s"
    )
    contenders = {
        "singles": lambda game: singles(game, args.seconds),
        "population fp32": lambda game: population(game, args.members, "fp32", args.seconds),
        "population bf16": lambda game: population(game, args.members, "bf16", args.seconds),
    }
    names = list(contenders)
    for game in args.games:
        rates: dict[str, list[float]] = {name: [] for name in names}
        flops = 0.0
        for r in range(args.rounds):
            for name in names[r % len(names) :] + names[: r % len(names)]:
                result = contenders[name](game)
                rates[name].append(result["rate"])
                flops = result["flops_per_step"]
        base = statistics.median(rates["singles"])
        heading = f"{GAMES[game]}: {args.members} members, {args.rounds} rounds"
        print(f"\n{heading}, {flops / 1e6:.2f} MFLOP of network arithmetic per env step")
        print("| contender | steps/s (median) | min-max | x singles | GFLOP/s | of peak |")
        print("|---|---:|---:|---:|---:|---:|")
        for name in names:
            median = statistics.median(rates[name])
            peak = peaks["bf16" if "bf16" in name else "fp32"]
            gflops = median * flops / 1e9
            print(
                f"| {name} | {median:,.0f} | {min(rates[name]):,.0f}-{max(rates[name]):,.0f} | "
                f"{median / base:.2f} | {gflops:.1f} | {gflops / peak:.0%} |"
            )


if __name__ == "__main__":
    main()

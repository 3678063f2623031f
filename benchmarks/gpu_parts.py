"""The parts of ``benchmarks/gpu.py``: each measures one path, within its own time share.

Each part writes its rows to a JSON file as it goes (so what was measured survives a part
that is cut short or killed) and checks the clock before each measurement, skipping the
rest with a recorded line when its share is spent. ``scale`` is ``full`` on a GPU and
``tiny`` for the CPU dry run that keeps the script from rotting between GPU visits.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace

import torch

REPO = Path(__file__).resolve().parent.parent


@dataclass
class Part:
    """The rows and notes of one part, saved to ``path`` after each change."""

    name: str
    deadline: float  # time.monotonic() by which the part must be done
    path: Path
    rows: list[dict] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    cut: bool = False

    def left(self) -> float:
        return self.deadline - time.monotonic()

    def has_time(self, seconds: float, what: str) -> bool:
        """Whether ``seconds`` are left for ``what``; if not, record that it was cut."""
        if self.left() >= seconds:
            return True
        self.cut = True
        self.note(f"no time left for {what} (needs ~{seconds:.0f} s)")
        return False

    def row(self, measured: str, value: float, unit: str, target: str = "", met=None) -> None:
        self.rows.append(
            {"measured": measured, "value": value, "unit": unit, "target": target, "met": met}
        )
        self.save()

    def at_least(self, measured: str, value: float, unit: str, floor: float | None) -> None:
        """A row whose target is ``value >= floor``; no target where ``floor`` is None (a
        target for the GPU only, say, measured on the CPU)."""
        if floor is None:
            return self.row(measured, value, unit)
        shown = f">= {floor:g}x" if unit == "x" else f">= {floor:,.0f} {unit}"
        return self.row(measured, value, unit, shown, value >= floor)

    def note(self, text: str) -> None:
        print(f"  [{self.name}] {text}", flush=True)
        self.notes.append(text)
        self.save()

    def save(self) -> None:
        data = {"rows": self.rows, "notes": self.notes, "cut": self.cut}
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=1))
        tmp.replace(self.path)


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def training_rate(agent, rollouts: int, device: torch.device) -> float:
    """Steps/s of an on-device agent over ``rollouts`` rollouts, after one to warm up."""
    rollout = agent.env.num_envs * agent.settings.n_steps
    agent.learn(agent.num_timesteps + rollout)
    synchronize(device)
    start = time.perf_counter()
    agent.learn(agent.num_timesteps + rollout * rollouts)
    synchronize(device)
    return rollout * rollouts / (time.perf_counter() - start)


# ---------------------------------------------------------------------------------------
# correctness: the tests marked `cuda`


def run_tests(part: Part, device: torch.device, scale: str) -> None:
    """``pytest -m cuda`` on the installed coordrl: every test that has a CUDA variant."""
    env = dict(os.environ, PYTHONSAFEPATH="1")  # the installed coordrl, not the checkout's
    command = [sys.executable, "-m", "pytest", "-m", "cuda", "-q", "-p", "no:cacheprovider"]
    # a test module that needs a package this machine lacks (videos, Ray...) is reported
    # below, not allowed to stop the others
    command.append("--continue-on-collection-errors")
    # the CPU dry run collects two modules only: collecting all of them takes its share
    tiny = ["test_layers.py", "test_toy_envs.py"]
    command += [str(REPO / "tests" / f) for f in tiny] if scale == "tiny" else [str(REPO / "tests")]
    try:
        done = subprocess.run(
            command,
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=max(part.left() - 5, 1),
        )
    except subprocess.TimeoutExpired as timeout:
        part.cut = True
        so_far = timeout.stdout or ""
        so_far = so_far.decode(errors="replace") if isinstance(so_far, bytes) else so_far
        part.note(f"pytest -m cuda did not finish in its share; so far: {so_far[-500:]!r}")
        return
    print(done.stdout[-4000:], done.stderr[-2000:], sep="\n", flush=True)
    summary = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else ""
    counts = {word.rstrip("s"): int(n) for n, word in re.findall(r"(\d+) (\w+)", summary)}
    uncollected = re.findall(r"^ERROR (\S+)", done.stdout, flags=re.MULTILINE)
    for outcome in ("passed", "failed", "skipped"):
        part.row(f"tests marked cuda: {outcome}", counts.get(outcome, 0), "tests")
    part.note(f"pytest: {summary} (exit {done.returncode})")
    if uncollected:
        part.note(f"not collected (a package missing here?): {', '.join(uncollected)}")
    if counts.get("failed") or (counts.get("passed", 0) == 0 and scale == "full"):
        raise RuntimeError(f"tests marked cuda: {summary}")


# ---------------------------------------------------------------------------------------
# the layers


def run_layers(part: Part, device: torch.device, scale: str) -> None:
    """NatureCNN fwd+bwd, CoordConv over conv: fp32 and bf16 autocast, compiled and eager."""
    import numpy as np
    from gymnasium import spaces
    from layers import forward_backward, time_interleaved

    from coordrl.extractors import CoordNatureCNN, NatureCNN

    batch, rounds, iters = (256, 10, 5) if scale == "full" else (8, 2, 1)
    space = spaces.Box(0, 255, (4, 84, 84), np.uint8)
    torch.manual_seed(0)
    eager = {"conv": NatureCNN(space).to(device), "coordconv": CoordNatureCNN(space).to(device)}
    x = torch.rand(batch, 4, 84, 84, device=device)
    compiled = {k: torch.compile(m) for k, m in eager.items()}  # compiles on first call
    for mode, models in (("eager", eager), ("torch.compile", compiled)):
        for precision, dtype in (("fp32", None), ("bf16 autocast", torch.bfloat16)):
            label = f"{precision}, {mode}"
            # compiling both networks' forward and backward takes tens of seconds
            if not part.has_time((10 if scale == "full" else 2) if mode == "eager" else 50, label):
                return

            def step(model, dtype=dtype):
                fwd_bwd = forward_backward(model, x)

                def run() -> None:
                    with torch.autocast(
                        device.type, dtype=dtype or torch.float32, enabled=bool(dtype)
                    ):
                        fwd_bwd()

                return run

            ms = time_interleaved(
                {k: step(m) for k, m in models.items()}, rounds, iters, device, label
            )
            for arch, seconds in ms.items():
                part.row(f"NatureCNN fwd+bwd, batch {batch}, {arch}, {label}", seconds * 1e3, "ms")
            ratio = ms["coordconv"] / ms["conv"]
            part.row(f"CoordConv / conv fwd+bwd, {label}", ratio, "x", "<= 1.05", ratio <= 1.05)


# ---------------------------------------------------------------------------------------
# the toy envs and the on-device PPO


def run_toy_envs(part: Part, device: torch.device, scale: str) -> None:
    """Env steps/s of the torch toy envs with random actions, at large N."""
    from timing import interleaved_rates
    from toy_envs import torch_env_steps

    import coordrl.envs.toy

    sizes = (4096, 16384, 65536) if scale == "full" else (64, 256)
    steps, rounds = (200, 5) if scale == "full" else (10, 2)
    for task, env_id in coordrl.envs.toy.TASKS.items():
        for n in sizes:
            if not part.has_time(8 if scale == "full" else 1, f"{task} at N={n}"):
                return
            rate = interleaved_rates(
                {"torch": torch_env_steps(env_id, n, device, steps)}, rounds, f"{task} N={n}"
            )["torch"]
            target = ">= 10M/s" if device.type == "cuda" else ""
            part.row(
                f"toy env {task}, N={n}, random actions",
                rate,
                "steps/s",
                target,
                rate >= 10e6 if target else None,
            )


def run_ppo(part: Part, device: torch.device, scale: str) -> None:
    """On-device PPO (CoordConv) training steps/s against SB3's PPO through the adapter."""
    from toy_envs import point_config, training_rates

    from coordrl.agents.device_ppo import DevicePPO
    from coordrl.envs.factory import make_torch_env

    rounds = 5 if scale == "full" else 1
    envs = None if scale == "full" else 16
    if not part.has_time(30 if scale == "full" else 4, "on-device PPO against SB3 PPO"):
        return
    rates = training_rates(SimpleNamespace(rounds=rounds, ppo_envs=envs), device)
    config, _ = point_config(envs)
    ours, theirs = rates["on-device PPO"], rates["SB3 PPO via the adapter"]
    arch = f"{config.arch}, {config.n_envs} envs"
    part.row(f"SB3 PPO via the adapter, {arch}", theirs, "steps/s")
    gpu = device.type == "cuda"
    part.at_least(f"on-device PPO, {arch}", ours, "steps/s", 200e3 if gpu else None)
    part.at_least("on-device PPO / SB3 PPO", ours / theirs, "x", 10 if gpu else 2)

    # the on-device PPO alone at more envs: where a GPU's rate comes from
    for n in (1024, 4096, 16384) if scale == "full" else (64,):
        if not part.has_time(20 if scale == "full" else 2, f"on-device PPO at {n} envs"):
            return
        big, settings = point_config(n)
        ppo = DevicePPO(make_torch_env(big, device), settings, arch=big.arch)
        rate = training_rate(ppo, rounds, device)
        label = f"on-device PPO, {big.arch}, {n} envs, batch {settings.batch_size}"
        part.at_least(label, rate, "steps/s", 200e3 if gpu else None)


# ---------------------------------------------------------------------------------------
# Atari


def run_atari(part: Part, device: torch.device, scale: str) -> None:
    """SB3 PPO on Atari (the ale backend): training fps on ``device`` against the CPU."""
    from atari import learning
    from timing import interleaved_rates

    from coordrl.agents.builders import build_algorithm
    from coordrl.config import load_config
    from coordrl.envs.atari import make_vec_env, resolve_env_id
    from coordrl.shipped import find_config

    n_envs, rounds = (8, 3) if scale == "full" else (2, 1)
    env_id = resolve_env_id("Breakout")
    base = load_config(find_config("atari/ppo"), {"env": env_id, "n_envs": n_envs, "seed": 0})
    steps = base.hyperparams["n_steps"] * n_envs  # one rollout per round
    if not part.has_time(40 if scale == "full" else 5, "Atari PPO training"):
        return
    contenders, envs = {}, []
    for arch, where in (
        ("coordconv", device),
        ("conv", device),
        ("coordconv", torch.device("cpu")),
    ):
        label = f"PPO {arch} on {where.type}"
        if label in contenders:
            continue
        env = make_vec_env(env_id, n_envs, seed=0, backend="ale")
        envs.append(env)
        contenders[label] = learning(build_algorithm(base.replace(arch=arch), env, where), steps)
    fps = interleaved_rates(contenders, rounds, "Atari PPO")
    for env in envs:
        env.close()
    for label, rate in fps.items():
        part.row(f"Breakout, {n_envs} envs, {label}", rate, "steps/s")
    if device.type == "cuda":
        ratio = fps["PPO coordconv on cuda"] / fps["PPO coordconv on cpu"]
        part.row("Atari PPO, CoordConv: cuda / cpu", ratio, "x")
    ratio = fps[f"PPO coordconv on {device.type}"] / fps[f"PPO conv on {device.type}"]
    part.row(
        f"Atari PPO fps, CoordConv / conv on {device.type}", ratio, "x", ">= 0.95", ratio >= 0.95
    )


def run_minatar(part: Part, device: torch.device, scale: str) -> None:
    """The MinAtar games' env steps/s at large N, and the on-device A2C's training steps/s."""
    from timing import interleaved_rates
    from toy_envs import torch_env_steps

    from coordrl.agents.device_a2c import DeviceA2C
    from coordrl.envs.minatar import GAMES, env_id
    from coordrl.settings import A2CSettings

    sizes = (4096, 16384) if scale == "full" else (64,)
    steps, rounds = (100, 3) if scale == "full" else (10, 1)
    gpu = device.type == "cuda"
    for game in GAMES:
        for n in sizes:
            if not part.has_time(6 if scale == "full" else 1, f"MinAtar {game} at N={n}"):
                return
            play = torch_env_steps(env_id(game), n, device, steps)
            rate = interleaved_rates({"torch": play}, rounds, f"{game} N={n}")["torch"]
            label = f"MinAtar {game}, N={n}, random actions"
            part.at_least(label, rate, "steps/s", 1e6 if gpu else None)
    envs = 4096 if scale == "full" else 16
    if not part.has_time(20 if scale == "full" else 2, "on-device A2C on MinAtar Breakout"):
        return
    agent = DeviceA2C(GAMES["breakout"](envs, device=device), A2CSettings(), network="minatar")
    rate = training_rate(agent, 20 if scale == "full" else 2, device)
    part.row(f"on-device A2C, MinAtar Breakout, CoordConv, {envs} envs", rate, "steps/s")
    if gpu:  # a 5M-step run at this rate, against the 30 s target
        part.row("5M-step A2C run at that rate", 5e6 / rate, "s", "<= 30 s", 5e6 / rate <= 30)


def run_atari_device(part: Part, device: torch.device, scale: str) -> None:
    """The on-device PPO and A2C on Atari against SB3's (CoordConv, shipped configs, the same
    env count each), at the configs' env counts and at 64 envs."""
    from atari import on_device_against_sb3

    gpu = device.type == "cuda"
    counts = (8, 64) if scale == "full" else (2,)
    rounds, steps = (3, 8192) if scale == "full" else (1, 64)
    for n in counts:
        if not part.has_time(60 if scale == "full" else 5, f"Atari on-device vs SB3, {n} envs"):
            return
        envs = {"ppo": n, "a2c": n}
        rates = on_device_against_sb3("ALE/Breakout-v5", device, rounds, steps, envs)
        for label, rate in rates.items():
            fast = gpu and label.startswith("on-device PPO")  # Cleanba's one-A100 rate
            measured = f"Breakout, {n} envs, {label}, CoordConv"
            part.at_least(measured, rate, "steps/s", 5000 if fast else None)
        for name in ("PPO", "A2C"):
            halves = rates[f"on-device {name}, 2 groups"] / rates[f"on-device {name}"]
            part.row(f"Atari {name}, {n} envs: 2 emulator groups / 1", halves, "x")
            ratio = rates[f"on-device {name}"] / rates[f"SB3 {name}"]
            part.at_least(f"Atari {name}, {n} envs: on-device / SB3", ratio, "x", 3 if gpu else 1)


def run_population(part: Part, device: torch.device, scale: str) -> None:
    """Population training (``minatar/a2c`` settings, half conv and half CoordConv): the
    aggregate training steps/s of K members as one computation, float32 and bfloat16."""
    from population import population_configs

    from coordrl.agents.population import PopulationTrainer

    gpu = device.type == "cuda"
    sizes = (20, 100) if scale == "full" else (2,)
    rollouts = 50 if scale == "full" else 2
    for game in ("breakout", "seaquest"):
        for members in sizes:
            for precision in ("fp32", "bf16"):
                what = f"population of {members}, {game}, {precision}"
                if not part.has_time(30 if scale == "full" else 2, what):
                    return
                configs = population_configs(game, members, precision, str(device))
                trainer = PopulationTrainer(configs)
                per_rollout = configs[0].n_envs * configs[0].hyperparams["n_steps"]
                trainer.learn(per_rollout)
                synchronize(device)
                start = time.perf_counter()
                trainer.learn(per_rollout * (1 + rollouts))
                synchronize(device)
                rate = members * per_rollout * rollouts / (time.perf_counter() - start)
                trainer.close()
                # 2M steps/s: all of sweeps/minatar-5m (500M steps) in about 4 minutes
                part.at_least(f"MinAtar {what}", rate, "steps/s", 2e6 if gpu else None)


PARTS: dict[str, tuple[float, Callable[[Part, torch.device, str], None]]] = {
    # name: (share of the budget, by weight; the measurement)
    "tests": (5.0, run_tests),  # 85-130 s on an H200, a third of it compiling
    "layers": (3.0, run_layers),
    "toy-envs": (1.5, run_toy_envs),
    "ppo": (2.0, run_ppo),
    "atari": (2.0, run_atari),
    "minatar": (1.5, run_minatar),
    "atari-device": (1.0, run_atari_device),
    "population": (1.5, run_population),
}

"""Benchmark the Atari DQN replay buffer: memory and checkpoints, coordrl's against SB3's.

    python benchmarks/replay.py [--transitions 100000] [--new 10000] [--rounds 3]

Both buffers are filled with the same transitions of random play on Breakout (ale-py's C++
env, the shipped preprocessing, life-loss ends, terminal observations as next_obs, as SB3's
DQN adds them). Prints:
  - memory per transition: FrameReplayBuffer (frames stored once, plus what it keeps aside)
    over SB3's ReplayBuffer (target <= 1/6), and a 1M-transition buffer at the measured
    rate (target < 8 GB);
  - sampling: batches of 32 per second (rebuilding stacks against indexing them), the
    buffers' share of a DQN update;
  - checkpoint time and size as a run writes them (``write_checkpoint``: atomic, fsynced,
    one kept): the first, then each after ``--new`` more transitions, SB3's pickled buffer
    against the segments; and the disk each run directory then holds.
Checkpoints alternate between the two in each round; figures are medians with their range.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from stable_baselines3.common.buffers import ReplayBuffer
from stable_baselines3.common.save_util import save_to_pkl
from timing import interleaved_rates
from tqdm import tqdm

from coordrl.agents.replay import FrameReplayBuffer
from coordrl.agents.replay_store import ReplayStore
from coordrl.envs.atari import make_vec_env
from coordrl.runs import write_checkpoint

N_ENVS = 4  # envs feeding the buffers (one add stores one transition per env)
BATCH, SAMPLES = 32, 300  # rl-zoo3's DQN batch; batches per timed round
GIB = 2**30


def sb3_bytes(buffer: ReplayBuffer) -> int:
    arrays = ("observations", "next_observations", "actions", "rewards", "dones", "timeouts")
    return sum(getattr(buffer, name).nbytes for name in arrays)


class Player:
    """Random play on Breakout, adding each step to every buffer as SB3's DQN does."""

    def __init__(self, seed: int = 0) -> None:
        self.env = make_vec_env("Breakout", N_ENVS, seed=seed)
        self.obs = self.env.reset()
        self.rng = np.random.default_rng(seed)

    def play(self, transitions: int, buffers: list[ReplayBuffer], desc: str) -> None:
        for _ in tqdm(range(transitions // N_ENVS), desc=desc, file=sys.stderr, leave=False):
            actions = self.rng.integers(0, self.env.action_space.n, N_ENVS)
            new_obs, rewards, dones, infos = self.env.step(actions)
            next_obs = new_obs.copy()
            for i in np.flatnonzero(dones):
                next_obs[i] = infos[i]["terminal_observation"]
            for buffer in buffers:
                buffer.add(self.obs, next_obs, actions[:, None], rewards, dones, infos)
            self.obs = new_obs


def disk_bytes(folder: Path) -> int:
    return sum(files(folder).values())


def files(folder: Path) -> dict[Path, int]:
    """Every file under ``folder`` and its size."""
    return {p: p.stat().st_size for p in folder.rglob("*") if p.is_file()}


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--transitions", type=int, default=100_000, help="buffer size")
    parser.add_argument("--new", type=int, default=10_000, help="transitions between checkpoints")
    parser.add_argument("--rounds", type=int, default=3, help="checkpoints after the first")
    parser.add_argument("--dir", type=Path, default=None, help="where checkpoints are written")
    args = parser.parse_args()

    player = Player()
    space, actions = player.env.observation_space, player.env.action_space
    ours = FrameReplayBuffer(args.transitions, space, actions, device="cpu", n_envs=N_ENVS)
    theirs = ReplayBuffer(args.transitions, space, actions, device="cpu", n_envs=N_ENVS)
    player.play(args.transitions, [ours, theirs], "filling both buffers")
    assert ours.full and theirs.full

    print(
        f"Replay buffer, {args.transitions:,} transitions of 4x84x84 uint8 stacks "
        f"(random Breakout, {N_ENVS} envs)"
    )
    per_ours, per_theirs = ours.nbytes() / args.transitions, sb3_bytes(theirs) / args.transitions
    aside = ours.asides.nbytes() / args.transitions
    print(
        f"  memory per transition: FrameReplayBuffer {per_ours:,.0f} B "
        f"(of which kept aside {aside:,.0f} B), SB3 ReplayBuffer {per_theirs:,.0f} B: "
        f"ratio {per_ours / per_theirs:.3f} (target <= {1 / 6:.3f})"
    )
    print(
        f"  whole buffer: {ours.nbytes() / GIB:.2f} GiB vs {sb3_bytes(theirs) / GIB:.2f} GiB; "
        f"a 1M buffer at this rate: {per_ours * 1e6 / 1e9:.2f} GB vs "
        f"{per_theirs * 1e6 / 1e9:.1f} GB (target < 8 GB)"
    )

    def sampling(buffer: ReplayBuffer) -> Callable[[], int]:
        def run() -> int:
            for _ in range(SAMPLES):
                buffer.sample(BATCH)
            return SAMPLES

        return run

    rates = interleaved_rates(
        {"sb3": sampling(theirs), "frames": sampling(ours)}, args.rounds + 2, "sampling"
    )
    print(
        f"  sampling, batches of {BATCH} per second: SB3 {rates['sb3']:,.0f}, frames "
        f"{rates['frames']:,.0f}: ratio {rates['frames'] / rates['sb3']:.2f} "
        f"(medians of {args.rounds + 2} interleaved rounds)"
    )

    root = Path(tempfile.mkdtemp(prefix="coordrl-replay-", dir=args.dir))
    runs = {"sb3": root / "sb3", "frames": root / "frames"}
    store = ReplayStore()
    writers = {
        "sb3": lambda tmp: save_to_pkl(tmp / "replay_buffer.pkl", theirs),
        "frames": lambda tmp: store.save(ours, tmp),
    }
    times: dict[str, list[float]] = {"sb3": [], "frames": []}
    sizes: dict[str, list[int]] = {"sb3": [], "frames": []}
    try:
        first = {}
        for name in ("sb3", "frames"):
            first[name] = timed(lambda n=name: write_checkpoint(runs[n], 0, 1, writers[n]))
        first_size = {name: disk_bytes(run) for name, run in runs.items()}
        for r in range(1, args.rounds + 1):
            player.play(args.new, [ours, theirs], f"round {r}: adding")
            order = ("sb3", "frames") if r % 2 else ("frames", "sb3")
            for name in order:
                before = files(runs[name])
                step = r * args.new
                times[name].append(
                    timed(lambda n=name, s=step: write_checkpoint(runs[n], s, 1, writers[n]))
                )
                written = {p: n for p, n in files(runs[name]).items() if p not in before}
                sizes[name].append(sum(written.values()))
        held = {name: disk_bytes(run) for name, run in runs.items()}
    finally:
        shutil.rmtree(root, ignore_errors=True)

    def spread(values: list[float]) -> str:
        return f"{statistics.median(values):.2f} s [{min(values):.2f}, {max(values):.2f}]"

    print("Checkpoints (write_checkpoint: atomic, fsynced, keep 1):")
    print(
        f"  first (whole buffer): SB3 {first['sb3']:.2f} s, {first_size['sb3'] / GIB:.2f} GiB; "
        f"frames {first['frames']:.2f} s, {first_size['frames'] / GIB:.2f} GiB"
    )
    for name in ("sb3", "frames"):
        print(
            f"  after {args.new:,} more ({args.rounds} rounds), {name:>6}: {spread(times[name])}"
            f", {statistics.median(sizes[name]) / 2**20:,.0f} MiB written"
        )
    ratio = [s / f for s, f in zip(times["sb3"], times["frames"], strict=True)]
    print(
        f"  SB3 / frames checkpoint time: median {statistics.median(ratio):.1f}x "
        f"[{min(ratio):.1f}, {max(ratio):.1f}]"
    )
    print(
        f"  disk held after the last checkpoint: SB3 {held['sb3'] / GIB:.2f} GiB, "
        f"frames {held['frames'] / GIB:.2f} GiB"
    )


if __name__ == "__main__":
    main()

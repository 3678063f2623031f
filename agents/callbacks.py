"""SB3 callbacks for a run directory: progress bar, episode log, checkpoints, graceful stop."""

from __future__ import annotations

import csv
import time
from pathlib import Path

import numpy as np
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.off_policy_algorithm import OffPolicyAlgorithm
from tqdm import tqdm

from agents.signals import StopSignals
from coordrl.runs import EPISODE_COLUMNS, EPISODES_CSV, list_checkpoints, write_checkpoint


class ProgressBar(BaseCallback):
    """A tqdm bar over env steps: steps/s (fps, averaged over the run) and the mean true
    score of the last 100 games."""

    def __init__(self, total: int) -> None:
        super().__init__()
        self.total = total
        self.bar: tqdm | None = None

    def _on_training_start(self) -> None:
        self.bar = tqdm(
            total=self.total,
            initial=self.num_timesteps,
            unit="step",
            smoothing=0,
            dynamic_ncols=True,
        )
        self._last_post = 0.0

    def _on_step(self) -> bool:
        assert self.bar is not None
        self.bar.update(self.num_timesteps - self.bar.n)
        now = time.monotonic()
        if now - self._last_post > 1.0:
            self._last_post = now
            scores = [info["r"] for info in self.model.ep_info_buffer]
            postfix = {"score": f"{np.mean(scores):.1f}"} if scores else {}
            self.bar.set_postfix(postfix, refresh=False)
        return True

    def _on_training_end(self) -> None:
        if self.bar is not None:
            self.bar.close()


class EpisodeLog(BaseCallback):
    """Append each finished game (true score, length) to ``episodes.csv`` in the run directory."""

    def __init__(self, run_dir: Path) -> None:
        super().__init__()
        self.path = run_dir / EPISODES_CSV
        self._start = time.time()

    def _on_training_start(self) -> None:
        fresh = not self.path.exists()
        self._file = self.path.open("a", newline="")
        self._writer = csv.writer(self._file)
        if fresh:
            self._writer.writerow(EPISODE_COLUMNS)

    def _on_step(self) -> bool:
        for env_index, info in enumerate(self.locals["infos"]):
            episode = info.get("episode")
            if episode is not None:
                elapsed = round(time.time() - self._start, 3)
                row = (self.num_timesteps, env_index, episode["r"], episode["l"], elapsed)
                self._writer.writerow(row)
        return True

    def _on_rollout_end(self) -> None:
        self._file.flush()

    def _on_training_end(self) -> None:
        self._file.close()


def save_checkpoint(model, run_dir: Path, keep: int) -> Path:
    """Save the agent (and a DQN's replay buffer) as one atomic checkpoint directory."""

    def write(folder: Path) -> None:
        model.save(folder / "model.zip")
        if isinstance(model, OffPolicyAlgorithm) and model.replay_buffer is not None:
            model.save_replay_buffer(folder / "replay_buffer.pkl")

    return write_checkpoint(run_dir, model.num_timesteps, keep, write)


class Checkpointer(BaseCallback):
    """Checkpoint every ``every`` env steps, between updates so weights match the step count."""

    def __init__(self, run_dir: Path, every: int, keep: int) -> None:
        super().__init__()
        self.run_dir, self.every, self.keep = run_dir, every, keep

    def _on_training_start(self) -> None:
        done = list_checkpoints(self.run_dir)
        self._last = done[-1][0] if done else 0

    def _on_rollout_start(self) -> None:
        if self.num_timesteps - self._last >= self.every:
            save_checkpoint(self.model, self.run_dir, self.keep)
            self._last = self.num_timesteps

    def _on_step(self) -> bool:
        return True


class GracefulStop(BaseCallback):
    """Turn SIGINT / SIGTERM into a clean stop of ``learn()``, so the caller can checkpoint."""

    def __init__(self) -> None:
        super().__init__()
        self.signals = StopSignals()

    def _on_training_start(self) -> None:
        self.signals.__enter__()

    def _on_step(self) -> bool:
        return self.signals.received is None

    def _on_training_end(self) -> None:
        self.signals.__exit__()

"""SB3's A2C, PPO and DQN as trainers of the run lifecycle (:mod:`coordrl.lifecycle`).

SB3 plays and learns as usual; a callback hands every finished episode (the true score that
the env wrappers put in ``info["episode"]``, and ``info["is_success"]`` where the env has one)
to the lifecycle after each update, so checkpoints hold weights that match their step. SB3's
own ``train/*`` figures go to the run's TensorBoard writer; the episode statistics and steps
per second come from the lifecycle, for every trainer alike.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import torch
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.logger import Logger, TensorBoardOutputFormat
from stable_baselines3.common.off_policy_algorithm import OffPolicyAlgorithm
from stable_baselines3.common.on_policy_algorithm import OnPolicyAlgorithm
from torch.utils.tensorboard import SummaryWriter

from coordrl.agents.builders import build_algorithm, load_algorithm
from coordrl.agents.replay import FrameReplayBuffer
from coordrl.agents.replay_store import ReplayStore
from coordrl.config import RunConfig
from coordrl.envs.factory import make_sb3_env
from coordrl.episodes import Episodes
from coordrl.lifecycle import Progress, Report
from coordrl.runs import REPLAY_BUFFER, SB3_MODEL

# what the lifecycle writes for every trainer; SB3's own copies would draw a second line
LIFECYCLE_SCALARS = frozenset(
    ("time/fps", "rollout/ep_rew_mean", "rollout/ep_len_mean", "rollout/success_rate")
)


class _SharedTensorBoard(TensorBoardOutputFormat):
    """SB3's TensorBoard output into the run's own writer (which the lifecycle closes)."""

    def __init__(self, writer: SummaryWriter) -> None:
        self.writer = writer
        self._is_closed = False

    def write(self, key_values: dict[str, Any], key_excluded: dict[str, Any], step: int = 0):
        kept = [key for key in key_values if key not in LIFECYCLE_SCALARS]
        super().write(
            {key: key_values[key] for key in kept}, {key: key_excluded[key] for key in kept}, step
        )

    def close(self) -> None:
        self._is_closed = True


class _Stopped(Exception):
    """Raised by the callback to leave ``learn()`` on a rollout boundary."""


class _Reporter(BaseCallback):
    """Collects finished episodes step by step; reports them after each update."""

    def __init__(self, report: Report) -> None:
        super().__init__()
        self.report = report
        self._rows: list[tuple[int, int, float, int, bool | None]] = []
        self._updated = False  # the first rollout starts before any update
        self._stop = False

    def _on_rollout_start(self) -> None:
        if self._updated:
            self._flush()
        self._updated = True
        on_policy = isinstance(self.model, OnPolicyAlgorithm)
        if on_policy or self._stop:
            # the update's train/* values at the update's step; SB3 would write them one
            # rollout later, and never the last update's before learn() returns
            self._dump_logs()
        if self._stop:  # stop between an update and the next rollout: no step goes untrained
            raise _Stopped

    def _on_step(self) -> bool:
        for env_index, info in enumerate(self.locals["infos"]):
            episode = info.get("episode")
            if episode is not None:
                row = (self.num_timesteps, env_index, episode["r"], episode["l"])
                self._rows.append((*row, info.get("is_success")))
        return not self._stop

    def _on_training_end(self) -> None:
        self._flush()
        self._dump_logs()

    def _dump_logs(self) -> None:
        """Write what SB3 has recorded since its last dump (at this step), if anything."""
        if self.model.logger.name_to_value:
            self.model.logger.dump(self.num_timesteps)

    def _flush(self) -> None:
        progress = Progress(self.num_timesteps, Episodes.from_rows(self._rows))
        self._rows = []
        if not self.report(progress):
            self._stop = True  # ends learn() before the next rollout, or at the next step


class SB3Trainer:
    """An SB3 algorithm on the config's env (Atari, or a toy env through the adapter)."""

    model_file = SB3_MODEL

    def __init__(self, config: RunConfig, device: torch.device) -> None:
        self.config, self.device = config, device
        self.env = make_sb3_env(config, seed=config.seed)
        self.model: BaseAlgorithm = build_algorithm(config, self.env, device)
        self.replay_store = ReplayStore()  # a frame replay buffer's segments, if it has one

    @property
    def num_timesteps(self) -> int:
        return self.model.num_timesteps

    def learn(self, total_steps: int, report: Report, writer: SummaryWriter) -> None:
        self.model.set_logger(Logger(None, [_SharedTensorBoard(writer)]))
        with contextlib.suppress(_Stopped):
            self.model.learn(
                total_steps - self.model.num_timesteps,
                callback=_Reporter(report),
                reset_num_timesteps=False,
            )

    def save_state(self, folder: Path) -> None:
        self.model.save(folder / SB3_MODEL)
        buffer = getattr(self.model, "replay_buffer", None)
        if isinstance(buffer, FrameReplayBuffer):
            self.replay_store.save(buffer, folder)  # only what was added since the last one
        elif buffer is not None:
            self.model.save_replay_buffer(folder / REPLAY_BUFFER)

    def load_state(self, folder: Path) -> None:
        model = load_algorithm(self.config.algo, folder / SB3_MODEL, self.env, self.device)
        if isinstance(getattr(model, "replay_buffer", None), FrameReplayBuffer):
            self.replay_store.load(model.replay_buffer, folder)
        elif isinstance(model, OffPolicyAlgorithm):
            if not (folder / REPLAY_BUFFER).exists():  # skipped for an older checkpoint
                raise FileNotFoundError(
                    f"no {REPLAY_BUFFER}: {self.config.algo} would go on with an empty buffer"
                )
            model.load_replay_buffer(folder / REPLAY_BUFFER)
        # fresh games and action samples from here on, not a replay of the first ones
        model.set_random_seed(self.config.seed + model.num_timesteps)
        self.model = model

    def save_model(self, path: Path) -> None:
        with path.open("wb") as f:
            self.model.save(f)

    def close(self) -> None:
        self.env.close()

"""The ``minatar`` package as the reference for the torch ports, and a draw source that
replays the package's numpy random numbers into a torch env, env by env, in its order."""

from __future__ import annotations

import numpy as np
import torch
from minatar.gym import BaseEnv

from coordrl.envs.minatar import GAMES, MinAtarEnv


class ReplayDraws:
    """The draws each reference env makes, from its own RandomState seeded alike."""

    def __init__(self, seeds: list[int], device: torch.device) -> None:
        self.states = [np.random.RandomState(seed) for seed in seeds]
        self.device = device

    def uniform(self, where: torch.Tensor, size: tuple[int, ...] = ()) -> torch.Tensor:
        out = torch.zeros((len(self.states), *size), dtype=torch.float64)
        for i in where.nonzero().flatten().tolist():
            out[i] = torch.as_tensor(self.states[i].rand(*size))
        return out.to(self.device)

    def integers(self, low, high, where, size: tuple[int, ...] = ()) -> torch.Tensor:
        out = torch.zeros((len(self.states), *size), dtype=torch.int64)
        for i in where.nonzero().flatten().tolist():
            top = high if isinstance(high, int) else int(high[i])
            out[i] = torch.as_tensor(self.states[i].randint(low, top, size or None))
        return out.to(self.device)


def paired(game: str, seeds: list[int], **options) -> tuple[MinAtarEnv, list[BaseEnv]]:
    """A torch env of ``len(seeds)`` envs replaying one reference env per seed, both reset."""
    minimal = options.get("minimal_action_set", True)
    refs = [
        BaseEnv(
            game,
            use_minimal_action_set=minimal,
            sticky_action_prob=options.get("sticky_action_prob", 0.1),
            difficulty_ramping=options.get("difficulty_ramping", True),
        )
        for _ in seeds
    ]
    for ref, seed in zip(refs, seeds, strict=True):
        ref.reset(seed=seed)
    env = GAMES[game](len(seeds), final_obs=True, **options)
    env.draws = ReplayDraws(seeds, env.device)
    env.reset()
    return env, refs


def channels_first(state: np.ndarray) -> np.ndarray:
    """The package's (10, 10, C) bool state as coordrl's (C, 10, 10) uint8 observation."""
    return state.transpose(2, 0, 1).astype(np.uint8)

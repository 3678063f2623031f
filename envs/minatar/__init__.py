"""MinAtar in torch: the five games of Young & Tian (2019) as batched vector envs.

    import coordrl.envs.minatar  # registers the ids
    env = gymnasium.make_vec("coordrl/MinAtar-Breakout-v0", num_envs=4096, device="cuda")

Ports of the ``minatar`` package (1.0.15) that keep its rules, timers, difficulty ramping
and sticky actions; observations are uint8 (N, C, 10, 10) tensors of 0 and 1. Options:
``sticky_action_prob`` (0.1), ``difficulty_ramping`` (True), ``minimal_action_set``
(True; False gives the package's six actions), ``device``. The ids start with
``coordrl/MinAtar-`` so they never clash with the package's own ``MinAtar/...``.
"""

from __future__ import annotations

import gymnasium as gym

from coordrl.envs.minatar.asterix import AsterixEnv
from coordrl.envs.minatar.base import MinAtarEnv
from coordrl.envs.minatar.breakout import BreakoutEnv
from coordrl.envs.minatar.freeway import FreewayEnv
from coordrl.envs.minatar.seaquest import SeaquestEnv
from coordrl.envs.minatar.space_invaders import SpaceInvadersEnv

GAMES: dict[str, type[MinAtarEnv]] = {
    "asterix": AsterixEnv,
    "breakout": BreakoutEnv,
    "freeway": FreewayEnv,
    "seaquest": SeaquestEnv,
    "space_invaders": SpaceInvadersEnv,
}


def env_id(game: str) -> str:
    """The registered id of ``game`` (a key of GAMES)."""
    return f"coordrl/MinAtar-{GAMES[game].__name__.removesuffix('Env')}-v0"


for _game, _cls in GAMES.items():
    if env_id(_game) not in gym.registry:
        gym.register(env_id(_game), vector_entry_point=f"{_cls.__module__}:{_cls.__name__}")

__all__ = [
    "GAMES",
    "AsterixEnv",
    "BreakoutEnv",
    "FreewayEnv",
    "MinAtarEnv",
    "SeaquestEnv",
    "SpaceInvadersEnv",
    "env_id",
]

"""Torch-vectorised toy RL tasks on the Not-so-Clevr canvas, registered with gymnasium.

    import coordrl.envs.toy  # registers the ids
    env = gymnasium.make_vec("coordrl/Point-v0", num_envs=4096, device="cuda")  # torch, batched
    ref = gymnasium.make("coordrl/Point-v0")  # one plain numpy env, the reference

``coordrl/Point-v0`` (see :mod:`coordrl.envs.toy.point`) and ``coordrl/Navigate-v0`` (see
:mod:`coordrl.envs.toy.navigate`) take ``canvas``, ``split`` ("uniform" | "quadrant") and ``part``
("train" | "test": which target positions resets draw from) besides their own options.
"""

from __future__ import annotations

import gymnasium as gym

from coordrl.envs.toy.navigate import NavigateEnv, NavigateNumpyEnv
from coordrl.envs.toy.point import PointEnv, PointNumpyEnv

TASKS: dict[str, str] = {"point": "coordrl/Point-v0", "navigate": "coordrl/Navigate-v0"}

for _id, _torch_env, _numpy_env in (
    ("coordrl/Point-v0", PointEnv, PointNumpyEnv),
    ("coordrl/Navigate-v0", NavigateEnv, NavigateNumpyEnv),
):
    if _id not in gym.registry:
        gym.register(
            _id,
            entry_point=f"{_numpy_env.__module__}:{_numpy_env.__name__}",
            vector_entry_point=f"{_torch_env.__module__}:{_torch_env.__name__}",
        )

__all__ = ["TASKS", "NavigateEnv", "NavigateNumpyEnv", "PointEnv", "PointNumpyEnv"]

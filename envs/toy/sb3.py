"""An SB3 ``VecEnv`` over any coordrl torch env (toy tasks, MinAtar): SB3 trains on it unchanged.

Tensors become numpy arrays at the boundary (SB3 works in numpy); episode ends carry SB3's
``terminal_observation``, ``episode`` ({"r", "l"}, as its ``Monitor`` writes) and
``is_success``, and truncations ``TimeLimit.truncated``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from stable_baselines3.common.vec_env.base_vec_env import VecEnvObs, VecEnvStepReturn

from coordrl.envs.torch_vector import TorchVectorEnv
from coordrl.envs.vec import BatchedVecEnv


class SB3VecEnv(BatchedVecEnv):
    """``env`` (a :class:`TorchVectorEnv`) seen through SB3's numpy ``VecEnv`` API."""

    def __init__(self, env: TorchVectorEnv) -> None:
        env.final_obs = True  # SB3 wants each ended episode's last observation
        self.env = env
        self.render_mode = None
        super().__init__(env.num_envs, env.single_observation_space, env.single_action_space)
        self._actions: torch.Tensor | None = None

    def reset(self) -> VecEnvObs:
        seed = self._seeds[0] if self._seeds and self._seeds[0] is not None else None
        obs, _ = self.env.reset(seed=seed)
        self._reset_seeds()
        return obs.cpu().numpy()

    def step_async(self, actions: np.ndarray) -> None:
        self._actions = torch.as_tensor(np.asarray(actions), device=self.env.device)

    def step_wait(self) -> VecEnvStepReturn:
        assert self._actions is not None, "step_async() must come first"
        obs, reward, terminated, truncated, info = self.env.step(self._actions)
        done = (terminated | truncated).cpu().numpy()
        infos: list[dict[str, Any]] = [{} for _ in range(self.num_envs)]
        ended = np.flatnonzero(done)
        if len(ended):
            final = info["final_obs"].cpu().numpy()
            returns = info["episode_return"].cpu().numpy()
            lengths = info["episode_length"].cpu().numpy()
            success = info["success"].cpu().numpy() if "success" in info else None
            cut = (truncated & ~terminated).cpu().numpy()
            for i in ended:
                infos[i] = {
                    "terminal_observation": final[i],
                    "episode": {"r": float(returns[i]), "l": int(lengths[i])},
                    "TimeLimit.truncated": bool(cut[i]),
                }
                if success is not None:  # tasks with a success (the toy ones)
                    infos[i]["is_success"] = bool(success[i])
        return obs.cpu().numpy(), reward.cpu().numpy().astype(np.float32), done, infos

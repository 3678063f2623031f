"""The part of SB3's ``VecEnv`` API that a vector env made of one batched object shares."""

from __future__ import annotations

from typing import Any

from stable_baselines3.common.vec_env import VecEnv


class BatchedVecEnv(VecEnv):
    """A ``VecEnv`` over ``self.env``, one object stepping every env at once (C++ or torch).

    There are no per-env Python objects: attributes are the wrapper's or the batch's, shared
    by all envs, and ``env_method`` has nothing to call.
    """

    env: Any

    def close(self) -> None:
        self.env.close()

    def get_attr(self, attr_name: str, indices: Any = None) -> list[Any]:
        owner = self if hasattr(self, attr_name) else self.env
        return [getattr(owner, attr_name)] * len(self._indices(indices))

    def set_attr(self, attr_name: str, value: Any, indices: Any = None) -> None:
        setattr(self.env if hasattr(self.env, attr_name) else self, attr_name, value)

    def env_method(self, method_name: str, *args: Any, indices: Any = None, **kwargs: Any):
        raise NotImplementedError(f"{type(self).__name__} steps one batch; no env objects")

    def env_is_wrapped(self, wrapper_class: type, indices: Any = None) -> list[bool]:
        return [False] * len(self._indices(indices))

    def _indices(self, indices: Any) -> list[int]:
        if indices is None:
            return list(range(self.num_envs))
        return [indices] if isinstance(indices, int) else list(indices)

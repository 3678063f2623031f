"""What both toy tasks share: targets from a split, torch (batched) and numpy (reference)."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import torch

from coordrl.envs.torch_vector import TorchVectorEnv
from coordrl.envs.toy.targets import Part, check_task_args, target_positions
from coordrl.not_so_clevr import Split


class ToyVectorEnv(TorchVectorEnv):
    """Base of the toy tasks: targets drawn from a split, and a ``success`` for every step."""

    def __init__(
        self,
        num_envs: int,
        *,
        device: str | torch.device = "cpu",
        canvas: int = 64,
        split: Split = "quadrant",
        part: Part = "train",
        final_obs: bool = False,
    ) -> None:
        check_task_args(canvas, split, part)
        super().__init__(num_envs, device=device, final_obs=final_obs)
        self.canvas, self.split, self.part = canvas, split, part
        self.pool = target_positions(canvas, split, part).to(self.device)

    def sample_targets(self, count: int) -> torch.Tensor:
        """``count`` target centres drawn uniformly from this env's part of the split."""
        index = torch.randint(
            len(self.pool), (count,), generator=self.generator, device=self.device
        )
        return self.pool[index]

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(num_envs={self.num_envs}, device={self.device}, "
            f"canvas={self.canvas}, split={self.split!r}, part={self.part!r})"
        )


def numpy_targets(canvas: int, split: str, part: str) -> Any:
    """The same target pool as the torch envs', as a numpy array for the reference envs."""
    return target_positions(canvas, split, part).numpy()


class NumpyToyEnv(gym.Env):
    """Base of the numpy reference envs: one env, the same task, gymnasium's single API."""

    metadata: dict[str, Any] = {"render_modes": []}  # noqa: RUF012

    def __init__(self, canvas: int = 64, split: str = "quadrant", part: str = "train") -> None:
        check_task_args(canvas, split, part)
        self.canvas, self.split, self.part = canvas, split, part
        self.pool = numpy_targets(canvas, split, part)

    def sample_target(self) -> Any:
        return self.pool[self.np_random.integers(len(self.pool))]

"""Where a MinAtar env's random numbers come from: one seeded torch generator, batched.

The games ask for their draws through this object, per env and in the package's own order,
so a test can swap in one that replays the ``minatar`` package's numpy draws and compare
the two implementations step for step.
"""

from __future__ import annotations

import torch


class TorchDraws:
    """Uniform floats and integers for every env at once, from ``generator``.

    ``where`` says which envs the game draws for; this source draws for all of them (one
    kernel, no host sync) and the game ignores the rest.
    """

    def __init__(self, generator: torch.Generator, num_envs: int, device: torch.device) -> None:
        self.generator, self.num_envs, self.device = generator, num_envs, device

    def uniform(self, where: torch.Tensor, size: tuple[int, ...] = ()) -> torch.Tensor:
        """U[0, 1) of shape (num_envs, *size)."""
        del where
        return torch.rand((self.num_envs, *size), generator=self.generator, device=self.device)

    def integers(
        self,
        low: int,
        high: int | torch.Tensor,
        where: torch.Tensor,
        size: tuple[int, ...] = (),
    ) -> torch.Tensor:
        """Integers in [low, high) of shape (num_envs, *size); ``high`` may be per env."""
        if isinstance(high, int):
            del where
            return torch.randint(
                low, high, (self.num_envs, *size), generator=self.generator, device=self.device
            )
        span = (high - low).clamp(min=1).view(-1, *([1] * len(size)))
        return low + (self.uniform(where, size) * span).long().clamp(max=span - 1)


class GroupedDraws(TorchDraws):
    """:class:`TorchDraws` for envs in equal consecutive groups, each with its own generator.

    A population's members share one batched env; each member's envs draw from the member's
    generator exactly what a :class:`TorchDraws` over only those envs would (one draw per
    group and call, concatenated), so a member's games do not depend on the others'.
    """

    def __init__(self, generators: list[torch.Generator], per_group: int, device: torch.device):
        super().__init__(generators[0], per_group * len(generators), device)
        self.generators, self.per_group = generators, per_group

    def uniform(self, where: torch.Tensor, size: tuple[int, ...] = ()) -> torch.Tensor:
        del where
        shape = (self.per_group, *size)
        return torch.cat(
            [torch.rand(shape, generator=g, device=self.device) for g in self.generators]
        )

    def integers(
        self,
        low: int,
        high: int | torch.Tensor,
        where: torch.Tensor,
        size: tuple[int, ...] = (),
    ) -> torch.Tensor:
        if not isinstance(high, int):
            return super().integers(low, high, where, size)
        shape = (self.per_group, *size)
        return torch.cat(
            [
                torch.randint(low, high, shape, generator=g, device=self.device)
                for g in self.generators
            ]
        )

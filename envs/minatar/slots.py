"""Objects in slots for a batch of envs: how the Seaquest port keeps the package's lists.

All kinds share one uint8 tensor ``data`` of shape (fields, slots, num_envs): each field of a
kind is one contiguous (slots, num_envs) block, and a per-env value (num_envs,) broadcasts
along its last dimension, which keeps the elementwise ops on it cheap. The kinds' ranges of
slots follow one another, then one spare slot per kind, which takes the adds of the envs that
add nothing, so an add is one scatter. Slots are used in turn (a ring), which needs as many
slots as adds during an object's life; ``order`` ranks a kind's objects as the package's list
does (new ones highest) and drops by one every frame.
"""

from __future__ import annotations

import torch

# x: -1 and 10 (just off the grid) read 255 and 10; dx: +1 right, 255 (-1) left. An enemy
# sub's bullet lives in its slot (shot_x, shot_alive; its row and direction are the sub's).
FIELDS = (
    "x", "y", "dx", "channel", "trail", "timer", "order", "sub", "shot", "alive", "shot_alive",
    "shot_x",
)  # fmt: skip
# the fields an add writes (a slot is reused long after its sub's bullet is gone)
ADDED = FIELDS[: FIELDS.index("shot_alive")]
LEFT = 255


class Kind:
    """One kind of object (one of the package's lists): views of its ``size`` slots in every
    env, each field (size, num_envs)."""

    x: torch.Tensor
    y: torch.Tensor
    dx: torch.Tensor
    timer: torch.Tensor
    shot: torch.Tensor  # frames to a sub's next shot
    alive: torch.Tensor  # 0 or 1
    shot_alive: torch.Tensor  # 1: the sub's bullet is on the grid
    order: torch.Tensor
    channel: torch.Tensor  # where the object is painted
    trail: torch.Tensor  # 1: a trail behind it is painted too
    sub: torch.Tensor  # 1: an enemy sub, 0: a fish
    shot_x: torch.Tensor

    def __init__(self, data: torch.Tensor, start: int, size: int) -> None:
        if size & (size - 1):
            raise ValueError(f"a kind's slots are a power of two, got {size}")
        self.start, self.size = start, size
        for i, name in enumerate(FIELDS):
            setattr(self, name, data[i, start : start + size])
        self.live = self.alive.view(torch.bool)  # which slots hold an object
        self.shot_live = self.shot_alive.view(torch.bool)
        self.is_sub = self.sub.view(torch.bool)

    @property
    def count(self) -> torch.Tensor:
        """How many objects each env has."""
        return self.alive.sum(dim=0)


Addition = tuple[torch.Tensor, dict[str, torch.Tensor | int]]  # where, and the fields


class Slots:
    """Every kind's slots in one tensor, so that a frame's adds, aging, a reset's clearing and
    the observation's painting each take one op for all kinds."""

    def __init__(self, sizes: dict[str, int], num_envs: int, device: torch.device) -> None:
        self.used = sum(sizes.values())  # the slots before the spare ones
        total = self.used + len(sizes)
        self.data = torch.zeros((len(FIELDS), total, num_envs), dtype=torch.uint8, device=device)
        self.kinds: dict[str, Kind] = {}
        start = 0
        for name, size in sizes.items():
            self.kinds[name] = Kind(self.data, start, size)
            start += size
        kinds = self.kinds.values()
        column = {"dtype": torch.int64, "device": device}
        self._starts = torch.tensor([[kind.start] for kind in kinds], **column)
        self._spares = torch.arange(self.used, total, **column)[:, None]
        self._wrap = torch.tensor([[kind.size - 1] for kind in kinds], **column)
        self.added = torch.zeros((len(sizes), num_envs), **column)  # per kind, so far
        self._constants: dict[int, torch.Tensor] = {}

    def field(self, name: str, slots: int | None = None) -> torch.Tensor:
        """One field of the first ``slots`` slots (all, spare ones included, by default),
        (slots, num_envs)."""
        return self.data[FIELDS.index(name), :slots]

    def add(self, additions: dict[str, Addition]) -> None:
        """Add one object of every kind (``additions``: mask and fields, in ``kinds``' order)
        where its mask holds, into the kind's next slot in turn (none where that slot is
        still taken, as the rules never let it be); one scatter for all. Fields of ``ADDED``
        not given are 0; the envs that add nothing write an empty object into the kind's
        spare slot."""
        slot = (self.added & self._wrap) + self._starts
        masks = torch.stack([mask for mask, _ in additions.values()])
        room = masks & (self.field("alive").gather(0, slot) == 0)
        rows = []
        for fit, (_, values) in zip(room, additions.values(), strict=True):
            values["alive"] = fit
            rows += [self._row(values.get(name, 0)) for name in ADDED]
        new = torch.stack(rows).view(len(additions), len(ADDED), -1).transpose(0, 1)
        index = torch.where(room, slot, self._spares).expand(len(ADDED), -1, -1)
        self.data[: len(ADDED)].scatter_(1, index, new)
        self.added += room.long()

    def _row(self, value: torch.Tensor | int) -> torch.Tensor:
        """``value`` as a uint8 per env (constants made once)."""
        if isinstance(value, torch.Tensor):
            return value if value.dtype == torch.uint8 else value.to(torch.uint8)
        if value not in self._constants:
            self._constants[value] = torch.full(
                self.added.shape[1:], value, dtype=torch.uint8, device=self.data.device
            )
        return self._constants[value]

    def clear(self, mask: torch.Tensor) -> None:
        """Remove every object (and sub's bullet) of the envs where ``mask``."""
        alive = FIELDS.index("alive")
        self.data[alive : alive + 2].mul_(~mask)  # alive and shot_alive

    def age(self) -> None:
        """One frame older: every ``order`` drops by one (new objects rank highest)."""
        self.field("order").sub_(1)

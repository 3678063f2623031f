"""MinAtar Asterix, batched in torch: collect gold, avoid enemies, both crossing in lanes.

The player moves in the four directions between rows 1 and 8. Every ``spawn_speed`` frames
an enemy (2/3) or gold (1/3) enters a free lane from the left or right edge; everything
moves one cell every ``move_speed`` frames. +1 per gold; touching an enemy ends the episode.
With difficulty ramping, every 100 frames the spawn interval shortens by one frame, and
every second time the move interval does too (from 10 and 5, down to 1).

The lanes are (lanes, num_envs) tensors (x and step int8): the ops on them are small, and
per-env values broadcast along their last dimension.
"""

from __future__ import annotations

import torch

from coordrl.envs.minatar.base import MinAtarEnv, action_index

RAMP_INTERVAL = 100
INIT_SPAWN_SPEED = 10
INIT_MOVE_INTERVAL = 5
LANES = 8


class AsterixEnv(MinAtarEnv):
    game = "asterix"
    channels = ("player", "enemy", "trail", "gold")
    minimal_actions = "nlurd"

    def __init__(self, num_envs: int, **options) -> None:
        super().__init__(num_envs, **options)
        n, d = num_envs, self.device
        scalars = ("player_x", "player_y", "spawn_speed", "spawn_timer", "move_speed")
        scalars += ("move_timer", "ramp_timer", "ramp_index")
        for name in scalars:
            setattr(self, name, torch.zeros(n, dtype=torch.int64, device=d))
        # per lane: whether something is in it, gold (else an enemy), its x and its step
        # (+1 moving right, -1 left)
        self.alive, self.gold = (torch.zeros((LANES, n), dtype=torch.bool, device=d) for _ in "ag")
        self.x, self.dx = (torch.zeros((LANES, n), dtype=torch.int8, device=d) for _ in "xd")
        self._lanes = torch.arange(1, LANES + 1, device=d)[:, None]
        self._zero, self._nine = (torch.full((n,), v, dtype=torch.int8, device=d) for v in (0, 9))
        self._start(self._everyone)

    def _start(self, mask: torch.Tensor) -> None:
        self.player_x = torch.where(mask, 5, self.player_x)
        self.player_y = torch.where(mask, 5, self.player_y)
        self.alive &= ~mask
        self.spawn_speed = torch.where(mask, INIT_SPAWN_SPEED, self.spawn_speed)
        self.spawn_timer = torch.where(mask, INIT_SPAWN_SPEED, self.spawn_timer)
        self.move_speed = torch.where(mask, INIT_MOVE_INTERVAL, self.move_speed)
        self.move_timer = torch.where(mask, INIT_MOVE_INTERVAL, self.move_timer)
        self.ramp_timer = torch.where(mask, RAMP_INTERVAL, self.ramp_timer)
        self.ramp_index = torch.where(mask, 0, self.ramp_index)

    def _spawn(self, mask: torch.Tensor) -> None:
        """An enemy or gold into a random free lane, where ``mask`` (the package's draws)."""
        right = (self.draws.uniform(mask) < 1 / 2).to(torch.int8)
        gold = self.draws.uniform(mask) < 1 / 3
        free = ~self.alive
        count = free.sum(dim=0)
        spawns = mask & (count > 0)
        choice = self.draws.integers(0, count, spawns)  # the choice-th free lane
        rank = free.view(torch.int8).cumsum(dim=0, dtype=torch.int8)
        new = free & (rank == (choice + 1).to(torch.int8)) & spawns
        added = new.view(torch.int8)
        self.x += added * (9 - 9 * right - self.x)  # from its edge
        self.dx += added * (2 * right - 1 - self.dx)
        self.gold = (self.gold & ~new) | (new & gold)
        self.alive |= new

    def _touch(self, lane: torch.Tensor) -> torch.Tensor:
        """Collect the gold on the player's cell (the reward) and end on an enemy there.
        ``lane``: which lane is the player's row."""
        on_player = self.alive & lane & (self.x == self.player_x.to(torch.int8))
        collected = on_player & self.gold
        self.terminal |= _any(on_player & ~self.gold)
        self.alive &= ~collected
        return collected.sum(dim=0)

    def _act(self, action: torch.Tensor) -> torch.Tensor:
        spawning = self.spawn_timer == 0
        self._spawn(spawning)
        self.spawn_timer = torch.where(spawning, self.spawn_speed, self.spawn_timer)

        dx = (action == action_index("r")).long() - (action == action_index("l")).long()
        dy = (action == action_index("d")).long() - (action == action_index("u")).long()
        self.player_x = (self.player_x + dx).clamp(0, 9)
        self.player_y = (self.player_y + dy).clamp(1, 8)
        lane = self._lanes == self.player_y

        reward = self._touch(lane)
        moving = self.move_timer == 0
        self.move_timer = torch.where(moving, self.move_speed, self.move_timer)
        self.x += self.dx * (self.alive & moving)
        self.alive &= (self.x >= self._zero) & (self.x <= self._nine)  # off the grid: gone
        # where nothing moved this touches nothing new: the gold there is already taken
        reward = reward + self._touch(lane)

        self.spawn_timer -= 1
        self.move_timer -= 1
        if self.difficulty_ramping:
            self._ramp()
        return reward

    def _ramp(self) -> None:
        """Past each ramp interval, shorter spawn and (every other time) move intervals."""
        ramping = (self.spawn_speed > 1) | (self.move_speed > 1)
        waiting = ramping & (self.ramp_timer >= 0)
        self.ramp_timer -= waiting.long()
        ramp = ramping & ~waiting
        faster_moves = ramp & (self.move_speed > 1) & (self.ramp_index & 1).bool()
        self.move_speed -= faster_moves.long()
        self.spawn_speed -= (ramp & (self.spawn_speed > 1)).long()
        self.ramp_index += ramp.long()
        self.ramp_timer = torch.where(ramp, RAMP_INTERVAL, self.ramp_timer)

    def _paint(self) -> None:
        self.mark((10 * self.player_y + self.player_x)[:, None])  # channel 0
        x, dx = self.x.long(), self.dx.long()
        cells = 10 * self._lanes + x
        objects = cells + 100 + 200 * self.gold.long()  # channel 1 (enemy) or 3 (gold)
        behind = x - dx  # the trail, channel 2
        seen = self.alive & (behind >= 0) & (behind <= 9)
        index = torch.cat((objects, cells + 200 - dx))
        hidden = ~torch.cat((self.alive, seen))
        self.mark((index + (self._spare - index) * hidden).t())


def _any(mask: torch.Tensor) -> torch.Tensor:
    """Whether any lane is True, per env: a max over the lanes' dimension (0)."""
    return mask.view(torch.uint8).amax(dim=0).view(torch.bool)

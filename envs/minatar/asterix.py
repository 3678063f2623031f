"""MinAtar Asterix, batched in torch: collect gold, avoid enemies, both crossing in lanes.

The player moves in the four directions between rows 1 and 8. Every ``spawn_speed`` frames
an enemy (2/3) or gold (1/3) enters a free lane from the left or right edge; everything
moves one cell every ``move_speed`` frames. +1 per gold; touching an enemy ends the episode.
With difficulty ramping, every 100 frames the spawn interval shortens by one frame, and
every second time the move interval does too (from 10 and 5, down to 1).
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
        # per lane: whether something is in it, moving right, gold (else enemy), its x and
        # its step (+1 moving right, -1 left)
        self.alive, self.right, self.gold = (
            torch.zeros((n, LANES), dtype=torch.bool, device=d) for _ in range(3)
        )
        self.x, self.dx = (torch.zeros((n, LANES), dtype=torch.int64, device=d) for _ in range(2))
        self._lanes = torch.arange(1, LANES + 1, device=d).expand(n, LANES)
        self._start(self._everyone)

    def _start(self, mask: torch.Tensor) -> None:
        self.player_x = torch.where(mask, 5, self.player_x)
        self.player_y = torch.where(mask, 5, self.player_y)
        self.alive &= ~mask[:, None]
        self.spawn_speed = torch.where(mask, INIT_SPAWN_SPEED, self.spawn_speed)
        self.spawn_timer = torch.where(mask, INIT_SPAWN_SPEED, self.spawn_timer)
        self.move_speed = torch.where(mask, INIT_MOVE_INTERVAL, self.move_speed)
        self.move_timer = torch.where(mask, INIT_MOVE_INTERVAL, self.move_timer)
        self.ramp_timer = torch.where(mask, RAMP_INTERVAL, self.ramp_timer)
        self.ramp_index = torch.where(mask, 0, self.ramp_index)

    def _spawn(self, mask: torch.Tensor) -> None:
        """An enemy or gold into a random free lane, where ``mask`` (the package's draws)."""
        right = self.draws.uniform(mask) < 1 / 2
        gold = self.draws.uniform(mask) < 1 / 3
        free = ~self.alive
        count = free.sum(dim=1)
        spawns = mask & (count > 0)
        choice = self.draws.integers(0, count, spawns)  # the choice-th free lane
        new = free & (free.cumsum(dim=1) == (choice + 1)[:, None]) & spawns[:, None]
        keep = ~new
        self.x = torch.where(new, 9 - 9 * right.long()[:, None], self.x)  # from its edge
        self.dx = torch.where(new, 2 * right.long()[:, None] - 1, self.dx)
        self.right = (self.right & keep) | (new & right[:, None])
        self.gold = (self.gold & keep) | (new & gold[:, None])
        self.alive |= new

    def _touch(self) -> torch.Tensor:
        """Collect the gold on the player's cell (the reward) and end on an enemy there."""
        on_player = (
            self.alive
            & (self.x == self.player_x[:, None])
            & (self._lanes == self.player_y[:, None])
        )
        collected = on_player & self.gold
        self.terminal |= (on_player & ~self.gold).any(dim=1)
        self.alive &= ~collected
        return collected.sum(dim=1)

    def _act(self, action: torch.Tensor) -> torch.Tensor:
        spawning = self.spawn_timer == 0
        self._spawn(spawning)
        self.spawn_timer = torch.where(spawning, self.spawn_speed, self.spawn_timer)

        dx = (action == action_index("r")).long() - (action == action_index("l")).long()
        dy = (action == action_index("d")).long() - (action == action_index("u")).long()
        self.player_x = (self.player_x + dx).clamp(0, 9)
        self.player_y = (self.player_y + dy).clamp(1, 8)

        reward = self._touch()
        moving = self.move_timer == 0
        self.move_timer = torch.where(moving, self.move_speed, self.move_timer)
        self.x = self.x + self.dx * (moving[:, None] & self.alive)
        self.alive &= (self.x >= 0) & (self.x <= 9)  # off the grid: gone
        # where nothing moved this touches nothing new: the gold there is already taken
        reward = reward + self._touch()

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
        faster_moves = ramp & (self.move_speed > 1) & (self.ramp_index % 2 == 1)
        self.move_speed -= faster_moves.long()
        self.spawn_speed -= (ramp & (self.spawn_speed > 1)).long()
        self.ramp_index += ramp.long()
        self.ramp_timer = torch.where(ramp, RAMP_INTERVAL, self.ramp_timer)

    def _paint(self) -> None:
        player = 10 * self.player_y + self.player_x  # channel 0
        cells = 10 * self._lanes + self.x
        objects = torch.where(self.alive, cells + 100 + 200 * self.gold.long(), self._spare)
        behind = self.x - self.dx  # the trail, channel 2
        seen = self.alive & (behind >= 0) & (behind <= 9)
        trails = torch.where(seen, cells + 200 - self.dx, self._spare)
        self.mark(torch.cat((player[:, None], objects, trails), dim=1))

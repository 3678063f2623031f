"""MinAtar Space Invaders, batched in torch: a cannon against a block of aliens.

The cannon moves left and right and fires (once every 5 frames). The aliens move sideways
together, stepping down and turning at an edge; they move once every ``min(aliens left,
move interval)`` frames, so the last ones are fast. Every 10 frames the alien nearest the
cannon shoots. +1 per alien shot; an alien or alien bullet reaching the cannon ends the
episode. With difficulty ramping, each cleared wave is followed by a faster one (move
interval 12, down to 6). No random draws: all randomness is the sticky action.

The aliens and both kinds of bullet are kept as rows of bits (``rows.py``); ``aliens`` shows
the aliens as a (num_envs, 10, 10) grid, and what is written into it counts from the next
step on.
"""

from __future__ import annotations

import torch

from coordrl.envs.minatar.base import MinAtarEnv, action_index
from coordrl.envs.minatar.rows import FULL_ROW, RowBits

SHOT_COOL_DOWN = 5
ENEMY_MOVE_INTERVAL = 12
ENEMY_SHOT_INTERVAL = 10


WAVE = tuple(0b0011111100 if row < 4 else 0 for row in range(10))  # rows 0-3, columns 2-7


class SpaceInvadersEnv(MinAtarEnv):
    game = "space_invaders"
    channels = (
        "cannon", "alien", "alien_left", "alien_right", "friendly_bullet", "enemy_bullet"
    )  # fmt: skip
    minimal_actions = "nlrf"

    def __init__(self, num_envs: int, **options) -> None:
        super().__init__(num_envs, **options)
        n, d = num_envs, self.device
        self.alien_rows, self.bullet_rows, self.enemy_bullet_rows = (
            torch.zeros((n, 10), dtype=torch.int64, device=d) for _ in range(3)
        )
        names = ("pos", "alien_dir", "move_interval", "move_timer", "alien_shot_timer")
        for name in (*names, "ramp_index", "shot_timer"):
            setattr(self, name, torch.zeros(n, dtype=torch.int64, device=d))
        self._bits = RowBits(d)
        self._wave = torch.tensor(WAVE, device=d)
        self._columns = torch.arange(10, device=d)
        self._nothing = torch.zeros((n, 1), dtype=torch.int64, device=d)  # an empty row
        # per cannon position: the order in which the columns' lowest aliens shoot (nearest
        # first, the left one on a tie)
        self._shot_order = (self._columns[:, None] - self._columns).abs() * 10 + self._columns
        self._grid: torch.Tensor | None = None  # what ``aliens`` handed out, if anything
        self._start(self._everyone)

    @property
    def aliens(self) -> torch.Tensor:
        """The aliens as a (num_envs, 10, 10) bool grid; what is written into it before the
        next step (or reset) becomes the aliens."""
        if self._grid is None:
            self._grid = self._bits.unpack(self.alien_rows).view(-1, 10, 10).bool()
        return self._grid

    def _sync(self) -> None:
        """Take over what was written into the grid ``aliens`` handed out."""
        if self._grid is not None:
            self.alien_rows, self._grid = self._bits.pack(self._grid), None

    def _start(self, mask: torch.Tensor) -> None:
        self._sync()
        m = mask[:, None]
        self.pos = torch.where(mask, 5, self.pos)
        self.bullet_rows = self.bullet_rows * ~m
        self.enemy_bullet_rows = self.enemy_bullet_rows * ~m
        self.alien_rows = torch.where(m, self._wave, self.alien_rows)
        self.alien_dir = torch.where(mask, -1, self.alien_dir)
        self.move_interval = torch.where(mask, ENEMY_MOVE_INTERVAL, self.move_interval)
        self.move_timer = torch.where(mask, ENEMY_MOVE_INTERVAL, self.move_timer)
        self.alien_shot_timer = torch.where(mask, ENEMY_SHOT_INTERVAL, self.alien_shot_timer)
        self.ramp_index = torch.where(mask, 0, self.ramp_index)
        self.shot_timer = torch.where(mask, 0, self.shot_timer)

    def _at_cannon(self, rows: torch.Tensor) -> torch.Tensor:
        """Whether (num_envs, 10) ``rows`` have something on the cannon's cell."""
        return ((rows[:, 9] >> self.pos) & 1).bool()

    def _act(self, action: torch.Tensor) -> torch.Tensor:
        self._sync()
        fire = (action == action_index("f")) & (self.shot_timer == 0)
        self.shot_timer = torch.where(fire, SHOT_COOL_DOWN, self.shot_timer)
        # every bullet one row up; a shot is fired from the cannon's row (always empty here)
        shot = self.bullet_rows[:, 9] | (fire.long() << self.pos)
        self.bullet_rows = torch.cat(
            (self.bullet_rows[:, 1:9], shot[:, None], self._nothing), dim=1
        )
        moves = (action == action_index("r")).long() - (action == action_index("l")).long()
        self.pos = (self.pos + moves).clamp(0, 9)  # fire is its own action: no move with it

        self.enemy_bullet_rows = torch.cat((self._nothing, self.enemy_bullet_rows[:, :9]), dim=1)
        self.terminal |= self._at_cannon(self.enemy_bullet_rows)
        self.terminal |= self._at_cannon(self.alien_rows)
        occupied = self._move_aliens()
        self._alien_shot(occupied)

        kills = self.alien_rows & self.bullet_rows
        reward = self._bits.count(kills)
        self.alien_rows ^= kills
        self.bullet_rows ^= kills

        self.shot_timer -= (self.shot_timer > 0).long()
        self.move_timer -= 1
        self.alien_shot_timer -= 1
        cleared = self.alien_rows.amax(dim=1) == 0
        faster = cleared & (self.move_interval > 6) & self.difficulty_ramping
        self.move_interval -= faster.long()
        self.ramp_index += faster.long()
        self.alien_rows |= cleared.long()[:, None] * self._wave
        return reward

    def _move_aliens(self) -> torch.Tensor:
        """Move the aliens when their timer is up: down and turning at an edge, else one
        column on. The columns holding an alien afterwards, as one row."""
        rows = self.alien_rows
        moving = self.move_timer == 0
        count = self._bits.count(rows)
        self.move_timer = torch.where(
            moving, torch.minimum(count, self.move_interval), self.move_timer
        )
        half = rows[:, :5] | rows[:, 5:]
        occupied = half[:, 0] | half[:, 1] | half[:, 2] | half[:, 3] | half[:, 4]
        left = self.alien_dir < 0
        at_edge = torch.where(left, occupied & 1, occupied >> 9) != 0
        down = moving & at_edge
        side = moving & ~at_edge
        self.alien_dir = torch.where(down, -self.alien_dir, self.alien_dir)
        self.terminal |= down & (rows[:, 9] != 0)
        left ^= down
        # as the package's roll: down wraps the bottom row to the top; sideways nothing wraps
        # (a move toward an edge holding an alien is a move down)
        rolled_down = torch.cat((rows[:, 9:], rows[:, :9]), dim=1)
        sideways = torch.where(left[:, None], rows >> 1, (rows << 1) & FULL_ROW)
        self.alien_rows = torch.where(
            down[:, None], rolled_down, torch.where(side[:, None], sideways, rows)
        )
        self.terminal |= moving & self._at_cannon(self.alien_rows)
        shifted = torch.where(left, occupied >> 1, (occupied << 1) & FULL_ROW)
        return torch.where(side, shifted, occupied)

    def _alien_shot(self, occupied: torch.Tensor) -> None:
        """Every 10 frames the lowest alien of the column nearest the cannon shoots."""
        shooting = self.alien_shot_timer == 0
        self.alien_shot_timer = torch.where(shooting, ENEMY_SHOT_INTERVAL, self.alien_shot_timer)
        filled = ((occupied[:, None] >> self._columns) & 1).bool()
        column = torch.where(filled, self._shot_order[self.pos], 1000).argmin(dim=1)
        in_column = (self.alien_rows >> column[:, None]) & 1
        row = (in_column * (self._columns + 1)).amax(dim=1) - 1
        shoots = shooting & (occupied != 0)
        bullet = (shoots.long() << column)[:, None] * (self._columns == row[:, None])
        self.enemy_bullet_rows |= bullet

    def _paint(self) -> None:
        self._sync()
        self.mark(90 + self.pos)  # the cannon, channel 0
        left = (self.alien_dir < 0).long()[:, None]
        aliens = self.alien_rows
        rows = (aliens, aliens * left, aliens * (1 - left), self.bullet_rows)
        rows = torch.cat((*rows, self.enemy_bullet_rows), dim=1)
        self.fill_cells(100, self._bits.unpack(rows))  # channels 1 to 5

"""MinAtar Space Invaders, batched in torch: a cannon against a block of aliens.

The cannon moves left and right and fires (once every 5 frames). The aliens move sideways
together, stepping down and turning at an edge; they move once every ``min(aliens left,
move interval)`` frames, so the last ones are fast. Every 10 frames the alien nearest the
cannon shoots. +1 per alien shot; an alien or alien bullet reaching the cannon ends the
episode. With difficulty ramping, each cleared wave is followed by a faster one (move
interval 12, down to 6). No random draws: all randomness is the sticky action.

The aliens are kept as rows of bits (``rows.py``); ``aliens`` shows them as a (num_envs, 10,
10) grid, and what is written into it counts from the next step on. A shot lives 9 frames
and the cannon fires at most every 5, an alien bullet lives at most 10 and the aliens shoot
every 10: so the bullets are two slots per env (used in turn) and the alien bullet one.
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
        self.alien_rows = torch.zeros((n, 10), dtype=torch.int64, device=d)
        names = ("pos", "alien_dir", "move_interval", "move_timer", "alien_shot_timer")
        for name in (*names, "ramp_index", "shot_timer", "shot_x", "shot_y"):
            setattr(self, name, torch.zeros(n, dtype=torch.int64, device=d))
        self.shot_live = torch.zeros(n, dtype=torch.bool, device=d)  # the alien bullet
        # the cannon's bullets: two slots, used in turn (by the parity of ``fired``)
        self.bullet_x, self.bullet_y = (
            torch.zeros((2, n), dtype=torch.int64, device=d) for _ in "xy"
        )
        self.bullet_live = torch.zeros((2, n), dtype=torch.bool, device=d)
        self.fired = torch.zeros(n, dtype=torch.int64, device=d)
        self._bits = RowBits(d)
        self._wave = torch.tensor(WAVE, device=d)
        self._columns = torch.arange(10, device=d)
        self._row_numbers = self._columns + 1  # (0 for no row)
        self._slot_of = torch.arange(2, device=d)[:, None]
        # per cannon position: the order in which the columns' lowest aliens shoot (nearest
        # first, the left one on a tie)
        self._shot_order = (self._columns[:, None] - self._columns).abs() * 10 + self._columns
        self._grid: torch.Tensor | None = None  # what ``aliens`` handed out, if anything
        self._cells = torch.empty((n, 100), dtype=torch.uint8, device=d)  # the aliens
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
        self.bullet_live &= ~mask
        self.shot_live &= ~mask
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
        self._fire(fire)
        moves = (action == action_index("r")).long() - (action == action_index("l")).long()
        self.pos = (self.pos + moves).clamp(0, 9)  # fire is its own action: no move with it

        self.shot_y += 1  # the alien bullet one row down, past the bottom gone
        self.shot_live &= self.shot_y <= 9
        self.terminal |= self.shot_live & (self.shot_y == 9) & (self.shot_x == self.pos)
        self.terminal |= self._at_cannon(self.alien_rows)
        occupied = self._move_aliens()
        self._alien_shot(occupied)
        reward = self._hits()

        self.shot_timer -= (self.shot_timer > 0).long()
        self.move_timer -= 1
        self.alien_shot_timer -= 1
        cleared = self.alien_rows.amax(dim=1) == 0
        faster = cleared & (self.move_interval > 6) & self.difficulty_ramping
        self.move_interval -= faster.long()
        self.ramp_index += faster.long()
        self.alien_rows |= cleared.long()[:, None] * self._wave
        return reward

    def _fire(self, fire: torch.Tensor) -> None:
        """A shot from the cannon's row where ``fire``; then every shot one row up, past the
        top gone."""
        new = fire & (self._slot_of == (self.fired & 1))
        self.bullet_x = torch.where(new, self.pos, self.bullet_x)
        self.bullet_y = torch.where(new, 9, self.bullet_y)
        self.bullet_live |= new
        self.fired += fire.long()
        self.bullet_y -= 1
        self.bullet_live &= self.bullet_y >= 0

    def _hits(self) -> torch.Tensor:
        """Each shot on an alien takes it: both go (+1)."""
        rows = self.bullet_y.clamp(min=0).t()
        on_alien = (self.alien_rows.gather(1, rows).t() >> self.bullet_x) & 1
        hit = self.bullet_live & on_alien.bool()
        self.alien_rows.scatter_add_(1, rows, -(hit.long() << self.bullet_x).t())
        self.bullet_live &= ~hit
        return hit.sum(dim=0)

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
        order = self._shot_order.index_select(0, self.pos)
        column = torch.where(filled, order, 1000).argmin(dim=1)
        in_column = (self.alien_rows >> column[:, None]) & 1
        row = (in_column * self._row_numbers).amax(dim=1) - 1
        shoots = shooting & (occupied != 0)
        self.shot_x = torch.where(shoots, column, self.shot_x)
        self.shot_y = torch.where(shoots, row, self.shot_y)
        self.shot_live |= shoots

    def _paint(self) -> None:
        self._sync()
        shots = 400 + 10 * self.bullet_y + self.bullet_x  # channel 4
        shots = torch.where(self.bullet_live, shots, self._spare)
        alien_shot = 500 + 10 * self.shot_y + self.shot_x  # channel 5
        alien_shot = torch.where(self.shot_live, alien_shot, self._spare)
        self.mark(torch.cat(((90 + self.pos)[None], shots, alien_shot[None])).t())  # 0: cannon
        cells = self._cells  # (made once: allocating it each step costs more)
        torch.index_select(self._bits.cells, 0, self.alien_rows.view(-1), out=cells.view(-1, 10))
        left = (self.alien_dir < 0).to(torch.uint8)[:, None]
        self.fill_cells(100, cells)  # channels 1 to 3: the aliens, by the way they go
        going_left = cells * left
        self.fill_cells(200, going_left)
        self.fill_cells(300, cells - going_left)

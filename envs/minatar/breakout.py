"""MinAtar Breakout, batched in torch: a paddle, a ball on diagonals, three rows of bricks.

+1 per brick; when every brick is gone and the ball next reaches the paddle's row, three
new rows appear; the episode ends when the ball passes the paddle. The ball bounces
straight back off the paddle's top and sideways off its corner, and the trail channel
shows where it was a frame ago. No difficulty ramp.

The bricks are one int64 per env, bit ``10 * y + x`` for the cell (y, x): looking a cell up,
breaking a brick and refilling the rows are single elementwise ops on (num_envs,) tensors.
"""

from __future__ import annotations

import torch

from coordrl.envs.minatar.base import MinAtarEnv, action_index

BRICK_ROWS = range(1, 4)
FULL = sum(1 << (10 * y + x) for y in BRICK_ROWS for x in range(10))  # three rows of bricks


class BreakoutEnv(MinAtarEnv):
    game = "breakout"
    channels = ("paddle", "ball", "trail", "brick")
    minimal_actions = "nlr"

    def __init__(self, num_envs: int, **options) -> None:
        super().__init__(num_envs, **options)
        n, d = num_envs, self.device
        self.ball_x, self.ball_y, self.pos, self.last_x, self.last_y = (
            torch.zeros(n, dtype=torch.int64, device=d) for _ in range(5)
        )
        # the ball's direction: one cell sideways and one up (-1) or down (+1) a frame
        self.ball_dx, self.ball_dy = (torch.ones(n, dtype=torch.int64, device=d) for _ in range(2))
        self.bricks = torch.zeros(n, dtype=torch.int64, device=d)  # bit 10 * y + x per cell
        self.strike = torch.zeros(n, dtype=torch.bool, device=d)
        self._brick_bits = torch.arange(10 * BRICK_ROWS.start, 10 * BRICK_ROWS.stop, device=d)
        self._start(self._everyone)

    def _start(self, mask: torch.Tensor) -> None:
        right = self.draws.integers(0, 2, mask).bool()  # the ball starts left or right
        x = torch.where(right, 9, 0)
        self.ball_y = torch.where(mask, 3, self.ball_y)
        self.ball_x = torch.where(mask, x, self.ball_x)
        self.ball_dx = torch.where(mask, torch.where(right, -1, 1), self.ball_dx)
        self.ball_dy = torch.where(mask, 1, self.ball_dy)
        self.pos = torch.where(mask, 4, self.pos)
        self.bricks = torch.where(mask, FULL, self.bricks)
        self.strike &= ~mask
        self.last_x = torch.where(mask, x, self.last_x)
        self.last_y = torch.where(mask, 3, self.last_y)

    def _act(self, action: torch.Tensor) -> torch.Tensor:
        moves = (action == action_index("r")).long() - (action == action_index("l")).long()
        pos = (self.pos + moves).clamp(0, 9)
        self.pos = pos
        self.last_x, self.last_y = self.ball_x, self.ball_y
        dx, dy = self.ball_dx, self.ball_dy
        new_x = self.ball_x + dx
        new_y = self.ball_y + dy
        dx = torch.where((new_x < 0) | (new_x > 9), -dx, dx)  # off a side wall
        new_x = new_x.clamp(0, 9)
        top = new_y < 0
        new_y = new_y.clamp(min=0)

        # bits past 63 read as 0: a cell outside the brick rows holds none
        brick = ((self.bricks >> (10 * new_y + new_x)) & 1).bool()
        breaks = brick & ~self.strike
        reward = breaks.long()
        self.bricks = self.bricks ^ (reward << (10 * new_y + new_x))
        new_y = torch.where(breaks, self.last_y, new_y)
        self.strike = brick  # set by a break, kept while the ball sits in a brick, else off

        bottom = new_y == 9  # a brick or the top leaves the ball higher
        cleared = bottom & (self.bricks == 0)
        self.bricks = torch.where(cleared, FULL, self.bricks)
        straight = bottom & (self.ball_x == pos)
        corner = bottom & ~straight & (new_x == pos)
        # off the top, a brick or the paddle's top: back down or up; off its corner: both
        dy = torch.where(top ^ breaks ^ straight ^ corner, -dy, dy)
        dx = torch.where(corner, -dx, dx)
        new_y = torch.where(straight | corner, self.last_y, new_y)
        self.terminal |= bottom & ~straight & ~corner

        self.ball_x, self.ball_y, self.ball_dx, self.ball_dy = new_x, new_y, dx, dy
        return reward

    def _paint(self) -> None:
        paddle = 90 + self.pos
        ball = 100 + 10 * self.ball_y + self.ball_x
        trail = 200 + 10 * self.last_y + self.last_x
        self.mark(torch.stack((paddle, ball, trail), dim=1))
        self.fill_cells(300 + 10 * BRICK_ROWS.start, (self.bricks[:, None] >> self._brick_bits) & 1)

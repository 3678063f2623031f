"""MinAtar Breakout, batched in torch: a paddle, a ball on diagonals, three rows of bricks.

+1 per brick; when every brick is gone and the ball next reaches the paddle's row, three
new rows appear; the episode ends when the ball passes the paddle. The ball bounces
straight back off the paddle's top and sideways off its corner, and the trail channel
shows where it was a frame ago. No difficulty ramp.
"""

from __future__ import annotations

import torch

from coordrl.envs.minatar.base import MinAtarEnv, action_index

# ball directions 0..3: up-left, up-right, down-right, down-left
STEP_X = (-1, 1, 1, -1)
STEP_Y = (-1, -1, 1, 1)
FLIP_X = (1, 0, 3, 2)  # off a side wall
FLIP_Y = (3, 2, 1, 0)  # off the top, a brick or the paddle's top
OFF_CORNER = (2, 3, 0, 1)  # off the paddle's corner


class BreakoutEnv(MinAtarEnv):
    game = "breakout"
    channels = ("paddle", "ball", "trail", "brick")
    minimal_actions = "nlr"

    def __init__(self, num_envs: int, **options) -> None:
        super().__init__(num_envs, **options)
        n, d = num_envs, self.device
        self.ball_x, self.ball_y, self.ball_dir, self.pos, self.last_x, self.last_y = (
            torch.zeros(n, dtype=torch.int64, device=d) for _ in range(6)
        )
        self.bricks = torch.zeros((n, 10, 10), dtype=torch.bool, device=d)
        self.strike = torch.zeros(n, dtype=torch.bool, device=d)
        tables = (STEP_X, STEP_Y, FLIP_X, FLIP_Y, OFF_CORNER)
        self._step_x, self._step_y, self._flip_x, self._flip_y, self._corner = (
            torch.tensor(t, device=d) for t in tables
        )
        self._start(self._everyone)

    def _start(self, mask: torch.Tensor) -> None:
        right = self.draws.integers(0, 2, mask).bool()  # the ball starts left or right
        self.ball_y = torch.where(mask, 3, self.ball_y)
        self.ball_x = torch.where(mask, torch.where(right, 9, 0), self.ball_x)
        self.ball_dir = torch.where(mask, torch.where(right, 3, 2), self.ball_dir)
        self.pos = torch.where(mask, 4, self.pos)
        fresh = torch.zeros_like(self.bricks)
        fresh[:, 1:4, :] = True
        self.bricks = torch.where(mask[:, None, None], fresh, self.bricks)
        self.strike &= ~mask
        self.last_x = torch.where(mask, self.ball_x, self.last_x)
        self.last_y = torch.where(mask, self.ball_y, self.last_y)

    def _act(self, action: torch.Tensor) -> torch.Tensor:
        pos = self.pos
        pos = torch.where(action == action_index("l"), (pos - 1).clamp(min=0), pos)
        pos = torch.where(action == action_index("r"), (pos + 1).clamp(max=9), pos)
        self.pos = pos
        self.last_x, self.last_y = self.ball_x, self.ball_y
        direction = self.ball_dir
        new_x = self.ball_x + self._step_x[direction]
        new_y = self.ball_y + self._step_y[direction]

        side = (new_x < 0) | (new_x > 9)
        new_x = new_x.clamp(0, 9)
        direction = torch.where(side, self._flip_x[direction], direction)

        top = new_y < 0
        new_y = new_y.clamp(min=0)
        direction = torch.where(top, self._flip_y[direction], direction)

        envs = torch.arange(self.num_envs, device=self.device)
        brick = ~top & self.bricks[envs, new_y.clamp(max=9), new_x]
        breaks = brick & ~self.strike
        reward = breaks.long()
        self.bricks[envs, new_y.clamp(max=9), new_x] &= ~breaks
        new_y = torch.where(breaks, self.last_y, new_y)
        direction = torch.where(breaks, self._flip_y[direction], direction)
        self.strike = brick  # set by a break, kept while the ball sits in a brick, else off

        bottom = ~top & ~brick & (new_y == 9)
        cleared = bottom & ~self.bricks.flatten(1).any(dim=1)
        self.bricks[:, 1:4, :] |= cleared[:, None, None]
        straight = bottom & (self.ball_x == pos)
        corner = bottom & ~straight & (new_x == pos)
        direction = torch.where(straight, self._flip_y[direction], direction)
        direction = torch.where(corner, self._corner[direction], direction)
        new_y = torch.where(straight | corner, self.last_y, new_y)
        self.terminal |= bottom & ~straight & ~corner

        self.ball_x, self.ball_y, self.ball_dir = new_x, new_y, direction
        return reward

    def _paint(self) -> None:
        self.paint(0, torch.full_like(self.pos, 9), self.pos)
        self.paint(1, self.ball_y, self.ball_x)
        self.paint(2, self.last_y, self.last_x)
        self.fill(3, self.bricks)

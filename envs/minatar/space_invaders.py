"""MinAtar Space Invaders, batched in torch: a cannon against a block of aliens.

The cannon moves left and right and fires (once every 5 frames). The aliens move sideways
together, stepping down and turning at an edge; they move once every ``min(aliens left,
move interval)`` frames, so the last ones are fast. Every 10 frames the alien nearest the
cannon shoots. +1 per alien shot; an alien or alien bullet reaching the cannon ends the
episode. With difficulty ramping, each cleared wave is followed by a faster one (move
interval 12, down to 6). No random draws: all randomness is the sticky action.
"""

from __future__ import annotations

import torch

from coordrl.envs.minatar.base import MinAtarEnv, action_index

SHOT_COOL_DOWN = 5
ENEMY_MOVE_INTERVAL = 12
ENEMY_SHOT_INTERVAL = 10


class SpaceInvadersEnv(MinAtarEnv):
    game = "space_invaders"
    channels = (
        "cannon", "alien", "alien_left", "alien_right", "friendly_bullet", "enemy_bullet"
    )  # fmt: skip
    minimal_actions = "nlrf"

    def __init__(self, num_envs: int, **options) -> None:
        super().__init__(num_envs, **options)
        n, d = num_envs, self.device
        self.aliens, self.bullets, self.enemy_bullets = (
            torch.zeros((n, 10, 10), dtype=torch.bool, device=d) for _ in range(3)
        )
        names = ("pos", "alien_dir", "move_interval", "move_timer", "alien_shot_timer")
        for name in (*names, "ramp_index", "shot_timer"):
            setattr(self, name, torch.zeros(n, dtype=torch.int64, device=d))
        self._wave = torch.zeros((10, 10), dtype=torch.bool, device=d)
        self._wave[0:4, 2:8] = True
        self._columns = torch.arange(10, device=d)
        self._start(self._everyone)

    def _start(self, mask: torch.Tensor) -> None:
        m = mask[:, None, None]
        self.pos = torch.where(mask, 5, self.pos)
        self.bullets &= ~m
        self.enemy_bullets &= ~m
        self.aliens = torch.where(m, self._wave, self.aliens)
        self.alien_dir = torch.where(mask, -1, self.alien_dir)
        self.move_interval = torch.where(mask, ENEMY_MOVE_INTERVAL, self.move_interval)
        self.move_timer = torch.where(mask, ENEMY_MOVE_INTERVAL, self.move_timer)
        self.alien_shot_timer = torch.where(mask, ENEMY_SHOT_INTERVAL, self.alien_shot_timer)
        self.ramp_index = torch.where(mask, 0, self.ramp_index)
        self.shot_timer = torch.where(mask, 0, self.shot_timer)

    def _at_cannon(self, grid: torch.Tensor) -> torch.Tensor:
        """Whether ``grid`` (num_envs, 10, 10) has something on the cannon's cell."""
        return grid[:, 9, :].gather(1, self.pos[:, None]).squeeze(1)

    def _act(self, action: torch.Tensor) -> torch.Tensor:
        envs = torch.arange(self.num_envs, device=self.device)
        fire = (action == action_index("f")) & (self.shot_timer == 0)
        self.bullets[envs, 9, self.pos] |= fire
        self.shot_timer = torch.where(fire, SHOT_COOL_DOWN, self.shot_timer)
        pos = torch.where(
            ~fire & (action == action_index("l")), (self.pos - 1).clamp(min=0), self.pos
        )
        self.pos = torch.where(~fire & (action == action_index("r")), (pos + 1).clamp(max=9), pos)

        self.bullets = self.bullets.roll(-1, dims=1)
        self.bullets[:, 9, :] = False
        self.enemy_bullets = self.enemy_bullets.roll(1, dims=1)
        self.enemy_bullets[:, 0, :] = False
        self.terminal |= self._at_cannon(self.enemy_bullets)

        self.terminal |= self._at_cannon(self.aliens)
        moving = self.move_timer == 0
        count = self.aliens.flatten(1).sum(dim=1)
        self.move_timer = torch.where(
            moving, torch.minimum(count, self.move_interval), self.move_timer
        )
        left_edge = self.aliens[:, :, 0].any(dim=1) & (self.alien_dir < 0)
        right_edge = self.aliens[:, :, 9].any(dim=1) & (self.alien_dir > 0)
        down = moving & (left_edge | right_edge)
        side = moving & ~down
        self.alien_dir = torch.where(down, -self.alien_dir, self.alien_dir)
        self.terminal |= down & self.aliens[:, 9, :].any(dim=1)
        rolled_down = self.aliens.roll(1, dims=1)
        rolled = torch.where(
            (self.alien_dir < 0)[:, None, None],
            self.aliens.roll(-1, dims=2),
            self.aliens.roll(1, dims=2),
        )
        self.aliens = torch.where(
            down[:, None, None], rolled_down, torch.where(side[:, None, None], rolled, self.aliens)
        )
        self.terminal |= moving & self._at_cannon(self.aliens)

        shooting = self.alien_shot_timer == 0
        self.alien_shot_timer = torch.where(shooting, ENEMY_SHOT_INTERVAL, self.alien_shot_timer)
        occupied = self.aliens.any(dim=1)  # (num_envs, 10): columns with an alien
        # nearest column to the cannon, the left one first on a tie; its lowest alien shoots
        key = (self._columns - self.pos[:, None]).abs() * 10 + self._columns
        column = torch.where(occupied, key, 1000).argmin(dim=1)
        rows = torch.arange(10, device=self.device).view(1, 10)
        in_column = self.aliens[envs, :, column]
        row = torch.where(in_column, rows, -1).max(dim=1).values
        shoots = shooting & occupied.any(dim=1)
        self.enemy_bullets[envs, row.clamp(min=0), column] |= shoots

        kills = self.aliens & self.bullets
        reward = kills.flatten(1).sum(dim=1)
        self.aliens &= ~kills
        self.bullets &= ~kills

        self.shot_timer -= (self.shot_timer > 0).long()
        self.move_timer -= 1
        self.alien_shot_timer -= 1
        cleared = ~self.aliens.flatten(1).any(dim=1)
        faster = cleared & (self.move_interval > 6) & self.difficulty_ramping
        self.move_interval -= faster.long()
        self.ramp_index += faster.long()
        self.aliens |= cleared[:, None, None] & self._wave
        return reward

    def _paint(self) -> None:
        self.paint(0, torch.full_like(self.pos, 9), self.pos)
        self.fill(1, self.aliens)
        left = (self.alien_dir < 0)[:, None, None]
        self.fill(2, self.aliens & left)
        self.fill(3, self.aliens & ~left)
        self.fill(4, self.bullets)
        self.fill(5, self.enemy_bullets)

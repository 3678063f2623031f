"""MinAtar Freeway, batched in torch: a chicken crossing eight lanes of traffic.

+1 each time the chicken reaches the top row (it then starts again at the bottom and the
cars get new random speeds); a car sends it back to the bottom. It can move once every 3
frames. Each car moves once every 1-5 frames, shown by which of the five trail channels its
trail is in. The episode ends after 2,500 frames. No difficulty ramp.
"""

from __future__ import annotations

import torch

from coordrl.envs.minatar.base import MinAtarEnv, action_index

PLAYER_SPEED = 3  # frames between the chicken's moves
TIME_LIMIT = 2500  # frames per episode (a terminal, as in the package)
LANES = 8


class FreewayEnv(MinAtarEnv):
    game = "freeway"
    channels = ("chicken", "car", "speed1", "speed2", "speed3", "speed4", "speed5")
    minimal_actions = "nud"

    def __init__(self, num_envs: int, **options) -> None:
        super().__init__(num_envs, **options)
        n, d = num_envs, self.device
        self.pos, self.move_timer, self.terminate_timer = (
            torch.zeros(n, dtype=torch.int64, device=d) for _ in range(3)
        )
        # per lane: x, countdown to the next move, signed speed (its sign: the direction)
        self.car_x, self.car_timer, self.car_speed = (
            torch.zeros((n, LANES), dtype=torch.int64, device=d) for _ in range(3)
        )
        self._lanes = torch.arange(1, LANES + 1, device=d).expand(n, LANES)
        self._start(self._everyone)

    def _randomize_cars(self, mask: torch.Tensor, initialize: bool) -> None:
        speeds = self.draws.integers(1, 6, mask, (LANES,))
        # the package takes the sign of rand - 0.5: a draw of exactly 0.5 (probability 0 in
        # its float64) would stop a car; here it drives right
        directions = torch.where(self.draws.uniform(mask, (LANES,)) < 0.5, -1, 1)
        speeds = speeds * directions
        m = mask[:, None]
        if initialize:
            self.car_x = torch.where(m, 0, self.car_x)
        self.car_timer = torch.where(m, speeds.abs(), self.car_timer)
        self.car_speed = torch.where(m, speeds, self.car_speed)

    def _start(self, mask: torch.Tensor) -> None:
        self._randomize_cars(mask, initialize=True)
        self.pos = torch.where(mask, 9, self.pos)
        self.move_timer = torch.where(mask, PLAYER_SPEED, self.move_timer)
        self.terminate_timer = torch.where(mask, TIME_LIMIT, self.terminate_timer)

    def _act(self, action: torch.Tensor) -> torch.Tensor:
        ready = self.move_timer == 0
        up = ready & (action == action_index("u"))
        down = ready & (action == action_index("d"))
        self.move_timer = torch.where(up | down, PLAYER_SPEED, self.move_timer)
        pos = torch.where(up, (self.pos - 1).clamp(min=0), self.pos)
        pos = torch.where(down, (pos + 1).clamp(max=9), pos)

        crossed = pos == 0
        reward = crossed.long()
        self._randomize_cars(crossed, initialize=False)
        pos = torch.where(crossed, 9, pos)

        for lane in range(LANES):  # in the package's order: a hit moves the chicken
            x, timer, speed = self.car_x[:, lane], self.car_timer[:, lane], self.car_speed[:, lane]
            pos = torch.where((x == 4) & (pos == lane + 1), 9, pos)
            moves = timer == 0
            x = torch.where(moves, (x + speed.sign()) % 10, x)
            self.car_timer[:, lane] = torch.where(moves, speed.abs(), timer - 1)
            self.car_x[:, lane] = x
            pos = torch.where(moves & (x == 4) & (pos == lane + 1), 9, pos)
        self.pos = pos

        self.move_timer -= (self.move_timer > 0).long()
        self.terminate_timer -= 1
        self.terminal |= self.terminate_timer < 0
        return reward

    def _paint(self) -> None:
        self.paint(0, self.pos, torch.full_like(self.pos, 4))
        self.paint(1, self._lanes, self.car_x)
        behind = (self.car_x - torch.where(self.car_speed > 0, 1, -1)) % 10
        self.paint(1 + self.car_speed.abs(), self._lanes, behind)  # speed k: channel speed<k>

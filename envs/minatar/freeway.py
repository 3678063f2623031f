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
        # per lane: x, countdown to the next move, frames between moves, direction (+1 right)
        self.car_x, self.car_timer, self.car_period, self.car_dir = (
            torch.zeros((n, LANES), dtype=torch.int64, device=d) for _ in range(4)
        )
        self._lanes = torch.arange(1, LANES + 1, device=d).expand(n, LANES)
        self._wrap = torch.tensor([*range(10), 0, 9], device=d)  # x in -1..10 -> x mod 10
        self._start(self._everyone)

    def _randomize_cars(self, mask: torch.Tensor, initialize: bool) -> None:
        speeds = self.draws.integers(1, 6, mask, (LANES,))
        # the package takes the sign of rand - 0.5: a draw of exactly 0.5 (probability 0 in
        # its float64) would stop a car; here it drives right
        left = self.draws.uniform(mask, (LANES,)) < 0.5
        m = mask[:, None]
        if initialize:
            self.car_x = self.car_x * ~m
        self.car_timer = torch.where(m, speeds, self.car_timer)
        self.car_period = torch.where(m, speeds, self.car_period)
        self.car_dir = torch.where(m, 1 - 2 * left.long(), self.car_dir)

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
        pos = (self.pos - up.long() + down.long()).clamp(0, 9)

        crossed = pos == 0
        reward = crossed.long()
        self._randomize_cars(crossed, initialize=False)
        pos = torch.where(crossed, 9, pos)
        self.pos = torch.where(self._hit(pos), 9, pos)

        self.move_timer -= (self.move_timer > 0).long()
        self.terminate_timer -= 1
        self.terminal |= self.terminate_timer < 0
        return reward

    def _hit(self, pos: torch.Tensor) -> torch.Tensor:
        """Move the cars; whether the one in the chicken's lane (row ``pos``) is on it, before
        or after its move: only that lane's car can send the chicken back, so the package's
        lane-by-lane loop needs no order here."""
        x, timer = self.car_x, self.car_timer
        moves = timer == 0
        moved = self._wrap[x + self.car_dir * moves]
        self.car_timer = torch.where(moves, self.car_period, timer - 1)
        self.car_x = moved
        on = (x == 4) | (moves & (moved == 4))
        return (on & (self._lanes == pos[:, None])).any(dim=1)

    def _paint(self) -> None:
        chicken = 10 * self.pos + 4  # channel 0, column 4
        cars = 100 + 10 * self._lanes + self.car_x  # channel 1
        # the trail, behind the car, in channel speed<k> (1 + k) for a car moving every k
        trails = cars + 100 * self.car_period + self._wrap[self.car_x - self.car_dir] - self.car_x
        self.mark(torch.cat((chicken[:, None], cars, trails), dim=1))

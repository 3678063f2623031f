"""MinAtar Freeway, batched in torch: a chicken crossing eight lanes of traffic.

+1 each time the chicken reaches the top row (it then starts again at the bottom and the
cars get new random speeds); a car sends it back to the bottom. It can move once every 3
frames. Each car moves once every 1-5 frames, shown by which of the five trail channels its
trail is in. The episode ends after 2,500 frames. No difficulty ramp.

The cars are (lanes, num_envs) int8 tensors: the ops on them are small, and per-env values
broadcast along their last dimension.
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
        # per lane: x, countdown to the next move, frames from one move to the next (one
        # more than the speed the package draws), direction (+1 right)
        self.car_x, self.car_timer, self.car_interval, self.car_dir = (
            torch.zeros((LANES, n), dtype=torch.int8, device=d) for _ in range(4)
        )
        lanes = torch.arange(1, LANES + 1, device=d)[:, None]
        self._lane_of = lanes.expand(LANES, n)  # each car's row
        self._row_cells = 10 * lanes  # where each lane's row starts in a channel
        self._zero, self._four, self._nine = (
            torch.full((n,), v, dtype=torch.int8, device=d) for v in (0, 4, 9)
        )
        self._start(self._everyone)

    def _randomize_cars(self, mask: torch.Tensor, initialize: bool) -> None:
        speeds = _lanes_first(self.draws.integers(1, 6, mask, (LANES,)))
        # the package takes the sign of rand - 0.5: a draw of exactly 0.5 (probability 0 in
        # its float64) would stop a car; here it drives right
        left = _lanes_first(self.draws.uniform(mask, (LANES,)) < 0.5)
        new = mask.to(torch.int8)
        if initialize:
            self.car_x *= 1 - new
        self.car_timer += new * (speeds - self.car_timer)
        self.car_interval += new * (speeds + 1 - self.car_interval)
        self.car_dir += new * (1 - 2 * left - self.car_dir)

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

        self.move_timer.sub_(1).clamp_(min=0)
        self.terminate_timer -= 1
        self.terminal |= self.terminate_timer < 0
        return reward

    def _hit(self, pos: torch.Tensor) -> torch.Tensor:
        """Move the cars; whether the one in the chicken's lane (row ``pos``) is on it, before
        or after its move: only that lane's car can send the chicken back, so the package's
        lane-by-lane loop needs no order here."""
        x = self.car_x
        moves = self.car_timer == self._zero
        moved = self._wrap(x + self.car_dir * moves)
        # moving, the timer restarts (from 0), else it counts down
        self.car_timer.sub_(1).add_(self.car_interval * moves)
        on = (x == self._four) | (moves & (moved == self._four))
        self.car_x = moved
        return _any(on & (self._lane_of == pos))

    def _wrap(self, x: torch.Tensor) -> torch.Tensor:
        """Columns -1 to 10 (int8) as 0 to 9: the road wraps round."""
        return x + 10 * ((x < self._zero).view(torch.int8) - (x > self._nine).view(torch.int8))

    def _paint(self) -> None:
        chicken = 10 * self.pos + 4  # channel 0, column 4
        cars = 100 + self._row_cells + self.car_x  # channel 1
        # the trail, behind the car, in channel speed<k> (1 + k) for a car moving every k + 1
        behind = self._wrap(self.car_x - self.car_dir)
        trails = self._row_cells + 100 * self.car_interval.long() + behind
        self.mark(chicken[:, None])
        self.mark(torch.cat((cars, trails)).t())


def _lanes_first(draws: torch.Tensor) -> torch.Tensor:
    """(num_envs, lanes) draws as a contiguous (lanes, num_envs) int8 tensor."""
    return draws.to(torch.int8).t().contiguous()


def _any(mask: torch.Tensor) -> torch.Tensor:
    """Whether any lane is True, per env: a max over the lanes' dimension (0)."""
    return mask.view(torch.uint8).amax(dim=0).view(torch.bool)

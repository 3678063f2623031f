"""MinAtar Seaquest, batched in torch: a submarine, enemy fish and subs, divers and oxygen.

The player's two-cell submarine moves in four directions and fires sideways (once every 5
frames). Fish and enemy subs (which fire too) cross the rows 1-8; +1 per one shot. Divers
cross the rows as well; touching one picks it up (up to 6). Oxygen (200) runs down under
water; surfacing with divers refills it and costs one diver, surfacing with 6 trades them
all for oxygen/20 points, surfacing with none ends the episode, as do running out of oxygen
and touching an enemy or its bullet. With difficulty ramping, each surfacing makes spawns
(from every 20 frames) and moves (every 5) faster.

The package keeps its objects in Python lists, processed newest first, each kind against the
lists of the others in their order. Here they sit in slots (``slots.py``), each phase one
batch of elementwise ops over all of them, with no host sync and bounds fixed in advance:

- fish and enemy subs share one ring of slots; ``order`` ranks them as the package meets
  them: a bullet hits the first fish on its cell, else the first sub (the lowest order), and
  of the enemies moving onto a bullet the first processed takes it (subs, then fish, newest
  first: the highest order). As a bullet is fired only every 5 frames and all bullets move
  one cell a frame, no two share a cell, so these choices never compete;
- divers are picked up newest first while seats are left: a diver is picked when fewer
  seats than its place among this frame's candidates are taken;
- an enemy sub fires every 11 frames and its bullet is gone within 10, so the bullet lives
  in the sub's slot (a slot is reused only after 32 spawns), moving along the sub's row.

The slots suffice by the rules: an enemy spawns at most every frame and is gone 30 frames
later at the fastest level (slower levels spawn far less often), a diver spawns every 30
frames and lives 60, a bullet every 5 and lives 10.
"""

from __future__ import annotations

from types import SimpleNamespace

import torch

from coordrl.envs.minatar.base import MinAtarEnv, action_index
from coordrl.envs.minatar.slots import LEFT, Addition, Kind, Slots

MAX_OXYGEN = 200
INIT_SPAWN_SPEED = 20
DIVER_SPAWN_SPEED = 30
INIT_MOVE_INTERVAL = 5
SHOT_COOL_DOWN = 5
ENEMY_SHOT_INTERVAL = 10
DIVER_MOVE_INTERVAL = 5

SLOTS = {"enemies": 32, "divers": 4, "bullets": 2}
# a new object's order: every fish ranks below every sub for the 60-odd frames either lives
NEW_FISH, NEW_SUB, NEW_DIVER = 126, 253, 253


class SeaquestEnv(MinAtarEnv):
    game = "seaquest"
    channels = (
        "sub_front", "sub_back", "friendly_bullet", "trail", "enemy_bullet",
        "enemy_fish", "enemy_sub", "oxygen_guage", "diver_guage", "diver",
    )  # fmt: skip
    minimal_actions = "nlurdf"

    def __init__(self, num_envs: int, **options) -> None:
        super().__init__(num_envs, **options)
        n, d = num_envs, self.device
        names = ("oxygen", "diver_count", "sub_x", "sub_y", "shot_timer", "e_spawn_speed")
        names += ("e_spawn_timer", "d_spawn_timer", "move_speed", "ramp_index")
        for name in names:
            setattr(self, name, torch.zeros(n, dtype=torch.int64, device=d))
        self.sub_or = torch.zeros(n, dtype=torch.bool, device=d)  # facing right
        self.surface = torch.zeros(n, dtype=torch.bool, device=d)
        self.slots = Slots(SLOTS, n, d)
        self.enemies, self.divers, self.bullets = self.slots.kinds.values()
        # the canvas's first trail and enemy bullet cells, per row of _object_cells' index
        trailing = self.slots.used - self.bullets.size
        starts = [300] * trailing + [400] * self.enemies.size
        self._trail_and_shot = torch.tensor(starts, dtype=torch.int16, device=d)[:, None]
        rows = len(starts) + self.slots.used
        self._paint_buffers = (
            torch.empty((rows, n), dtype=torch.uint8, device=d),  # cells
            torch.empty((rows, n), dtype=torch.int16, device=d),  # canvas indices
            torch.empty((rows, n), dtype=torch.bool, device=d),  # shown
        )
        self._indices = torch.empty((rows, n), dtype=torch.int64, device=d)
        self._zero, self._nine = (torch.full((n,), v, dtype=torch.uint8, device=d) for v in (0, 9))
        columns = torch.arange(10, device=d)
        # the gauges' row per oxygen level (0-10) and per diver count + 1 (0-7)
        self._oxygen_rows = (columns < torch.arange(11, device=d)[:, None]).to(torch.uint8)
        divers = torch.arange(-1, 7, device=d)[:, None]
        self._diver_rows = ((columns >= 9 - divers) & (columns < 9)).to(torch.uint8)
        self._start(self._everyone)

    @property
    def lists(self) -> dict[str, SimpleNamespace]:
        """How long each of the package's lists is, per env (``count``)."""
        sub = self.enemies.is_sub
        counts = {
            "bullets": self.bullets.count,
            "enemy_bullets": self.enemies.shot_alive.sum(dim=0),
            "fish": (self.enemies.live & ~sub).sum(dim=0),
            "subs": (self.enemies.live & sub).sum(dim=0),
            "divers": self.divers.count,
        }
        return {name: SimpleNamespace(count=count) for name, count in counts.items()}

    def _start(self, mask: torch.Tensor) -> None:
        def set_(name: str, value) -> None:
            setattr(self, name, torch.where(mask, value, getattr(self, name)))

        set_("oxygen", MAX_OXYGEN)
        set_("diver_count", 0)
        set_("sub_x", 5)
        set_("sub_y", 0)
        set_("sub_or", False)
        self.slots.clear(mask)
        set_("e_spawn_speed", INIT_SPAWN_SPEED)
        set_("e_spawn_timer", INIT_SPAWN_SPEED)
        set_("d_spawn_timer", DIVER_SPAWN_SPEED)
        set_("move_speed", INIT_MOVE_INTERVAL)
        set_("ramp_index", 0)
        set_("shot_timer", 0)
        set_("surface", True)

    # -- spawning ----------------------------------------------------------------------

    def _spawn_enemy(self, mask: torch.Tensor, speed: torch.Tensor) -> Addition:
        """Where and what enemy to add (the package's draws); ``speed``: its move interval."""
        right = _byte(self.draws.uniform(mask) < 1 / 2)
        is_sub = _byte(self.draws.uniform(mask) < 1 / 3)
        y = self.draws.integers(1, 9, mask).to(torch.uint8)
        dx = LEFT + 2 * right  # (wrapping round: 1 for right)
        enemies = self.enemies
        # not into a row where an enemy goes the other way
        clash = enemies.live & (enemies.y == y) & (enemies.dx != dx)
        enemy = {"x": 9 - 9 * right, "y": y, "dx": dx, "timer": speed}
        enemy |= {"shot": ENEMY_SHOT_INTERVAL, "order": NEW_FISH + (NEW_SUB - NEW_FISH) * is_sub}
        enemy |= {"channel": 5 + is_sub, "trail": 1, "sub": is_sub}
        return mask & ~_any(clash), enemy

    def _spawn_diver(self, mask: torch.Tensor) -> Addition:
        """Where and what diver to add (the package's draws)."""
        right = _byte(self.draws.uniform(mask) < 1 / 2)
        y = self.draws.integers(1, 9, mask)
        diver = {"x": 9 - 9 * right, "y": y, "dx": LEFT + 2 * right}
        diver |= {"timer": DIVER_MOVE_INTERVAL, "order": NEW_DIVER, "channel": 9, "trail": 1}
        return mask, diver

    # -- one frame ---------------------------------------------------------------------

    def _act(self, action: torch.Tensor) -> torch.Tensor:
        self.slots.age()
        speed = self.move_speed.to(torch.uint8)
        spawning = self.e_spawn_timer == 0
        enemy = self._spawn_enemy(spawning, speed)
        self.e_spawn_timer = torch.where(spawning, self.e_spawn_speed, self.e_spawn_timer)
        diving = self.d_spawn_timer == 0
        diver = self._spawn_diver(diving)
        self.d_spawn_timer = torch.where(diving, DIVER_SPAWN_SPEED, self.d_spawn_timer)
        bullet = self._move_player(action)
        self.slots.add({"enemies": enemy, "divers": diver, "bullets": bullet})

        sub = (10 * self.sub_y + self.sub_x).to(torch.uint8)  # the player's cell
        cells = _cell(self.enemies)
        reward = self._friendly_bullets(cells)
        self._pick_up_divers(sub)
        reward = reward + self._enemies(sub, cells, speed)
        self._enemy_bullets(sub)

        for timer in (self.e_spawn_timer, self.d_spawn_timer, self.shot_timer):
            timer.sub_(1).clamp_(min=0)  # count down to 0
        self.terminal |= self.oxygen <= 0
        under = self.sub_y > 0
        self.oxygen -= under.long()
        surfacing = ~under & ~self.surface
        self.surface &= ~under
        self.terminal |= surfacing & (self.diver_count == 0)
        return reward + self._surface(surfacing & (self.diver_count != 0))

    def _move_player(self, action: torch.Tensor) -> Addition:
        """Fire (where and what bullet to add) or move."""
        fire = (action == action_index("f")) & (self.shot_timer == 0)
        bullet = {"x": self.sub_x, "y": self.sub_y, "dx": LEFT + 2 * _byte(self.sub_or)}
        bullet["channel"] = 2
        self.shot_timer = torch.where(fire, SHOT_COOL_DOWN, self.shot_timer)
        left = action == action_index("l")  # (firing is its own action: no move with it)
        right = action == action_index("r")
        up = action == action_index("u")
        down = action == action_index("d")
        self.sub_x = (self.sub_x + right.long() - left.long()).clamp(0, 9)
        self.sub_or = (self.sub_or | right) & ~left
        self.sub_y = (self.sub_y + down.long() - up.long()).clamp(0, 8)
        return fire, bullet

    def _friendly_bullets(self, cells: torch.Tensor) -> torch.Tensor:
        """Move; off the grid, gone; on the first fish (else sub) on its cell, both go.
        ``cells``: the enemies' cells."""
        bullets, enemies = self.bullets, self.enemies
        bullets.x.add_(bullets.dx * bullets.alive)
        bullets.alive.mul_(_byte(bullets.x <= self._nine))
        targets = (cells == _cell(bullets)[:, None]) & enemies.live  # (bullets, enemies, envs)
        targets &= bullets.live[:, None]
        first = (enemies.order | _byte(~targets).neg()).amin(dim=1)  # 255: none
        hit = first != 255
        shot = targets & (enemies.order == first[:, None])
        enemies.alive.mul_(_byte(~(shot[0] | shot[1])))
        bullets.alive.mul_(_byte(~hit))
        return hit.sum(dim=0)

    def _pick_up_divers(self, sub: torch.Tensor) -> None:
        """On the sub's cell, before or after its move, a diver is picked up while seats
        are left (newest first); the others move on their timers, off the grid gone."""
        divers = self.divers
        live = divers.live
        cell = _cell(divers)
        moving = live & (divers.timer == self._zero)
        step = divers.dx * _byte(moving)
        divers.x.add_(step)
        onward = moving & (divers.x <= self._nine)
        reached = (live & (cell == sub)) | (onward & (cell + step == sub))
        # how many divers this frame meets before each one (the newer ones)
        newer = (reached & (divers.order > divers.order[:, None])).sum(dim=1)
        picked = reached & (self.diver_count + newer < 6)
        self.diver_count += picked.sum(dim=0)
        # moving: the timer restarts (from 0), else it counts down
        divers.timer.sub_(divers.alive).add_(_byte(moving) * (DIVER_MOVE_INTERVAL + 1))
        divers.alive.mul_(_byte(~(picked | (moving ^ onward))))

    def _enemies(self, sub: torch.Tensor, cells: torch.Tensor, speed: torch.Tensor) -> torch.Tensor:
        """Subs, then fish, newest first: on the sub's cell, before or after a move, the
        episode ends; moving on their timers (``speed`` frames apart), off the grid gone,
        onto a bullet both go (+1). Subs shoot on their own timers (even one gone now)."""
        enemies, bullets = self.enemies, self.bullets
        live = enemies.live.clone()
        moving = live & (enemies.timer == self._zero)
        # moving: the timer restarts (from 0), else it counts down
        enemies.timer.sub_(enemies.alive).add_(_byte(moving) * (speed + 1))
        step = enemies.dx * _byte(moving)
        enemies.x.add_(step)
        moved = cells + step
        onward = moving & (enemies.x <= self._nine)
        rammed = onward & (moved == sub)
        self.terminal |= _any((live & (cells == sub)) | rammed)
        meets = (moved == _cell(bullets)[:, None]) & (onward ^ rammed)
        meets &= bullets.live[:, None]
        first = (enemies.order * _byte(meets)).amax(dim=1)  # 0: none
        hit = first != 0
        shot = meets & (enemies.order == first[:, None])
        enemies.alive.mul_(_byte(~((moving ^ onward) | shot[0] | shot[1])))
        bullets.alive.mul_(_byte(~hit))

        shooting = _byte(live & enemies.is_sub)
        fires = enemies.shot == self._zero
        fires &= enemies.is_sub & live
        enemies.shot.sub_(shooting).add_(_byte(fires) * (ENEMY_SHOT_INTERVAL + 1))
        # a bullet fired just off the grid leaves it at once: none
        fired = fires & (enemies.x <= self._nine)
        enemies.shot_x.add_((enemies.x - enemies.shot_x) * _byte(fired))
        enemies.shot_alive.bitwise_or_(_byte(fired))
        return hit.sum(dim=0)

    def _enemy_bullets(self, sub: torch.Tensor) -> None:
        """An enemy bullet on the sub's cell, before or after its move, ends the episode;
        off the grid it is gone."""
        enemies = self.enemies
        live = enemies.shot_live
        cell = 10 * enemies.y + enemies.shot_x
        before = live & (cell == sub)
        step = enemies.dx * enemies.shot_alive
        enemies.shot_x.add_(step)
        enemies.shot_alive.mul_(_byte(enemies.shot_x <= self._nine))
        self.terminal |= _any(before | (live & (cell + step == sub)))

    def _surface(self, mask: torch.Tensor) -> torch.Tensor:
        """Refill the oxygen where ``mask``; 6 divers pay oxygen // 20; the ramp steps up."""
        full = mask & (self.diver_count == 6)
        reward = torch.where(full, self.oxygen * 10 // MAX_OXYGEN, 0)
        self.diver_count = torch.where(full, 0, self.diver_count)
        self.surface |= mask
        self.oxygen = torch.where(mask, MAX_OXYGEN, self.oxygen)
        self.diver_count -= mask.long()  # as in the package: after 6, it goes to -1
        if self.difficulty_ramping:
            ramp = mask & ((self.e_spawn_speed > 1) | (self.move_speed > 2))
            slower = ramp & (self.move_speed > 2) & (self.ramp_index % 2 == 1)
            self.move_speed -= slower.long()
            self.e_spawn_speed -= (ramp & (self.e_spawn_speed > 1)).long()
            self.ramp_index += ramp.long()
        return reward

    # -- observation -------------------------------------------------------------------

    def _paint(self) -> None:
        front = 10 * self.sub_y + self.sub_x  # channel 0
        back = front + 100 - (2 * self.sub_or.long() - 1)  # channel 1, behind the front
        self.mark(torch.stack((front, back), dim=1))
        self.mark(self._object_cells().t())
        oxygen = self.oxygen.clamp(min=0) * 10 // MAX_OXYGEN
        self.fill_cells(790, self._oxygen_rows.index_select(0, oxygen))  # channel 7, row 9
        seats = (self.diver_count + 1).clamp(min=0)  # (below -1, as at -1, none are shown)
        self.fill_cells(890, self._diver_rows.index_select(0, seats))  # channel 8, row 9

    def _object_cells(self) -> torch.Tensor:
        """The cells of every object, of the trails (channel 3) behind the enemies and divers
        and of the enemy subs' bullets (channel 4), as canvas indices (one row per slot and
        kind of cell; the spare cell where there is none). Written into buffers made once:
        allocating tensors this size each step costs more than filling them."""
        field, objects = self.slots.field, self.slots.used
        trailing = objects - self.bullets.size  # the slots of enemies and divers come first
        x, dx, y = field("x", objects), field("dx", trailing), field("y", objects)
        alive = field("alive", objects).view(torch.bool)
        cell = 10 * y + x
        behind = x[:trailing] - dx
        trail = alive[:trailing] & (behind <= self._nine)
        enemies = self.enemies
        shot = 10 * enemies.y + enemies.shot_x
        cells, index, shown = self._paint_buffers
        torch.cat((cell, 10 * y[:trailing] + behind, shot), out=cells)
        index.copy_(cells)
        index[:objects] += field("channel", objects).to(torch.int16) * 100
        index[objects:] += self._trail_and_shot
        torch.cat((alive, trail, enemies.shot_live), out=shown)
        # the spare cell where not shown
        index.sub_(self._spare).mul_(_byte(shown)).add_(self._spare)
        return self._indices.copy_(index)


def _cell(kind: Kind) -> torch.Tensor:
    """The cell (10 y + x) of every slot of ``kind``, uint8 (off the grid: another cell)."""
    return 10 * kind.y + kind.x


def _byte(mask: torch.Tensor) -> torch.Tensor:
    """A bool tensor as uint8 0 and 1, without a copy."""
    return mask.view(torch.uint8)


def _any(mask: torch.Tensor) -> torch.Tensor:
    """Whether any slot is True, per env: a max over the slots' dimension (0)."""
    return _byte(mask).amax(dim=0).view(torch.bool)

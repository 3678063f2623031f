"""MinAtar Seaquest, batched in torch: a submarine, enemy fish and subs, divers and oxygen.

The player's two-cell submarine moves in four directions and fires sideways (once every 5
frames). Fish and enemy subs (which fire too) cross the rows 1-8; +1 per one shot. Divers
cross the rows as well; touching one picks it up (up to 6). Oxygen (200) runs down under
water; surfacing with divers refills it and costs one diver, surfacing with 6 trades them
all for oxygen/20 points, surfacing with none ends the episode, as do running out of oxygen
and touching an enemy or its bullet. With difficulty ramping, each surfacing makes spawns
(from every 20 frames) and moves (every 5) faster.

The package keeps its objects in Python lists, processed newest first, each kind against the
lists of the others in their order. Here each list is a padded array in the same order
(index 0 the oldest), compacted after each phase; the interactions that depend on the order
(a bullet hitting the first fish on its cell, an enemy meeting the first bullet, divers
filling the last free seat) run one list position at a time, for every env at once.
"""

from __future__ import annotations

import torch

from coordrl.envs.minatar.base import MinAtarEnv, action_index

MAX_OXYGEN = 200
INIT_SPAWN_SPEED = 20
DIVER_SPAWN_SPEED = 30
INIT_MOVE_INTERVAL = 5
SHOT_COOL_DOWN = 5
ENEMY_SHOT_INTERVAL = 10
DIVER_MOVE_INTERVAL = 5

# list capacities: far above what the rules allow to be alive at once (see the module text)
CAPACITY = {"bullets": 4, "enemy_bullets": 48, "fish": 40, "subs": 40, "divers": 8}
FIELDS = {
    "bullets": ("x", "y", "right"),
    "enemy_bullets": ("x", "y", "right"),
    "fish": ("x", "y", "right", "timer"),
    "subs": ("x", "y", "right", "timer", "shot"),
    "divers": ("x", "y", "right", "timer"),
}


class Objects:
    """One of the package's lists for every env: (num_envs, capacity) fields in list order."""

    def __init__(self, fields: tuple[str, ...], num_envs: int, capacity: int, device) -> None:
        self.names = fields
        self.capacity = capacity
        self.f = {
            name: torch.zeros((num_envs, capacity), dtype=torch.int64, device=device)
            for name in fields
        }
        self.count = torch.zeros(num_envs, dtype=torch.int64, device=device)
        self.dead = torch.zeros((num_envs, capacity), dtype=torch.bool, device=device)
        self._index = torch.arange(capacity, device=device)

    @property
    def alive(self) -> torch.Tensor:
        return (self._index < self.count[:, None]) & ~self.dead

    def clear(self, mask: torch.Tensor) -> None:
        self.count = torch.where(mask, 0, self.count)
        self.dead &= ~mask[:, None]

    def append(self, mask: torch.Tensor, **values: torch.Tensor) -> None:
        """Append one object where ``mask`` (dropped where the list is full)."""
        room = mask & (self.count < self.capacity)
        at = (self._index == self.count[:, None]) & room[:, None]
        for name, value in values.items():
            self.f[name] = torch.where(at, value.long()[:, None], self.f[name])
        self.dead &= ~at
        self.count += room.long()

    def compact(self) -> None:
        """Drop the dead, keeping the others' order, as list.remove does."""
        alive = self.alive
        key = torch.where(alive, self._index, self.capacity + self._index)
        order = key.argsort(dim=1, stable=True)
        for name in self.names:
            self.f[name] = self.f[name].gather(1, order)
        self.count = alive.sum(dim=1)
        self.dead = torch.zeros_like(self.dead)

    def first_at(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Whether a live object sits at (x, y), each (num_envs,), and the first one's index."""
        here = self.alive & (self.f["x"] == x[:, None]) & (self.f["y"] == y[:, None])
        return here.any(dim=1), here.long().argmax(dim=1)

    def kill(self, mask: torch.Tensor, index: torch.Tensor) -> None:
        self.dead |= (self._index == index[:, None]) & mask[:, None]

    def get(self, name: str, i: int) -> torch.Tensor:
        return self.f[name][:, i]

    def put(self, name: str, i: int, value: torch.Tensor) -> None:
        self.f[name][:, i] = value


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
        self.lists = {
            kind: Objects(FIELDS[kind], n, CAPACITY[kind], d) for kind in FIELDS
        }  # fmt: skip
        self._start(self._everyone)

    def _start(self, mask: torch.Tensor) -> None:
        def set_(name: str, value) -> None:
            setattr(self, name, torch.where(mask, value, getattr(self, name)))

        set_("oxygen", MAX_OXYGEN)
        set_("diver_count", 0)
        set_("sub_x", 5)
        set_("sub_y", 0)
        set_("sub_or", False)
        for objects in self.lists.values():
            objects.clear(mask)
        set_("e_spawn_speed", INIT_SPAWN_SPEED)
        set_("e_spawn_timer", INIT_SPAWN_SPEED)
        set_("d_spawn_timer", DIVER_SPAWN_SPEED)
        set_("move_speed", INIT_MOVE_INTERVAL)
        set_("ramp_index", 0)
        set_("shot_timer", 0)
        set_("surface", True)

    # -- spawning ----------------------------------------------------------------------

    def _spawn_enemy(self, mask: torch.Tensor) -> None:
        right = self.draws.uniform(mask) < 1 / 2
        is_sub = self.draws.uniform(mask) < 1 / 3
        y = self.draws.integers(1, 9, mask)
        x = torch.where(right, 0, 9)
        clash = torch.zeros_like(mask)
        for kind in ("subs", "fish"):  # an enemy in that row going the other way
            objects = self.lists[kind]
            other = objects.alive & (objects.f["y"] == y[:, None])
            clash |= (other & (objects.f["right"].bool() != right[:, None])).any(dim=1)
        spawn = mask & ~clash
        timer = self.move_speed
        self.lists["subs"].append(
            spawn & is_sub,
            x=x,
            y=y,
            right=right,
            timer=timer,
            shot=torch.full_like(timer, ENEMY_SHOT_INTERVAL),
        )
        self.lists["fish"].append(spawn & ~is_sub, x=x, y=y, right=right, timer=timer)

    def _spawn_diver(self, mask: torch.Tensor) -> None:
        right = self.draws.uniform(mask) < 1 / 2
        y = self.draws.integers(1, 9, mask)
        timer = torch.full_like(y, DIVER_MOVE_INTERVAL)
        self.lists["divers"].append(mask, x=torch.where(right, 0, 9), y=y, right=right, timer=timer)

    # -- one frame ---------------------------------------------------------------------

    def _at_sub(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return (x == self.sub_x) & (y == self.sub_y)

    def _act(self, action: torch.Tensor) -> torch.Tensor:
        reward = torch.zeros(self.num_envs, dtype=torch.int64, device=self.device)
        spawning = self.e_spawn_timer == 0
        self._spawn_enemy(spawning)
        self.e_spawn_timer = torch.where(spawning, self.e_spawn_speed, self.e_spawn_timer)
        diving = self.d_spawn_timer == 0
        self._spawn_diver(diving)
        self.d_spawn_timer = torch.where(diving, DIVER_SPAWN_SPEED, self.d_spawn_timer)

        self._move_player(action)
        reward += self._friendly_bullets()
        self._divers()
        reward += self._enemies("subs")
        self._enemy_bullets()
        reward += self._enemies("fish")

        self.e_spawn_timer -= (self.e_spawn_timer > 0).long()
        self.d_spawn_timer -= (self.d_spawn_timer > 0).long()
        self.shot_timer -= (self.shot_timer > 0).long()
        self.terminal |= self.oxygen <= 0
        under = self.sub_y > 0
        self.oxygen -= under.long()
        surfacing = ~under & ~self.surface
        self.surface &= ~under
        self.terminal |= surfacing & (self.diver_count == 0)
        reward += self._surface(surfacing & (self.diver_count != 0))
        return reward

    def _move_player(self, action: torch.Tensor) -> None:
        fire = (action == action_index("f")) & (self.shot_timer == 0)
        self.lists["bullets"].append(fire, x=self.sub_x, y=self.sub_y, right=self.sub_or)
        self.shot_timer = torch.where(fire, SHOT_COOL_DOWN, self.shot_timer)
        left = ~fire & (action == action_index("l"))
        right = ~fire & (action == action_index("r"))
        up = ~fire & (action == action_index("u"))
        down = ~fire & (action == action_index("d"))
        self.sub_x = torch.where(left, (self.sub_x - 1).clamp(min=0), self.sub_x)
        self.sub_x = torch.where(right, (self.sub_x + 1).clamp(max=9), self.sub_x)
        self.sub_or = torch.where(left, False, torch.where(right, True, self.sub_or))
        self.sub_y = torch.where(up, (self.sub_y - 1).clamp(min=0), self.sub_y)
        self.sub_y = torch.where(down, (self.sub_y + 1).clamp(max=8), self.sub_y)

    def _friendly_bullets(self) -> torch.Tensor:
        """Newest first: move; off the grid, gone; on the first fish (else sub) there, both go."""
        bullets, fish, subs = self.lists["bullets"], self.lists["fish"], self.lists["subs"]
        reward = torch.zeros_like(self.sub_x)
        for i in reversed(range(self._longest(bullets))):
            live = bullets.alive[:, i]
            step = torch.where(bullets.get("right", i).bool(), 1, -1)
            x = torch.where(live, bullets.get("x", i) + step, bullets.get("x", i))
            bullets.put("x", i, x)
            y = bullets.get("y", i)
            off = live & ((x < 0) | (x > 9))
            bullets.kill(off, torch.full_like(x, i))
            live &= ~off
            for targets in (fish, subs):
                hit, first = targets.first_at(x, y)
                hit &= live
                targets.kill(hit, first)
                bullets.kill(hit, torch.full_like(x, i))
                reward += hit.long()
                live &= ~hit
        for objects in (bullets, fish, subs):
            objects.compact()
        return reward

    def _divers(self) -> None:
        """Newest first: picked up where the sub is (up to 6), else moving on its timer."""
        divers = self.lists["divers"]
        for i in reversed(range(self._longest(divers))):
            live = divers.alive[:, i]
            x, y, timer = divers.get("x", i), divers.get("y", i), divers.get("timer", i)
            index = torch.full_like(x, i)
            picked = live & self._at_sub(x, y) & (self.diver_count < 6)
            divers.kill(picked, index)
            self.diver_count += picked.long()
            live &= ~picked
            moving = live & (timer == 0)
            divers.put("timer", i, torch.where(moving, DIVER_MOVE_INTERVAL, timer - live.long()))
            step = torch.where(divers.get("right", i).bool(), 1, -1)
            x = torch.where(moving, x + step, x)
            divers.put("x", i, x)
            off = moving & ((x < 0) | (x > 9))
            divers.kill(off, index)
            caught = moving & ~off & self._at_sub(x, y) & (self.diver_count < 6)
            divers.kill(caught, index)
            self.diver_count += caught.long()
        divers.compact()

    def _enemies(self, kind: str) -> torch.Tensor:
        """Newest first: touching the sub ends the episode; moving on its timer, off the grid
        it goes, onto the sub it ends the episode, onto a bullet both go (+1). Subs shoot."""
        enemies, bullets = self.lists[kind], self.lists["bullets"]
        reward = torch.zeros_like(self.sub_x)
        for i in reversed(range(self._longest(enemies))):
            live = enemies.alive[:, i]
            x, y, timer = enemies.get("x", i), enemies.get("y", i), enemies.get("timer", i)
            index = torch.full_like(x, i)
            self.terminal |= live & self._at_sub(x, y)
            moving = live & (timer == 0)
            enemies.put(
                "timer", i, torch.where(moving, self.move_speed, timer - (live & ~moving).long())
            )
            step = torch.where(enemies.get("right", i).bool(), 1, -1)
            x = torch.where(moving, x + step, x)
            enemies.put("x", i, x)
            off = moving & ((x < 0) | (x > 9))
            enemies.kill(off, index)
            rammed = moving & ~off & self._at_sub(x, y)
            self.terminal |= rammed
            hit, first = bullets.first_at(x, y)
            hit &= moving & ~off & ~rammed
            enemies.kill(hit, index)
            bullets.kill(hit, first)
            reward += hit.long()
            if kind == "subs":  # even a sub shot or gone this frame fires when due
                shot = enemies.get("shot", i)
                fires = live & (shot == 0)
                enemies.put(
                    "shot",
                    i,
                    torch.where(fires, ENEMY_SHOT_INTERVAL, shot - (live & ~fires).long()),
                )
                self.lists["enemy_bullets"].append(fires, x=x, y=y, right=enemies.get("right", i))
        enemies.compact()
        bullets.compact()
        return reward

    def _enemy_bullets(self) -> None:
        """Every enemy bullet: on the sub ends the episode; moves; off the grid, gone."""
        shots = self.lists["enemy_bullets"]
        live = shots.alive
        sub_x, sub_y = self.sub_x[:, None], self.sub_y[:, None]
        on_sub = live & (shots.f["x"] == sub_x) & (shots.f["y"] == sub_y)
        self.terminal |= on_sub.any(dim=1)
        shots.f["x"] = torch.where(
            live, shots.f["x"] + torch.where(shots.f["right"].bool(), 1, -1), shots.f["x"]
        )
        off = live & ((shots.f["x"] < 0) | (shots.f["x"] > 9))
        shots.dead |= off
        moved_on = live & ~off & (shots.f["x"] == sub_x) & (shots.f["y"] == sub_y)
        self.terminal |= moved_on.any(dim=1)
        shots.compact()

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

    def _longest(self, objects: Objects) -> int:
        """The longest list over the envs: how many positions to walk (one host sync)."""
        return int(objects.count.max())

    # -- observation -------------------------------------------------------------------

    def _paint(self) -> None:
        self.paint(0, self.sub_y, self.sub_x)
        self.paint(1, self.sub_y, self.sub_x - torch.where(self.sub_or, 1, -1))
        columns = torch.arange(10, device=self.device).expand(self.num_envs, 10)
        nine = torch.full_like(columns, 9)
        oxygen = self.oxygen.clamp(min=0) * 10 // MAX_OXYGEN
        self.paint(7, nine, columns, columns < oxygen[:, None])
        divers = (columns >= 9 - self.diver_count[:, None]) & (columns < 9)
        self.paint(8, nine, columns, divers)
        for channel, kind in ((2, "bullets"), (4, "enemy_bullets")):
            objects = self.lists[kind]
            self.paint(channel, objects.f["y"], objects.f["x"], objects.alive)
        for channel, kind in ((5, "fish"), (6, "subs"), (9, "divers")):
            objects = self.lists[kind]
            x, y, alive = objects.f["x"], objects.f["y"], objects.alive
            self.paint(channel, y, x, alive)
            behind = x - torch.where(objects.f["right"].bool(), 1, -1)
            self.paint(3, y, behind, alive & (behind >= 0) & (behind <= 9))

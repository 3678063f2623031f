"""What the five MinAtar games share: sticky actions, action sets, 10x10 observations.

Each game is a batched torch port of the ``minatar`` package (1.0.15, Young & Tian 2019)
that keeps its rules, timers and the order of its random draws. As in the package, the
sticky action (probability 0.1 by default) repeats the previous *executed* action, and that
action survives a reset; episodes end only by the game's own terminal (Freeway's 2,500-frame
limit included), never by truncation.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from gymnasium import spaces

from coordrl.envs.minatar.draws import TorchDraws
from coordrl.envs.torch_vector import TorchVectorEnv

ACTIONS = "nlurdf"  # the package's full action set: no-op, left, up, right, down, fire
SIZE = 10  # every game is played on a 10 x 10 grid
# marks this many times fewer than the canvas's cells are cleared one by one (a scatter of one
# cell per env costs about as much as zeroing 50 columns, measured on this project's CPU)
FEW_MARKS = 50


def action_index(name: str) -> int:
    """The package's index of the action named by one of ``ACTIONS``' letters."""
    return ACTIONS.index(name)


class MinAtarEnv(TorchVectorEnv):
    """A batch of one MinAtar game. Subclasses define ``channels``, ``minimal_actions``,
    ``_start`` (new episodes), ``_act`` (one frame) and ``_paint`` (the observation).

    A step is a fixed sequence of tensor ops: no host syncs, no Python branching on tensor
    values, and the observation painted into a canvas allocated once.
    """

    game: ClassVar[str]
    channels: ClassVar[tuple[str, ...]]
    minimal_actions: ClassVar[str]  # letters of ACTIONS, in the package's order

    def __init__(
        self,
        num_envs: int,
        *,
        device: str | torch.device = "cpu",
        sticky_action_prob: float = 0.1,
        difficulty_ramping: bool = True,
        minimal_action_set: bool = True,
        final_obs: bool = False,
    ) -> None:
        if (
            isinstance(sticky_action_prob, bool)
            or not isinstance(sticky_action_prob, int | float)
            or not 0.0 <= sticky_action_prob <= 1.0
        ):
            raise ValueError(
                f"sticky_action_prob must be a probability in [0, 1], got {sticky_action_prob!r}"
            )
        letters = self.minimal_actions if minimal_action_set else ACTIONS
        self.single_observation_space = spaces.Box(
            0, 1, (len(self.channels), SIZE, SIZE), dtype="uint8"
        )
        self.single_action_space = spaces.Discrete(len(letters))
        super().__init__(num_envs, device=device, final_obs=final_obs)
        self.sticky_action_prob = float(sticky_action_prob)
        self.difficulty_ramping = difficulty_ramping
        self.minimal_action_set = minimal_action_set
        self.action_set = torch.tensor([action_index(a) for a in letters], device=self.device)
        self.draws = TorchDraws(self.generator, num_envs, self.device)
        self.last_action = torch.zeros(num_envs, dtype=torch.int64, device=self.device)
        self.terminal = torch.zeros(num_envs, dtype=torch.bool, device=self.device)
        self._spare = len(self.channels) * SIZE * SIZE  # where masked-out cells are painted
        # the observation is painted here in place (the last column is the spare cell)
        self._canvas = torch.zeros(
            (num_envs, self._spare + 1), dtype=torch.uint8, device=self.device
        )
        self._marks: list[torch.Tensor] = []  # what this observation's paint marks
        self._marked: list[torch.Tensor] = []  # what the last observation marked
        self._cell_values = torch.tensor([0, 1], dtype=torch.uint8, device=self.device)

    # -- what a game defines -----------------------------------------------------------

    def _start(self, mask: torch.Tensor) -> None:
        """New episodes where ``mask`` is True, drawing as the package's ``reset`` does."""
        raise NotImplementedError

    def _act(self, action: torch.Tensor) -> torch.Tensor:
        """One frame with ``action`` (the package's indices); the reward. Sets ``terminal``."""
        raise NotImplementedError

    def _paint(self) -> None:
        """Set the game's objects into the observation with :meth:`mark` (single cells) and
        :meth:`fill_cells` (runs of cells). The canvas's cell ``100 c + 10 y + x`` is (y, x)
        of channel c."""
        raise NotImplementedError

    # -- shared ------------------------------------------------------------------------

    def mark(self, index: torch.Tensor) -> None:
        """Set the canvas cells ``index`` (int64, num_envs first, any strides; ``_spare`` for
        none). The marks of one observation are scattered once its ``_paint`` is done."""
        self._marks.append(index.reshape(self.num_envs, -1))

    def fill_cells(self, start: int, values: torch.Tensor) -> None:
        """Set the canvas cells from ``start`` on to ``values`` (num_envs, K) of 0 and 1."""
        self._canvas[:, start : start + values.shape[1]] = values

    def _observe(self) -> torch.Tensor:
        """Paint the preallocated canvas and return a copy: callers may keep observations."""
        self._clear()
        self._marks = []
        self._paint()
        for index in self._marks:
            self._set(index, 1)
        self._marked = self._marks
        obs = self._canvas[:, : self._spare].view(self.num_envs, -1, SIZE, SIZE)
        return obs.clone(memory_format=torch.contiguous_format)

    def _clear(self) -> None:
        """Undo the last observation: reset just the cells it marked when they are few (a
        scatter of them is then cheaper than writing the whole canvas), else zero it all."""
        marks = sum(index.shape[1] for index in self._marked)
        if self._marked and marks * FEW_MARKS <= self._canvas.shape[1]:
            for index in self._marked:
                self._set(index, 0)
        else:
            self._canvas.zero_()

    def _set(self, index: torch.Tensor, bit: int) -> None:
        """Write ``bit`` to the canvas cells ``index`` (num_envs, K)."""
        self._canvas.scatter_(1, index, self._cell_values[bit : bit + 1].expand(index.shape))

    def _reset_envs(self, mask: torch.Tensor, options: dict[str, Any] | None) -> None:
        self._start(mask)
        self.terminal &= ~mask

    def _transition(
        self, actions: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, None]:
        chosen = self.action_set.index_select(0, actions.long())
        sticky = self.draws.uniform(self._everyone) < self.sticky_action_prob
        self.last_action = torch.where(sticky, self.last_action, chosen)
        reward = self._act(self.last_action)
        terminated = self.terminal.clone()
        return reward.float(), terminated, torch.zeros_like(terminated), None

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(num_envs={self.num_envs}, device={self.device}, "
            f"sticky_action_prob={self.sticky_action_prob}, "
            f"difficulty_ramping={self.difficulty_ramping}, "
            f"minimal_action_set={self.minimal_action_set})"
        )

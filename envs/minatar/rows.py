"""Rows of the 10 x 10 grid as 10-bit integers (bit x: column x), batched in torch.

Space Invaders keeps its aliens as (num_envs, 10) rows: moving them all sideways is a shift,
down a slice, a cell lookup a shift and a mask, all on small tensors instead of (num_envs,
10, 10) grids.
"""

from __future__ import annotations

import torch

COLUMNS = 10
FULL_ROW = (1 << COLUMNS) - 1


class RowBits:
    """Lookup tables on one device: each row value's cells and its number of set bits."""

    def __init__(self, device: torch.device) -> None:
        values = torch.arange(1 << COLUMNS, device=device)
        columns = torch.arange(COLUMNS, device=device)
        self.cells = ((values[:, None] >> columns) & 1).to(torch.uint8)  # (1024, 10)
        self.counts = self.cells.sum(dim=1)
        self.weights = 2.0 ** columns.float()  # float32 sums of these are exact

    def unpack(self, rows: torch.Tensor) -> torch.Tensor:
        """(num_envs, R) rows as (num_envs, R * 10) cells of 0 and 1 (uint8), row by row."""
        return self.cells.index_select(0, rows.reshape(-1)).view(rows.shape[0], -1)

    def count(self, rows: torch.Tensor) -> torch.Tensor:
        """The number of set cells in each env's (num_envs, R) rows."""
        return self.counts.index_select(0, rows.reshape(-1)).view(rows.shape).sum(dim=1)

    def pack(self, grid: torch.Tensor) -> torch.Tensor:
        """A (num_envs, R, 10) bool grid as (num_envs, R) rows (int64)."""
        return (grid.float() @ self.weights).long()

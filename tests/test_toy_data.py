"""Not-so-Clevr: positions, splits, targets and the official HDF5 layout."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
import torch

from coordrl import coord_grid
from coordrl.not_so_clevr import sweep_positions
from coordrl.toy.data import (
    H5_FIELDS,
    from_unit,
    make_dataset,
    read_h5,
    render_onehots,
    render_squares,
    to_unit,
    write_h5,
)


def as_set(positions: torch.Tensor) -> set[tuple[int, int]]:
    return {tuple(p) for p in positions.tolist()}


def test_sweep_covers_every_centre_once_in_official_order():
    positions = sweep_positions()
    assert positions.shape == (3136, 2)
    assert as_set(positions) == {(x, y) for x in range(4, 60) for y in range(4, 60)}
    assert positions[:2].tolist() == [[4, 4], [4, 5]]  # x is the outer loop, as officially


@pytest.mark.parametrize("split,n_train,n_test", [("uniform", 2368, 768), ("quadrant", 2407, 729)])
def test_split_sizes_match_the_official_files_and_are_disjoint(split, n_train, n_test):
    data = make_dataset(split)
    assert (len(data.train_positions), len(data.test_positions)) == (n_train, n_test)
    train, test = as_set(data.train_positions), as_set(data.test_positions)
    assert not train & test
    assert train | test == as_set(sweep_positions())


def test_quadrant_test_set_is_exactly_the_bottom_right_quadrant():
    data = make_dataset("quadrant")
    x, y = data.test_positions.T
    assert bool(((x > 32) & (y > 32)).all())
    x, y = data.train_positions.T
    assert not bool(((x > 32) & (y > 32)).any())


def test_uniform_split_is_deterministic_per_seed_and_about_a_quarter():
    a, b, c = make_dataset("uniform", 1), make_dataset("uniform", 1), make_dataset("uniform", 2)
    assert torch.equal(a.test_positions, b.test_positions)
    assert as_set(a.test_positions) != as_set(c.test_positions)
    assert 0.22 < len(c.test_positions) / 3136 < 0.28


def test_onehot_marks_the_centre_pixel_at_row_y_column_x():
    positions = torch.tensor([[4, 50], [59, 7]])
    onehots = render_onehots(positions)
    assert onehots.shape == (2, 1, 64, 64) and onehots.sum().item() == 2
    assert onehots[0, 0, 50, 4] == 1 and onehots[1, 0, 7, 59] == 1


def test_squares_are_9x9_and_centred():
    masks = render_squares(torch.tensor([[4, 4], [30, 41]]))
    assert masks.shape == (2, 1, 64, 64) and masks.dtype == torch.bool
    assert masks.sum((1, 2, 3)).tolist() == [81, 81]
    rows, cols = masks[1, 0].nonzero().T
    assert (rows.min().item(), rows.max().item()) == (37, 45)  # y = 41 +- 4
    assert (cols.min().item(), cols.max().item()) == (26, 34)  # x = 30 +- 4


def test_unit_coordinates_equal_the_coordconv_channels_at_the_centre():
    """A CoordConv model can read the answer off its own coordinate channels."""
    positions = sweep_positions()
    grid = coord_grid(64, 64)[0]  # (i, j) = (row, column)
    i_at_centre = grid[0, positions[:, 1], positions[:, 0]]
    j_at_centre = grid[1, positions[:, 1], positions[:, 0]]
    unit = to_unit(positions)
    torch.testing.assert_close(unit[:, 0], j_at_centre)  # x is the column
    torch.testing.assert_close(unit[:, 1], i_at_centre)  # y is the row
    torch.testing.assert_close(from_unit(unit), positions.float())


@pytest.mark.parametrize("split", ["uniform", "quadrant"])
def test_hdf5_round_trip_in_the_official_layout(split, tmp_path):
    data = make_dataset(split)
    path = write_h5(data, tmp_path / f"rectangle_4_{split}.h5")
    with h5py.File(path) as f:
        assert set(f) == {f"{p}_{k}" for p in ("train", "val") for k in H5_FIELDS}
        assert f["train_image"].shape == (len(data.train_positions), 64, 64, 3)
        assert set(np.unique(f["val_imagegray"][:])) == {0, 128}  # the official grey square
        np.testing.assert_allclose(f["val_normalized_locations"][:], data.test_positions / 64)
    back = read_h5(path)
    assert back.split == split
    assert torch.equal(back.train_positions, data.train_positions)
    assert torch.equal(back.test_positions, data.test_positions)
    assert not list(tmp_path.glob("*.tmp"))  # written atomically


@pytest.mark.parametrize("split", ["uniform", "quadrant"])
def test_a_files_split_is_read_off_its_positions_and_a_contradiction_refused(split, tmp_path):
    other = {"uniform": "quadrant", "quadrant": "uniform"}[split]
    path = write_h5(make_dataset(split), tmp_path / f"rectangle_4_{other}.h5")  # a lying name
    assert read_h5(path).split == split
    assert read_h5(path, split=split).split == split
    with pytest.raises(ValueError, match=f"the {split} split, not {other}"):
        read_h5(path, split=other)


def test_reading_a_foreign_or_broken_file_is_refused(tmp_path):
    path = tmp_path / "other.h5"
    with h5py.File(path, "w") as f:
        f["train_images"] = np.zeros((2, 4))
    with pytest.raises(ValueError, match="no 'train_locations'"):
        read_h5(path)
    write_h5(make_dataset("quadrant"), path)
    with h5py.File(path, "r+") as f:
        f["val_imagegray"][0] = 0  # the image no longer shows a square at the location
    with pytest.raises(ValueError, match="does not show squares"):
        read_h5(path)

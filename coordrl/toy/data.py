"""Not-so-Clevr: the paper's coordinate-transform data, its images and the official HDF5 layout.

The geometry (canvas, square, centres, splits) is :mod:`coordrl.not_so_clevr`'s; here the
official generator (``data/not_so_clevr_generator.py`` of uber-research/CoordConv) is
reproduced on it exactly: the grey squares, the one-hot centre pixel at ``[y, x]``, each
part's example order and the HDF5 files.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import torch

from coordrl.not_so_clevr import (
    CANVAS,
    HALF_SIZE,
    OFFICIAL_SPLIT_SEED,
    Split,
    sweep_positions,
    test_mask,
)
from coordrl.runs import atomic_path

GREY = 128
OFFICIAL_SHUFFLE_SEED = 10101  # MAGIC_SEED_OF_GREATNESS: order of examples in the files
H5_FIELDS = ("image", "imagegray", "onehots", "locations", "normalized_locations")


def render_squares(positions: torch.Tensor) -> torch.Tensor:
    """Binary masks (N, 1, 64, 64) bool of the 9x9 squares centred at ``positions`` (x, y)."""
    pixels = torch.arange(CANVAS, device=positions.device)
    rows = (pixels[None, :] - positions[:, 1:2]).abs() <= HALF_SIZE  # (N, 64) over y
    cols = (pixels[None, :] - positions[:, 0:1]).abs() <= HALF_SIZE  # (N, 64) over x
    return (rows[:, :, None] & cols[:, None, :]).unsqueeze(1)


def onehot_index(positions: torch.Tensor) -> torch.Tensor:
    """Flat index ``y * 64 + x`` of each centre pixel: the classification target."""
    return positions[:, 1] * CANVAS + positions[:, 0]


def render_onehots(positions: torch.Tensor) -> torch.Tensor:
    """One-hot centre images (N, 1, 64, 64) float32, 1 at ``[y, x]``."""
    out = torch.zeros(len(positions), CANVAS * CANVAS, device=positions.device)
    out[torch.arange(len(positions)), onehot_index(positions)] = 1.0
    return out.view(-1, 1, CANVAS, CANVAS)


def to_unit(positions: torch.Tensor) -> torch.Tensor:
    """Pixel positions scaled like the CoordConv channels: ``2 * p / 63 - 1``, float32."""
    return positions.float() * (2.0 / (CANVAS - 1)) - 1.0


def from_unit(coords: torch.Tensor) -> torch.Tensor:
    """Inverse of ``to_unit``: continuous pixel positions."""
    return (coords + 1.0) * ((CANVAS - 1) / 2.0)


@dataclass(frozen=True)
class ToyDataset:
    """The train and test centres of one split; images and targets are rendered on demand."""

    split: str
    train_positions: torch.Tensor  # (N_train, 2) int64, (x, y)
    test_positions: torch.Tensor  # (N_test, 2) int64, (x, y)

    def positions(self, part: Literal["train", "test"]) -> torch.Tensor:
        if part not in ("train", "test"):
            raise ValueError(f"part must be 'train' or 'test', got {part!r}")
        return self.train_positions if part == "train" else self.test_positions


def make_dataset(split: Split, seed: int = OFFICIAL_SPLIT_SEED) -> ToyDataset:
    """Not-so-Clevr with the given split, in the official files' example order.

    The seed changes only the uniform split; the official seed reproduces the official
    files. Each part is ordered as in those files (a permutation seeded 10101).
    """
    positions = sweep_positions()
    held_out = test_mask(split, positions, seed)
    parts = []
    for chosen in (positions[~held_out], positions[held_out]):
        order = np.random.RandomState(OFFICIAL_SHUFFLE_SEED).permutation(len(chosen))
        parts.append(chosen[torch.from_numpy(order)])
    return ToyDataset(split, train_positions=parts[0], test_positions=parts[1])


def _h5_fields(positions: torch.Tensor) -> dict[str, np.ndarray]:
    """The official HDF5 fields for ``positions``; images as uint8 (the official reader casts)."""
    masks = render_squares(positions)[:, 0, :, :, None].numpy()  # (N, 64, 64, 1)
    gray = masks.astype(np.uint8) * GREY
    return {
        "image": np.repeat(gray, 3, axis=-1),
        "imagegray": gray,
        "onehots": render_onehots(positions)[:, 0, :, :, None].numpy().astype(np.uint8),
        "locations": positions.numpy().astype(np.int64),
        "normalized_locations": positions.numpy() / float(CANVAS),
    }


def write_h5(dataset: ToyDataset, path: str | Path) -> Path:
    """Write ``dataset`` in the official layout: ``{train,val}_{image,imagegray,onehots,...}``.

    Written to a temporary file and renamed, so an interrupted write leaves no partial file.
    """
    import h5py

    path = Path(path)
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
        for part, prefix in (("train", "train"), ("test", "val")):
            for field, values in _h5_fields(dataset.positions(part)).items():
                f.create_dataset(f"{prefix}_{field}", data=values, compression="gzip")
        f.attrs["split"] = dataset.split
    return path


def read_h5(path: str | Path, split: str | None = None) -> ToyDataset:
    """Read a Not-so-Clevr HDF5 file in the official layout (ours or the official code's).

    Only ``{train,val}_locations`` are needed; when ``*_imagegray`` is present it must
    match the squares those locations describe, so a foreign file is refused, not misread.
    The split is read off the positions (:func:`split_of`); a ``split`` that contradicts
    them is a ``ValueError``, so results are never recorded under the wrong split.
    """
    import h5py

    parts = {}
    with h5py.File(path, "r") as f:
        for prefix in ("train", "val"):
            key = f"{prefix}_locations"
            if key not in f:
                raise ValueError(f"{path}: no '{key}' dataset; not a Not-so-Clevr HDF5 file")
            locations = np.asarray(f[key])
            if locations.ndim != 2 or locations.shape[1] != 2:
                raise ValueError(f"{path}: '{key}' has shape {locations.shape}, expected (N, 2)")
            positions = torch.from_numpy(locations.astype(np.int64))
            gray_key = f"{prefix}_imagegray"
            if gray_key in f:
                gray = np.asarray(f[gray_key])[..., 0] > 0
                expected = render_squares(positions)[:, 0].numpy()
                if gray.shape != expected.shape or not np.array_equal(gray, expected):
                    raise ValueError(f"{path}: '{gray_key}' does not show squares at the locations")
            parts[prefix] = positions
    found = split_of(parts["train"], parts["val"])
    if split is not None and split != found:
        held_out = "is" if found == "quadrant" else "is not"
        raise ValueError(
            f"the quadrant x, y > 32 {held_out} its held-out test set: the {found} split, "
            f"not {split}"
        )
    return ToyDataset(found, train_positions=parts["train"], test_positions=parts["val"])


def split_of(train: torch.Tensor, test: torch.Tensor, canvas: int = CANVAS) -> Split:
    """Which split a file's positions are: quadrant when its test set is exactly the
    quadrant's positions (x, y > canvas // 2) and training has none of them, else uniform."""
    in_test = test_mask("quadrant", test, canvas=canvas)
    in_train = test_mask("quadrant", train, canvas=canvas)
    return "quadrant" if bool(in_test.all()) and not bool(in_train.any()) else "uniform"

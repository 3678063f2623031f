"""Incremental checkpoints of a :class:`~coordrl.agents.replay.FrameReplayBuffer`.

Pickling the whole buffer into every checkpoint (SB3's ``save_replay_buffer``) costs the
buffer's size each time: gigabytes per checkpoint at Atari sizes. Here each checkpoint
writes only the transitions added since the previous one, as a *segment* directory under
``checkpoints/replay/`` (written atomically, never changed after), and a small manifest
naming every segment it needs. A checkpoint thus costs O(new transitions), and the disk
holds about one buffer: a segment is deleted once no checkpoint names it.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from coordrl.agents.replay import Asides, FrameReplayBuffer
from coordrl.runs import (
    REPLAY_MANIFEST,
    REPLAY_NEWEST,
    REPLAY_SEGMENTS,
    atomic_dir,
    discard_dir,
    list_checkpoints,
    remove_leftovers,
)

TRANSITION_ARRAYS = ("depth", "actions", "rewards", "dones", "timeouts")
SEGMENT_PREFIX = "adds_"  # adds_<first add>_<end add>_<random token>
CHUNK = 4096  # adds copied to or from disk at a time: bounded extra memory


class ReplayStore:
    """Saves a buffer into checkpoints segment by segment, and restores it from one."""

    def __init__(self) -> None:
        self.saved_until = 0  # adds already in segments of the chain
        self.chain: list[tuple[int, int, str]] = []  # (first add, end add, name), in order

    def save(self, buffer: FrameReplayBuffer, checkpoint: Path) -> None:
        """Write the adds since the last save as a segment, and ``checkpoint``'s manifest
        naming the segments the buffer is rebuilt from; delete segments nobody names."""
        segments = checkpoint.parent / REPLAY_SEGMENTS
        segments.mkdir(exist_ok=True)
        oldest = max(buffer.added - buffer.frame_slots, 0)  # the oldest add the ring holds
        start = max(self.saved_until, oldest)
        self.chain = [link for link in self.chain if link[1] > oldest]
        if start < buffer.added:
            name = f"{SEGMENT_PREFIX}{start:012d}_{buffer.added:012d}_{secrets.token_hex(4)}"
            with atomic_dir(segments / name) as tmp:
                _write_segment(buffer, start, tmp)
            self.chain.append((start, buffer.added, name))
        self.saved_until = buffer.added
        manifest = {
            "added": buffer.added,
            "pos": buffer.pos,
            "full": buffer.full,
            "buffer_size": buffer.buffer_size,
            "n_envs": buffer.n_envs,
            "obs_shape": list(buffer.obs_shape),
            "segments": [name for _, _, name in self.chain],
        }
        (checkpoint / REPLAY_MANIFEST).write_text(json.dumps(manifest, indent=1))
        if buffer.last_obs is not None:
            np.savez(
                checkpoint / REPLAY_NEWEST,
                obs=buffer.last_obs,
                next_obs=buffer.last_next_obs,
                linked=buffer.linked,
            )
        self._delete_unnamed(segments)

    def load(self, buffer: FrameReplayBuffer, checkpoint: Path) -> None:
        """Rebuild ``buffer`` (fresh, same size) as it was when ``checkpoint`` was saved;
        ``FileNotFoundError`` or ``ValueError`` when a segment is missing or does not fit."""
        manifest = json.loads((checkpoint / REPLAY_MANIFEST).read_text())
        shape = (buffer.buffer_size, buffer.n_envs, list(buffer.obs_shape))
        saved = (manifest["buffer_size"], manifest["n_envs"], manifest["obs_shape"])
        if saved != shape:
            raise ValueError(f"replay buffer saved as {saved}, this run's is {shape}")
        added = manifest["added"]
        buffer.reset()
        buffer.added = added
        chain, covered = [], max(added - buffer.frame_slots, 0)
        for name in manifest["segments"]:
            folder = checkpoint.parent / REPLAY_SEGMENTS / name
            start, end = (int(part) for part in name.split("_")[1:3])
            if start > covered or end > added:
                raise ValueError(f"replay segment {name} does not continue adds 0-{covered}")
            _read_segment(buffer, start, end, folder)
            covered = max(covered, end)
            chain.append((start, end, name))
        if covered != added:
            raise ValueError(f"replay segments hold adds up to {covered}, not {added}")
        buffer.pos, buffer.full = manifest["pos"], manifest["full"]
        buffer.index_asides()
        if added:
            with np.load(checkpoint / REPLAY_NEWEST) as newest:
                buffer.last_obs, buffer.last_next_obs = newest["obs"], newest["next_obs"]
                buffer.linked = newest["linked"]
        self.chain, self.saved_until = chain, added

    def _delete_unnamed(self, segments: Path) -> None:
        """Delete segments that neither a checkpoint nor the chain names, and leftovers of
        interrupted writes or deletions (each goes out of the names first, by a rename)."""
        named = {name for _, _, name in self.chain}
        for _, checkpoint in list_checkpoints(segments.parent.parent):
            try:
                named.update(json.loads((checkpoint / REPLAY_MANIFEST).read_text())["segments"])
            except (OSError, ValueError, KeyError):
                continue  # a checkpoint that does not read names nothing
        for child in segments.glob(f"{SEGMENT_PREFIX}*"):
            if child.name not in named:
                discard_dir(child)
        remove_leftovers(segments, SEGMENT_PREFIX)


def _write_segment(buffer: FrameReplayBuffer, start: int, folder: Path) -> None:
    """Adds ``start``..newest: frames, the per-transition arrays of those the buffer still
    holds as transitions, and what was kept aside since ``start - 1`` (its link may have
    been settled since)."""
    end = buffer.added
    frames = np.lib.format.open_memmap(
        folder / "frames.npy", "w+", buffer.frames.dtype, (end - start, *buffer.frames.shape[1:])
    )
    for lo, hi in _chunks(start, end):
        frames[lo - start : hi - start] = buffer.frames[np.arange(lo, hi) % buffer.frame_slots]
    frames.flush()
    del frames
    first = max(start, end - buffer.buffer_size)
    positions = np.arange(first, end) % buffer.buffer_size
    for name in TRANSITION_ARRAYS:
        np.save(folder / f"{name}.npy", getattr(buffer, name)[positions])
    np.savez(folder / "asides.npz", first=first, **_pack(buffer.asides.since(start - 1)))


def _read_segment(buffer: FrameReplayBuffer, start: int, end: int, folder: Path) -> None:
    """Copy a segment's adds that the buffer, at ``buffer.added``, still holds."""
    oldest_frame = buffer.added - buffer.frame_slots
    frames = np.load(folder / "frames.npy", mmap_mode="r")
    if len(frames) != end - start:
        raise ValueError(f"replay segment {folder.name} holds {len(frames)} frames")
    for lo, hi in _chunks(max(start, oldest_frame), end):
        buffer.frames[np.arange(lo, hi) % buffer.frame_slots] = frames[lo - start : hi - start]
    with np.load(folder / "asides.npz") as packed:
        first = int(packed["first"])
        asides = _unpack(packed)
    oldest_transition = max(first, buffer.added - buffer.buffer_size)
    if oldest_transition < end:
        positions = np.arange(oldest_transition, end) % buffer.buffer_size
        for name in TRANSITION_ARRAYS:
            values = np.load(folder / f"{name}.npy", mmap_mode="r")
            getattr(buffer, name)[positions] = values[oldest_transition - first :]
    buffer.asides.update(asides)
    buffer.asides.forget_before(oldest_frame)


def _chunks(start: int, end: int) -> Iterator[tuple[int, int]]:
    for lo in range(start, end, CHUNK):
        yield lo, min(lo + CHUNK, end)


def _pack(asides: Asides) -> dict[str, np.ndarray]:
    """Asides as arrays: keys (n, 2) and stacked values per table; zero heads by key only."""
    heads = {k: v for k, v in asides.heads.items() if v is not None}
    zero_heads = [k for k, v in asides.heads.items() if v is None]
    packed = {"zero_head_keys": np.array(zero_heads, np.int64).reshape(-1, 2)}
    for name, table in (
        ("heads", heads),
        ("next_frames", asides.next_frames),
        ("next_stacks", asides.next_stacks),
    ):
        packed[f"{name}_keys"] = np.array(list(table), np.int64).reshape(-1, 2)
        if table:
            packed[name] = np.stack(list(table.values()))
    return packed


def _unpack(packed) -> Asides:
    def table(name: str) -> dict:
        keys = packed[f"{name}_keys"]
        if not len(keys):
            return {}
        return {(int(a), int(e)): value for (a, e), value in zip(keys, packed[name], strict=True)}

    heads = table("heads")
    heads.update({(int(a), int(e)): None for a, e in packed["zero_head_keys"]})
    return Asides(heads, table("next_frames"), table("next_stacks"))

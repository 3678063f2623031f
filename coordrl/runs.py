"""Run directories: atomic file writes and fresh directory names, so no work is ever lost."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success rename it over ``path``.

    A reader sees the old file or the whole new one, never a half-written one; on an error
    the temporary file is removed and ``path`` is untouched.
    """
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def fresh_run_dir(path: str | Path) -> Path:
    """``path``, or ``path-2``, ``path-3``... if it already holds a run: never overwrite one."""
    path = Path(path)
    candidate, n = path, 1
    while (candidate / "result.json").exists():
        n += 1
        candidate = path.with_name(f"{path.name}-{n}")
    return candidate

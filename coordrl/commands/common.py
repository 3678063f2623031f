"""What every ``coordrl`` subcommand shares: one-line user errors, argument types, paths."""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from pathlib import Path
from typing import NoReturn

from coordrl.errors import USER_ERROR, CoordRLError
from coordrl.runs import fresh_run_dir


class UserError(CoordRLError):
    """A mistake in the command line itself (a flag that does not fit the target)."""


class Parser(argparse.ArgumentParser):
    """argparse with one-line errors: ``error: ...`` and exit code 2, no usage dump."""

    def error(self, message: str) -> NoReturn:
        print(f"error: {message} (see {self.prog} --help)", file=sys.stderr)
        raise SystemExit(USER_ERROR)


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {value}")
    return value


def quoted(path: str | Path) -> str:
    """``path`` as a shell reads it: printed commands stay copy-pasteable (spaces, quotes)."""
    return shlex.quote(str(path))


def fitting_path(path: Path) -> Path:
    """``path`` if each of its names fits the file system (longer ones fail every call with
    errno 36, even ``exists()``); else one error line."""
    existing = next((p for p in (path, *path.parents) if _exists(p)), Path("."))
    try:
        limit = os.pathconf(existing, "PC_NAME_MAX")
    except (OSError, ValueError):
        limit = 255
    for name in path.parts:
        size = len(os.fsencode(name))
        if size > limit:
            raise UserError(
                f"{path}: the name {name[:24]}... is {size} bytes long; this file system "
                f"allows {limit} per name"
            )
    return path


def new_run_dir(given: str | None, default: Path, marker: str, hint: str) -> Path:
    """Where a new run goes: the directory the user named, refused if it holds a run (has
    ``marker``), or ``default`` (``-2``, ``-3``... if taken). An existing run is never
    written over."""
    if given is None:
        return fresh_run_dir(default, marker)
    path = fitting_path(Path(given))
    if (path / marker).exists():
        raise UserError(f"{path} already holds a run: {hint}")
    return path


def _exists(path: Path) -> bool:
    try:
        return path.exists()
    except OSError:
        return False


def writable_dir(path: Path) -> Path:
    """Create ``path`` if needed and check that files can be written there."""
    fitting_path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / ".coordrl-write-test"
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        raise UserError(f"cannot write to {path}: {exc.strerror or exc}") from None
    return path

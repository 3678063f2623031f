"""The configs shipped with coordrl (the package data ``coordrl.configs``), found by name.

A shipped config's name is its path under ``configs/`` without ``.yaml``: ``atari/ppo``,
``toy/point``, ``sweeps/toyrl``. Wherever a config or sweep file is asked for, a path to a
file wins, else a shipped name is looked up, so the same command works in a checkout, from a
wheel install and from any directory. ``coordrl configs`` lists them.
"""

from __future__ import annotations

import difflib
from importlib import resources
from pathlib import Path

from coordrl.errors import UnknownNameError

PACKAGE = "coordrl.configs"
SUFFIXES = (".yaml", ".yml")


def shipped_configs() -> dict[str, Path]:
    """Every shipped config, by name, sorted."""
    root = Path(str(resources.files(PACKAGE)))
    found = {
        str(path.relative_to(root).with_suffix("")): path
        for suffix in SUFFIXES
        for path in root.rglob(f"*{suffix}")
    }
    return dict(sorted(found.items()))


def description(path: Path) -> str:
    """A config's first comment line: what it is for."""
    for line in path.read_text().splitlines():
        if line.startswith("#"):
            return line.lstrip("#").strip()
        if line.strip():
            break
    return ""


def shipped_name(text: str) -> str:
    """``configs/atari/ppo.yaml`` or ``atari/ppo.yaml`` -> ``atari/ppo``."""
    name = text.strip().replace("\\", "/").removeprefix("./").removeprefix("configs/")
    for suffix in SUFFIXES:
        name = name.removesuffix(suffix)
    return name


def find_config(
    text: str | Path, *, relative_to: Path | None = None, what: str = "config file"
) -> Path:
    """The file ``text`` names: a path (from the current directory, else from
    ``relative_to``), else a shipped config. ``UnknownNameError`` names the closest ones."""
    candidate = Path(text)
    if candidate.is_file():
        return candidate
    nearby = relative_to / candidate if relative_to is not None else None
    if nearby is not None and not candidate.is_absolute() and nearby.is_file():
        return nearby
    shipped = shipped_configs()
    name = shipped_name(str(text))
    if name in shipped:
        return shipped[name]
    close = difflib.get_close_matches(name, list(shipped), n=3, cutoff=0.6)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    shipped_what = "shipped " + what.split()[0]
    raise UnknownNameError(
        f"no such {what} or {shipped_what}: {text}{hint} (coordrl configs lists them)"
    )

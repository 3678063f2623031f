"""Sweep files -> trials: a grid of config overrides expanded into named, validated runs.

A sweep file is YAML::

    config: toy/point                  # the base run config: a file or a shipped name
                                       # (or a grid key: several)
    out: runs/sweeps/point             # each trial is a run directory under here
    set: {device: cpu}                 # overrides for every trial (optional)
    grid:                              # every combination of these is one trial
      arch: [conv, coordconv]
      seed: [0, 1, 2, 3, 4]
    evaluate: {episodes: 1000, deterministic: true}   # after training (optional)
    resources: {cpus: 1, gpus: 0.25}   # per trial (optional; GPU fractions allowed)
    population: auto                   # train compatible trials as populations (optional):
                                       # auto, or at most N per population; 1 (default): not

Grid and ``set`` keys are config keys, dotted for nested ones (``hyperparams.learning_rate``).
Every trial's config is validated before any runs, so a typo fails the sweep at once.
"""

from __future__ import annotations

import dataclasses
import itertools
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from coordrl.config import ConfigError, RunConfig, load_config, read_yaml, run_name
from coordrl.errors import UnknownNameError
from coordrl.shipped import find_config

SWEEP_KEYS = ("config", "out", "set", "grid", "evaluate", "resources", "population")
EVALUATE_KEYS = ("episodes", "deterministic")
RESOURCE_KEYS = ("cpus", "gpus")
NAMED_KEYS = ("env", "algo", "arch", "seed")  # already in every trial's name
_UNSAFE = re.compile(r"[^A-Za-z0-9_.=+-]")


@dataclasses.dataclass(frozen=True)
class Trial:
    """One run of the sweep: its name (the run directory's), its config and where it goes."""

    name: str
    config: RunConfig
    run_dir: Path
    values: tuple[tuple[str, Any], ...]  # the grid values that made it


@dataclasses.dataclass(frozen=True)
class Sweep:
    path: Path
    out: Path
    trials: tuple[Trial, ...]
    evaluate: Mapping[str, Any] | None  # episodes, deterministic; None: no evaluation
    cpus: float
    gpus: float
    population: int | None = 1  # most trials per population; None: auto


def _dotted(mapping: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"hyperparams": {"lr": 1}}`` -> ``{"hyperparams.lr": 1}``."""
    flat: dict[str, Any] = {}
    for key, value in mapping.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            flat.update(_dotted(value, f"{name}."))
        else:
            flat[name] = value
    return flat


def _nested(flat: Mapping[str, Any]) -> dict[str, Any]:
    """The inverse of :func:`_dotted`."""
    nested: dict[str, Any] = {}
    for key, value in flat.items():
        node = nested
        *parents, leaf = key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return nested


def _mapping(data: Any, key: str, source: str) -> dict[str, Any]:
    if data is None:
        return {}
    if not isinstance(data, Mapping):
        raise ConfigError(f"{source}: {key}: expected a mapping")
    return dict(data)


def _known(section: Mapping[str, Any], known: tuple[str, ...], where: str, source: str) -> None:
    for key in section:
        if key not in known:
            raise ConfigError(f"{source}: {where}{key}: unknown key (known: {', '.join(known)})")


def _trial_name(config: RunConfig, values: Mapping[str, Any]) -> str:
    name = run_name(config)
    for key, value in values.items():
        if key not in NAMED_KEYS and key != "config":  # a config's env and algo are named
            name += f"-{key.split('.')[-1]}={value}"
    return _UNSAFE.sub("_", name)


def _positive(value: Any, key: str, source: str, allow_zero: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"{source}: resources.{key}: expected a number, got {value!r}")
    if value < 0 or (value == 0 and not allow_zero):
        raise ConfigError(f"{source}: resources.{key}: must be {'>= 0' if allow_zero else '> 0'}")
    return float(value)


def _population(value: Any, source: str) -> int | None:
    """A sweep's ``population``: a size (1: every trial alone) or ``auto`` (None)."""
    if value == "auto":
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(
            f"{source}: population: expected auto or a positive integer (1: no populations), "
            f"got {value!r}"
        )
    return value


def load_sweep(
    path: str | Path, check: Callable[[RunConfig, str], RunConfig] | None = None
) -> Sweep:
    """Read, check and expand a sweep file; ``ConfigError`` names the file and the key.

    ``check(config, source)`` (the trainers' preflight) checks each trial's config beyond
    its schema and returns it resolved.
    """
    path = Path(path)
    source = str(path)
    raw = read_yaml(path)
    _known(raw, SWEEP_KEYS, "", source)
    grid = _mapping(raw.get("grid"), "grid", source)
    if not grid:
        raise ConfigError(f"{source}: grid: empty; list at least one key with its values")
    for key, values in grid.items():
        if not isinstance(values, list) or not values:
            raise ConfigError(f"{source}: grid.{key}: expected a non-empty list of values")
    base = raw.get("config")
    if base is None and "config" not in grid:
        raise ConfigError(f"{source}: config: missing (the base run config)")
    overrides = _dotted(_mapping(raw.get("set"), "set", source))
    evaluate = raw.get("evaluate")
    if evaluate is not None:
        evaluate = _mapping(evaluate, "evaluate", source)
        _known(evaluate, EVALUATE_KEYS, "evaluate.", source)
    resources = _mapping(raw.get("resources"), "resources", source)
    _known(resources, RESOURCE_KEYS, "resources.", source)
    out = Path(raw.get("out") or Path("runs") / "sweeps" / path.stem).absolute()

    trials: list[Trial] = []
    keys = list(grid)
    for combo in itertools.product(*(grid[key] for key in keys)):
        values = dict(zip(keys, combo, strict=True))
        try:
            config_path = find_config(str(values.get("config", base)), relative_to=path.parent)
        except UnknownNameError as exc:
            raise ConfigError(f"{source}: config: {exc}") from None
        trial_overrides = {**overrides, **{k: v for k, v in values.items() if k != "config"}}
        where = f"{source} ({', '.join(f'{k}={v}' for k, v in values.items())})"
        config = load_config(config_path, _nested(trial_overrides), where)
        if check is not None:
            config = check(config, where)
        name = _trial_name(config, values)
        trials.append(Trial(name, config, out / name, tuple(values.items())))
    names = [t.name for t in trials]
    if len(set(names)) != len(names):
        twice = sorted({n for n in names if names.count(n) > 1})
        raise ConfigError(f"{source}: grid: trials share a name ({twice[0]}); vary one key each")
    return Sweep(
        path=path,
        out=out,
        trials=tuple(trials),
        evaluate=evaluate,
        cpus=_positive(resources.get("cpus", 1), "cpus", source),
        gpus=_positive(resources.get("gpus", 0), "gpus", source, allow_zero=True),
        population=_population(raw.get("population", 1), source),
    )

"""YAML run configs -> typed, validated configs; every mistake is one line naming key and file.

A config is a YAML mapping of run settings (:data:`RUN_FIELDS`) with a ``hyperparams``
mapping checked against the algorithm's own fields (:data:`HYPERPARAMS`). Keys left out take
the defaults below (hyperparameters left out take SB3's). ``--set key=value`` and command-line
flags are overrides, validated the same way and named as their source in errors.

A toy env's ``env_kwargs`` are its constructor's options: ``coordrl.envs.factory`` checks them
against the constructor itself, so they are not restated here.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import yaml

from coordrl.archs import ARCHS, COORD_LAYERS, NETWORKS
from coordrl.errors import ConfigError
from coordrl.runs import CONFIG_FILE, RunError, atomic_path, is_run_dir
from coordrl.settings import SETTINGS, Linear, Schedule

ALGOS: tuple[str, ...] = ("a2c", "ppo", "dqn", "device_ppo", "device_a2c")
_SCHEDULE = re.compile(r"^lin_(?P<value>[0-9.eE+-]+)$")
_REQUIRED = object()


@dataclasses.dataclass(frozen=True)
class Field:
    """One config key: its type, default, and the check its value must pass."""

    kind: str  # "int", "float", "bool", "str", "schedule" or "mapping" (checked by its owner)
    default: Any = _REQUIRED
    choices: tuple[str, ...] | None = None
    low: float | None = None  # inclusive lower bound
    high: float | None = None  # inclusive upper bound
    above: float | None = None  # exclusive lower bound
    nullable: bool = False
    help: str = ""

    def parse(self, value: Any) -> Any:
        """The value as this field's type; raises ``ValueError`` with the problem in words."""
        if value is None:
            if self.nullable:
                return None
            raise ValueError(f"expected {self._describe()}, got null")
        if self.kind == "schedule":
            return self._schedule(value)
        if self.kind == "bool":
            if not isinstance(value, bool):
                raise ValueError(f"expected true or false, got {value!r}")
            return value
        if self.kind == "str":
            if not isinstance(value, str):
                raise ValueError(f"expected a string, got {value!r}")
            if self.choices is not None and value not in self.choices:
                close = difflib.get_close_matches(value, self.choices, n=1)
                hint = f" (did you mean {close[0]}?)" if close else ""
                raise ValueError(f"expected one of {', '.join(self.choices)}, got {value!r}{hint}")
            return value
        number = _number(value, self.kind)
        self._check_range(number)
        return number

    def _schedule(self, value: Any) -> Schedule:
        if isinstance(value, Linear):
            self._check_range(value.start)
            return value
        if isinstance(value, str):
            match = _SCHEDULE.match(value.strip())
            if match is None:
                try:
                    value = float(value)
                except ValueError:
                    raise ValueError(
                        f"expected a number or a linear schedule like lin_2.5e-4, got {value!r}"
                    ) from None
            else:
                try:
                    start = float(match["value"])
                except ValueError:
                    raise ValueError(f"malformed schedule {value!r}") from None
                self._check_range(start)
                return Linear(start)
        number = _number(value, "float")
        self._check_range(number)
        return number

    def _check_range(self, number: float) -> None:
        if self.low is not None and number < self.low:
            raise ValueError(f"must be >= {self.low:g}, got {number:g}")
        if self.above is not None and not number > self.above:
            raise ValueError(f"must be > {self.above:g}, got {number:g}")
        if self.high is not None and number > self.high:
            raise ValueError(f"must be <= {self.high:g}, got {number:g}")

    def _describe(self) -> str:
        return {"int": "an integer", "float": "a number", "bool": "true or false"}.get(
            self.kind, "a value"
        )


def field_for(annotation: Any, default: Any = _REQUIRED) -> Field:
    """The :class:`Field` a typed Python parameter implies: ``int``, ``float``, ``bool``,
    ``str``, a ``Literal`` of strings (its choices), any of them ``| None`` (nullable).

    So a constructor's signature is the schema of its options; bounds stay the
    constructor's own checks.
    """
    nullable = False
    args = typing.get_args(annotation)
    if typing.get_origin(annotation) in (typing.Union, types.UnionType) and type(None) in args:
        rest = [a for a in args if a is not type(None)]
        if len(rest) != 1:
            raise TypeError(f"cannot make a config field of {annotation!r}")
        annotation, nullable = rest[0], True
    if typing.get_origin(annotation) is typing.Literal:
        return Field("str", default, choices=typing.get_args(annotation), nullable=nullable)
    kinds = {int: "int", float: "float", bool: "bool", str: "str"}
    if annotation not in kinds:
        raise TypeError(f"cannot make a config field of {annotation!r}")
    return Field(kinds[annotation], default, nullable=nullable)


def _number(value: Any, kind: str) -> int | float:
    """An int or float from YAML; strings like ``"1e7"`` (PyYAML reads them as text) too."""
    if isinstance(value, bool):
        raise ValueError(f"expected {'an integer' if kind == 'int' else 'a number'}, got {value}")
    if isinstance(value, str):
        try:
            value = float(value.replace("_", ""))
        except ValueError:
            raise ValueError(f"expected a number, got {value!r}") from None
    if not isinstance(value, int | float):
        raise ValueError(f"expected a number, got {value!r}")
    if kind == "int":
        if isinstance(value, float) and not value.is_integer():
            raise ValueError(f"expected an integer, got {value}")
        return int(value)
    return float(value)


MAX_TIMESTEPS = 10**18  # the step counters (episodes.csv, checkpoints) are 64-bit integers


def _positive_int(default: Any = _REQUIRED, help: str = "") -> Field:
    return Field("int", default, low=1, help=help)


def _fraction(default: Any) -> Field:
    return Field("float", default, low=0.0, high=1.0)


RUN_FIELDS: dict[str, Field] = {
    "algo": Field("str", _REQUIRED, choices=ALGOS, help="a2c, ppo, dqn, device_ppo or device_a2c"),
    "env": Field("str", "ALE/Breakout-v5", help="ALE/<Game>-v5, <Game> or a coordrl/* toy"),
    "env_kwargs": Field("mapping", {}, help="a toy env's options"),
    "arch": Field("str", "coordconv", choices=ARCHS, help="feature extractor: conv or coordconv"),
    "network": Field("str", "nature", choices=NETWORKS, help="NatureCNN, or MinAtar's network"),
    "coord_layers": Field("str", "first", choices=COORD_LAYERS, help="CoordConv layers"),
    "with_r": Field("bool", False, help="add the radius channel to the CoordConv layers"),
    "timesteps": Field(
        "int", 10_000_000, low=1, high=MAX_TIMESTEPS, help="env steps in total, over all envs"
    ),
    "n_envs": _positive_int(8, "parallel envs"),
    "seed": Field("int", 0, low=0),
    "device": Field("str", "auto", help="auto, cpu, cuda or cuda:N"),
    "backend": Field("str", "ale", choices=("ale", "sb3"), help="Atari vector env backend"),
    "repeat_action_probability": _fraction(0.25),
    "noop_max": Field("int", 30, low=1),
    "env_batch_size": Field(
        "int",
        None,
        low=1,
        nullable=True,
        help="on-device Atari: envs per emulator group, stepped while the network acts on "
        "another (a divisor of n_envs); null: all envs at once",
    ),
    "checkpoint_every": _positive_int(100_000, "env steps between checkpoints"),
    "keep_checkpoints": _positive_int(2, "how many recent checkpoints to keep"),
    "hyperparams": Field("mapping", {}),
}

_ON_POLICY: dict[str, Field] = {
    "n_steps": _positive_int(),
    "learning_rate": Field("schedule", above=0.0),
    "gamma": _fraction(0.99),
    "gae_lambda": _fraction(0.95),
    "ent_coef": Field("float", low=0.0),
    "vf_coef": Field("float", low=0.0),
    "max_grad_norm": Field("float", above=0.0),
    "normalize_advantage": Field("bool"),
}

ATARI_ONLY: tuple[str, ...] = (
    "backend",
    "repeat_action_probability",
    "noop_max",
    "env_batch_size",
)


TORCH_ENV_PREFIX = "coordrl/"  # coordrl's torch vector envs: the toy tasks and MinAtar
MINATAR_PREFIX = "coordrl/MinAtar-"
EnvFamily = Literal["toy", "minatar", "atari"]


def env_family(env: str) -> EnvFamily:
    """Which family an env id belongs to: the toy tasks (scored by success), MinAtar or Atari
    (scored by game score); the first two are coordrl's torch envs."""
    if env.startswith(MINATAR_PREFIX):
        return "minatar"
    return "toy" if env.startswith(TORCH_ENV_PREFIX) else "atari"


def is_torch_env(env: str) -> bool:
    """coordrl's torch vector envs (``coordrl/...``: options in env_kwargs), not Atari ids."""
    return env_family(env) != "atari"


def is_toy_env(env: str) -> bool:
    """The toy tasks (``coordrl/Point-v0``, ``coordrl/Navigate-v0``): scored by success."""
    return env_family(env) == "toy"


# what a resumed run may change: the rest would make it another run
RESUMABLE_KEYS = ("timesteps", "device")


def run_name(config: RunConfig) -> str:
    """``Breakout-ppo-coordconv-seed0``: the name `coordrl train` and sweeps give a run."""
    game = config.env.split("/")[-1].removesuffix("-v5").removesuffix("-v0")
    return f"{game}-{config.algo}-{config.arch}-seed{config.seed}"


def settings_fields(settings: type) -> dict[str, Field]:
    """The config fields of a settings dataclass (:mod:`coordrl.settings`): each
    hyperparameter's type and bounds. No defaults: a key left out is the dataclass's."""
    hints = typing.get_type_hints(settings)
    fields = {}
    for setting in dataclasses.fields(settings):
        annotation = hints[setting.name]
        field = Field("schedule") if annotation == Schedule else field_for(annotation)
        fields[setting.name] = dataclasses.replace(field, **setting.metadata)
    return fields


HYPERPARAMS: dict[str, dict[str, Field]] = {
    "a2c": {
        **_ON_POLICY,
        "optimizer": Field("str", choices=("rmsprop_tf_like", "rmsprop", "adam")),
        "optimizer_eps": Field("float", above=0.0),
    },
    "ppo": {
        **_ON_POLICY,
        "batch_size": _positive_int(),
        "n_epochs": _positive_int(),
        "clip_range": Field("schedule", above=0.0),
        "clip_range_vf": Field("schedule", above=0.0, nullable=True),
        "target_kl": Field("float", above=0.0, nullable=True),
    },
    "dqn": {
        "learning_rate": Field("schedule", above=0.0),
        "buffer_size": _positive_int(),
        "learning_starts": Field("int", low=0),
        "batch_size": _positive_int(),
        "tau": _fraction(1.0),
        "gamma": _fraction(0.99),
        "train_freq": _positive_int(),
        "gradient_steps": _positive_int(),
        "target_update_interval": _positive_int(),
        "exploration_fraction": _fraction(0.1),
        "exploration_initial_eps": _fraction(1.0),
        "exploration_final_eps": _fraction(0.05),
        "max_grad_norm": Field("float", above=0.0),
        "optimize_memory_usage": Field("bool"),
        # frames: coordrl's FrameReplayBuffer (each frame once; Atari's default); sb3: SB3's
        "replay_buffer": Field("str", choices=("frames", "sb3")),
    },
    **{algo: settings_fields(settings) for algo, settings in SETTINGS.items()},
}


@dataclasses.dataclass(frozen=True)
class RunConfig:
    """A validated run config; ``hyperparams`` holds only the keys the user set."""

    algo: str
    env: str
    env_kwargs: Mapping[str, Any]
    arch: str
    network: str
    coord_layers: str
    with_r: bool
    timesteps: int
    n_envs: int
    seed: int
    device: str
    backend: str
    repeat_action_probability: float
    noop_max: int
    env_batch_size: int | None
    checkpoint_every: int
    keep_checkpoints: int
    hyperparams: Mapping[str, Any]

    def to_dict(self) -> dict[str, Any]:
        """Plain YAML values (schedules as ``lin_<x>``), as ``config.yaml`` holds them."""
        data = dataclasses.asdict(self)
        data["hyperparams"] = {
            key: str(value) if isinstance(value, Linear) else value
            for key, value in self.hyperparams.items()
        }
        data["env_kwargs"] = dict(self.env_kwargs)
        if is_torch_env(self.env):  # Atari settings do not apply, and would not validate
            for key in ATARI_ONLY:
                data.pop(key)
        else:
            data.pop("env_kwargs")
        return data

    @property
    def network_kwargs(self) -> dict[str, Any]:
        """The extractor's network and CoordConv settings: none of the latter for conv
        (``coord_layers`` and ``with_r`` apply to the CoordConv arm only, so one flag flips
        a config between the arms)."""
        if self.arch != "coordconv":
            return {"network": self.network}
        return {"network": self.network, "coord_layers": self.coord_layers, "with_r": self.with_r}

    def replace(self, **changes: Any) -> RunConfig:
        return dataclasses.replace(self, **changes)


def _unknown_key(key: str, known: list[str]) -> str:
    close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
    hint = f"did you mean {close[0]}?" if close else f"known keys: {', '.join(sorted(known))}"
    return f"unknown key ({hint})"


def validate(raw: Mapping[str, Any], source: str) -> RunConfig:
    """Check a whole config mapping; raise ``ConfigError`` on the first problem found."""
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{source}: expected a mapping of keys to values")
    values: dict[str, Any] = {}
    for key, value in raw.items():
        if key not in RUN_FIELDS:
            raise ConfigError(f"{source}: {key}: {_unknown_key(str(key), list(RUN_FIELDS))}")
        if RUN_FIELDS[key].kind == "mapping":
            continue
        try:
            values[key] = RUN_FIELDS[key].parse(value)
        except ValueError as exc:
            raise ConfigError(f"{source}: {key}: {exc}") from None
    for key, field in RUN_FIELDS.items():
        if key not in values and field.kind != "mapping":
            if field.default is _REQUIRED:
                raise ConfigError(f"{source}: {key}: missing ({field.help})")
            values[key] = field.default
    values["env_kwargs"] = _validate_env(values, raw, source)
    values["hyperparams"] = _validate_hyperparams(
        values["algo"], raw.get("hyperparams") or {}, source
    )
    if values["algo"] in SETTINGS:  # settings valid one by one, now together
        try:
            SETTINGS[values["algo"]](**values["hyperparams"]).check(values["n_envs"])
        except ValueError as exc:
            raise ConfigError(f"{source}: hyperparams: {exc}") from None
    return RunConfig(**values)


def _validate_env(values: dict[str, Any], raw: Mapping[str, Any], source: str) -> dict[str, Any]:
    """Torch envs take ``env_kwargs`` (checked against the env by ``coordrl.envs.factory``)
    and no Atari settings; Atari envs the other way round."""
    kwargs = raw.get("env_kwargs") or {}
    if not is_torch_env(values["env"]):
        if kwargs:
            raise ConfigError(f"{source}: env_kwargs: only for coordrl's torch envs (coordrl/*)")
        return {}
    for key in ATARI_ONLY:
        if key in raw:
            raise ConfigError(f"{source}: {key}: only for Atari envs, not {values['env']}")
    if not isinstance(kwargs, Mapping) or not all(isinstance(k, str) for k in kwargs):
        raise ConfigError(f"{source}: env_kwargs: expected a mapping of option names to values")
    return dict(kwargs)


def _validate_hyperparams(algo: str, raw: Any, source: str) -> dict[str, Any]:
    return validate_section(raw, HYPERPARAMS[algo], "hyperparams", algo, "hyperparameters", source)


def validate_section(
    raw: Any, fields: Mapping[str, Field], section: str, owner: str, what: str, source: str
) -> dict[str, Any]:
    """A nested mapping (``hyperparams``, ``env_kwargs``) checked against ``owner``'s fields."""
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{source}: {section}: expected a mapping of {owner} {what}")
    parsed: dict[str, Any] = {}
    for key, value in raw.items():
        if key not in fields:
            problem = _unknown_key(str(key), list(fields))
            raise ConfigError(f"{source}: {section}.{key}: {problem} for {owner}")
        try:
            parsed[key] = fields[key].parse(value)
        except ValueError as exc:
            raise ConfigError(f"{source}: {section}.{key}: {exc}") from None
    return parsed


def read_yaml(path: str | Path) -> dict[str, Any]:
    """The mapping in a YAML file; ``ConfigError`` for a missing, unreadable or bad file."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{path}: not a YAML text file (byte {exc.object[exc.start]:#04x} at offset "
            f"{exc.start} is not UTF-8)"
        ) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}: " if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{path}: {where}invalid YAML: {problem}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of keys to values")
    return data


def parse_overrides(pairs: list[str]) -> dict[str, Any]:
    """``["hyperparams.n_steps=64", "seed=3"]`` -> a nested mapping (values read as YAML)."""
    result: dict[str, Any] = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set {pair}: expected key=value")
        try:
            value = yaml.safe_load(text)
        except yaml.YAMLError:
            value = text
        node = result
        *parents, leaf = key.strip().split(".")
        for part in parents:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"--set {pair}: {part} is not a mapping")
        node[leaf] = value
    return result


def merge(base: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` with ``overrides`` laid over it, mappings merged key by key."""
    merged = dict(base)
    for key, value in overrides.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def load_config(
    path: str | Path,
    overrides: Mapping[str, Any] | None = None,
    override_source: str = "command line",
) -> RunConfig:
    """Read, merge and validate: the file's own mistakes are reported against the file."""
    raw = read_yaml(path)
    config = validate(raw, str(path))
    if overrides:
        config = validate(merge(raw, overrides), override_source)
    return config


def load_run_config(run_dir: str | Path) -> RunConfig:
    """The resolved config of a run directory; ``RunError`` if it is not one."""
    run_dir = Path(run_dir)
    if not is_run_dir(run_dir):
        raise RunError(f"{run_dir} is not a run directory (it has no {CONFIG_FILE})")
    return load_config(run_dir / CONFIG_FILE)


def dump_config(config: RunConfig, path: str | Path) -> None:
    """Write the resolved config as YAML, atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(yaml.safe_dump(config.to_dict(), sort_keys=False))

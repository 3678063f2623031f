"""Envs from run configs: the one place that maps a config's ``env`` to what trains on it,
and checks the config's env settings against the env itself.

A torch env's options (a config's ``env_kwargs``) are its constructor's keyword parameters:
their names, types and defaults come from the signature, their bounds from the constructor's
own checks, so nothing here restates an env.
"""

from __future__ import annotations

import difflib
import inspect
import typing
from typing import Any

import gymnasium as gym
import torch
from gymnasium.envs.registration import load_env_creator

import coordrl.envs.minatar
import coordrl.envs.toy  # noqa: F401  (with the line above: registers the coordrl/* ids)
from coordrl.config import (
    ConfigError,
    Field,
    RunConfig,
    field_for,
    is_torch_env,
    is_toy_env,
    validate_section,
)
from coordrl.envs.torch_vector import TorchVectorEnv

# constructor arguments a trainer chooses, not a config
RUNTIME_ARGS = ("self", "num_envs", "device", "part", "final_obs")


def torch_env_ids() -> list[str]:
    """The registered ids of coordrl's torch vector envs."""
    return sorted(
        i for i, spec in gym.registry.items() if is_torch_env(i) and spec.vector_entry_point
    )


def torch_env_class(env_id: str) -> type[TorchVectorEnv]:
    """The torch vector env class registered as ``env_id``; ``ConfigError`` if there is none."""
    spec = gym.registry.get(env_id)
    if spec is None or not spec.vector_entry_point:
        known = torch_env_ids()
        close = difflib.get_close_matches(env_id, known, n=1)
        hint = f"did you mean {close[0]}?" if close else f"known: {', '.join(known)}"
        raise ConfigError(f"env: unknown coordrl env {env_id!r} ({hint})")
    return load_env_creator(spec.vector_entry_point)


def env_options(env_id: str) -> dict[str, Field]:
    """A torch env's config options, read off its constructor (and its bases')."""
    cls = torch_env_class(env_id)
    options: dict[str, Field] = {}
    for klass in reversed(cls.__mro__):
        init = klass.__dict__.get("__init__")
        if init is None or not issubclass(klass, TorchVectorEnv):
            continue
        hints = typing.get_type_hints(init)
        for name, parameter in inspect.signature(init).parameters.items():
            if name in RUNTIME_ARGS or parameter.kind is inspect.Parameter.VAR_KEYWORD:
                continue
            options[name] = field_for(hints[name], parameter.default)
    return options


def check_env_config(config: RunConfig, source: str) -> RunConfig:
    """``config`` with its env resolved: an Atari id in full (``Breakout`` ->
    ``ALE/Breakout-v5``), a toy env's options parsed and accepted by the env itself."""
    if not is_torch_env(config.env):
        from coordrl.envs.atari import resolve_env_id

        return config.replace(env=resolve_env_id(config.env))
    try:
        options = env_options(config.env)
    except ConfigError as exc:
        raise ConfigError(f"{source}: {exc}") from None
    kwargs = validate_section(
        config.env_kwargs, options, "env_kwargs", config.env, "options", source
    )
    try:
        torch_env_class(config.env)(1, device="cpu", **kwargs)
    except ValueError as exc:
        raise ConfigError(f"{source}: env_kwargs: {exc}") from None
    return config.replace(env_kwargs=kwargs)


def make_torch_env(
    config: RunConfig,
    device: torch.device,
    *,
    part: str = "train",
    num_envs: int | None = None,
    final_obs: bool = False,
) -> TorchVectorEnv:
    """The config's torch env, ``num_envs`` (default ``config.n_envs``) wide on ``device``;
    a toy task draws its targets from ``part`` of the split."""
    where = {"part": part} if is_toy_env(config.env) else {}
    return gym.make_vec(
        config.env,
        num_envs=num_envs or config.n_envs,
        device=device,
        final_obs=final_obs,
        **where,
        **config.env_kwargs,
    )


def make_population_env(config: RunConfig, device: torch.device, members: int) -> TorchVectorEnv:
    """One batched env for ``members`` population members of ``config.n_envs`` envs each
    (member k: envs ``k * n_envs`` on), each member drawing from its own generator
    (``env.member_generators``): its games are what its own env would play."""
    from coordrl.envs.minatar import MinAtarEnv
    from coordrl.envs.minatar.draws import GroupedDraws

    env = make_torch_env(config, device, num_envs=members * config.n_envs)
    if not isinstance(env, MinAtarEnv):
        raise ConfigError(f"env: {config.env}: populations train on the MinAtar games only")
    generators = [torch.Generator(device=env.device) for _ in range(members)]
    env.draws = GroupedDraws(generators, config.n_envs, env.device)
    env.member_generators = generators
    return env


def make_device_env(config: RunConfig, device: torch.device, *, num_envs: int | None = None) -> Any:
    """The env an on-device trainer steps: the config's torch env, or for an Atari id
    ale-py's C++ env as a torch vector env (training protocol: life-loss ends, clipped
    rewards)."""
    if is_torch_env(config.env):
        return make_torch_env(config, device, num_envs=num_envs)
    from coordrl.envs.atari_device import AtariTorchEnv

    return AtariTorchEnv(
        config.env,
        num_envs or config.n_envs,
        device=device,
        repeat_action_probability=config.repeat_action_probability,
        noop_max=config.noop_max,
        env_batch_size=config.env_batch_size,
    )


def make_sb3_env(config: RunConfig, seed: int) -> Any:
    """The SB3 ``VecEnv`` a config trains on: Atari, or a torch env through the adapter."""
    if is_torch_env(config.env):
        from coordrl.envs.toy.sb3 import SB3VecEnv

        env = SB3VecEnv(make_torch_env(config, torch.device("cpu")))
        env.seed(seed)
        return env
    from coordrl.envs.atari import make_vec_env

    return make_vec_env(
        config.env,
        config.n_envs,
        seed=seed,
        backend=config.backend,
        repeat_action_probability=config.repeat_action_probability,
        noop_max=config.noop_max,
    )

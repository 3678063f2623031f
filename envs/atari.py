"""Atari vector envs for training and evaluation, all under one preprocessing protocol.

The protocol (Machado et al. 2018 / ale-py defaults; the same for both backends):
frameskip 4 with a max-pool over the last two frames, grayscale, 84x84 (INTER_AREA),
a stack of 4 frames (channels first), up to 30 no-op frames and one FIRE on reset
(games with FIRE), sticky actions with probability ``repeat_action_probability``
(default 0.25, as ALE v5 and Machado et al. recommend, in training and evaluation alike),
episodes capped at 108,000 frames. Training only: a lost life ends the agent's episode
(the game goes on) and rewards are clipped to their sign. ``info["episode"]`` always
reports the true, unclipped score and length of whole games, so curves show real scores.

Backends: ``"ale"`` (default) is ale-py's C++ ``AtariVectorEnv`` wrapped as an SB3
``VecEnv``, preprocessing in C++ threads; ``"sb3"`` is SB3's ``make_atari_env`` +
``VecFrameStack``, the reference. Evaluation uses :func:`make_eval_env`, a single
gymnasium env with the same preprocessing that can also render RGB frames for videos.
"""

from __future__ import annotations

import difflib
import time
from typing import Any, Literal

import ale_py
import gymnasium as gym
import numpy as np
from stable_baselines3.common.vec_env import VecEnv, VecFrameStack, VecTransposeImage
from stable_baselines3.common.vec_env.base_vec_env import VecEnvObs, VecEnvStepReturn

from coordrl.envs.atari_games import GameTracker
from coordrl.envs.vec import BatchedVecEnv
from coordrl.errors import UnknownNameError

gym.register_envs(ale_py)
# ALE prints a banner on every ROM load; keep the terminal to our own lines (and errors).
ale_py.ALEInterface.setLoggerMode(ale_py.LoggerMode.Error)

FRAME_SKIP = 4
NOOP_MAX = 30
FRAME_STACK = 4
SCREEN_SIZE = 84
MAX_EPISODE_FRAMES = 108_000
STICKY_ACTIONS = 0.25
FIRE = 1

Backend = Literal["ale", "sb3"]
BACKENDS: tuple[str, ...] = ("ale", "sb3")


def atari_env_ids() -> list[str]:
    """Every ``ALE/<Game>-v5`` id that ale-py registers (ROMs ship in its wheel)."""
    return sorted(i for i in gym.registry if i.startswith("ALE/") and i.endswith("-v5"))


def resolve_env_id(name: str) -> str:
    """``"Breakout"``, ``"breakout"`` or ``"ALE/Breakout-v5"`` -> ``"ALE/Breakout-v5"``.

    Raises :class:`~coordrl.errors.UnknownNameError` (a ``ValueError``) naming the closest
    ids when the game is unknown.
    """
    ids = atari_env_ids()
    by_key = {_key(i): i for i in ids}
    key = _key(name)
    if key in by_key:
        return by_key[key]
    close = difflib.get_close_matches(key, list(by_key), n=3, cutoff=0.6)
    hint = f"; did you mean {', '.join(by_key[c] for c in close)}?" if close else ""
    raise UnknownNameError(f"unknown Atari env {name!r}{hint} ({len(ids)} ALE/*-v5 ids exist)")


def _key(name: str) -> str:
    """The game part of an id, lower-case: ``ALE/Breakout-v5`` -> ``breakout``."""
    name = name.strip()
    name = name.removeprefix("ALE/").removesuffix("-v5")
    for suffix in ("NoFrameskip-v4", "-v4", "-v0"):
        name = name.removesuffix(suffix)
    return name.replace("_", "").replace("-", "").lower()


def game_name(env_id: str) -> str:
    """The ROM name ale-py's C++ env wants: ``ALE/MontezumaRevenge-v5`` -> ``montezuma_revenge``."""
    return gym.spec(resolve_env_id(env_id)).kwargs["game"]


def cpp_vector_env(env_id: str, num_envs: int, **options: Any) -> Any:
    """ale-py's C++ ``AtariVectorEnv`` under the protocol, playing whole games (no episodic
    life, no clipping: :class:`~coordrl.envs.atari_games.GameTracker` does both) with
    same-step autoreset; ``options``: ``num_threads``, ``repeat_action_probability``,
    ``noop_max``."""
    from ale_py.vector_env import AtariVectorEnv

    return AtariVectorEnv(
        game_name(env_id),
        num_envs,
        max_num_frames_per_episode=MAX_EPISODE_FRAMES,
        autoreset_mode="SameStep",
        img_height=SCREEN_SIZE,
        img_width=SCREEN_SIZE,
        stack_num=FRAME_STACK,
        frameskip=FRAME_SKIP,
        reward_clipping=False,
        episodic_life=False,
        **options,
    )


def cpp_seed(seed: int | None, num_envs: int) -> int | None:
    """A seed the C++ env takes for all ``num_envs`` (it seeds env i with ``seed + i``, and
    each must fit 32 bits); any integer a caller passes is folded into that range."""
    return None if seed is None else seed % (2**31 - num_envs)


class AleVecEnv(BatchedVecEnv):
    """ale-py's native ``AtariVectorEnv`` as an SB3 ``VecEnv`` that reports true game scores.

    The C++ env runs without reward clipping and without episodic life, so it plays whole
    games; this wrapper clips rewards for the learner (when ``clip_rewards``), ends the
    learner's episode at a life loss (when ``terminal_on_life_loss``) and puts the true score
    and length of each finished game into ``info["episode"]``, as SB3's ``Monitor`` does.
    """

    def __init__(
        self,
        env_id: str,
        num_envs: int,
        *,
        repeat_action_probability: float = STICKY_ACTIONS,
        terminal_on_life_loss: bool = True,
        clip_rewards: bool = True,
        noop_max: int = NOOP_MAX,
        num_threads: int = 0,
    ) -> None:
        self.env_id = resolve_env_id(env_id)
        self.render_mode = None  # frames stay in C++; videos come from make_eval_env
        self.env = cpp_vector_env(
            self.env_id,
            num_envs,
            num_threads=num_threads,
            repeat_action_probability=repeat_action_probability,
            noop_max=noop_max,
        )
        super().__init__(num_envs, self.env.single_observation_space, self.env.single_action_space)
        self.games = GameTracker(
            num_envs, terminal_on_life_loss=terminal_on_life_loss, clip_rewards=clip_rewards
        )
        self._actions: np.ndarray | None = None
        self._start = time.time()

    def reset(self) -> VecEnvObs:
        seed = self._seeds[0] if self._seeds and self._seeds[0] is not None else None
        obs, info = self.env.reset(seed=cpp_seed(seed, self.num_envs))
        self._reset_seeds()
        self.games.reset(info["lives"])
        return obs

    def step_async(self, actions: np.ndarray) -> None:
        self._actions = np.asarray(actions, dtype=np.int64).reshape(self.num_envs)

    def step_wait(self) -> VecEnvStepReturn:
        assert self._actions is not None, "step_async() must come first"
        obs, rewards, terminated, truncated, info = self.env.step(self._actions)
        step = self.games.step(rewards, terminated, truncated, info["lives"])
        infos: list[dict[str, Any]] = [{} for _ in range(self.num_envs)]
        for i in np.flatnonzero(step.dones):
            infos[i]["terminal_observation"] = info["final_obs"][i] if step.game_over[i] else obs[i]
            infos[i]["TimeLimit.truncated"] = bool(step.truncated[i])
        for i in np.flatnonzero(step.game_over):
            infos[i]["episode"] = {
                "r": float(step.scores[i]),
                "l": int(step.lengths[i]),
                "t": round(time.time() - self._start, 6),
            }
        return obs, step.learner_rewards, step.dones, infos


def make_vec_env(
    env_id: str,
    n_envs: int,
    *,
    seed: int | None = None,
    backend: Backend = "ale",
    training: bool = True,
    repeat_action_probability: float = STICKY_ACTIONS,
    noop_max: int = NOOP_MAX,
) -> VecEnv:
    """An Atari ``VecEnv`` with (n_envs, 4, 84, 84) uint8 observations, seeded with ``seed``.

    ``training`` turns on life-loss terminals and reward clipping; evaluation turns both off.
    """
    env_id = resolve_env_id(env_id)
    if backend == "ale":
        env: VecEnv = AleVecEnv(
            env_id,
            n_envs,
            repeat_action_probability=repeat_action_probability,
            terminal_on_life_loss=training,
            clip_rewards=training,
            noop_max=noop_max,
        )
    elif backend == "sb3":
        from stable_baselines3.common.env_util import make_atari_env

        env = make_atari_env(
            env_id,
            n_envs=n_envs,
            seed=seed,
            wrapper_kwargs={
                "noop_max": noop_max,
                "frame_skip": FRAME_SKIP,
                "screen_size": SCREEN_SIZE,
                "terminal_on_life_loss": training,
                "clip_reward": training,
            },
            env_kwargs={
                "frameskip": 1,
                "repeat_action_probability": repeat_action_probability,
                "max_num_frames_per_episode": MAX_EPISODE_FRAMES,
            },
        )
        env = VecTransposeImage(VecFrameStack(env, n_stack=FRAME_STACK))
    else:
        raise ValueError(f"unknown backend {backend!r}; expected one of {', '.join(BACKENDS)}")
    env.seed(seed)
    return env


class FireNoopReset(gym.Wrapper):
    """Reset as ale-py's C++ env does: one FIRE frame (games with FIRE), then random no-ops.

    The no-op count is U{0..noop_max-1}, one fewer when FIRE was pressed; frames are single
    ALE frames, so this wrapper sits under ``AtariPreprocessing``.
    """

    def __init__(self, env: gym.Env, noop_max: int = NOOP_MAX) -> None:
        super().__init__(env)
        self.noop_max = noop_max
        self.has_fire = env.unwrapped.get_action_meanings()[FIRE] == "FIRE"

    def reset(self, **kwargs: Any) -> tuple[Any, dict[str, Any]]:
        obs, info = self.env.reset(**kwargs)
        noops = int(self.np_random.integers(0, self.noop_max)) if self.noop_max > 0 else 0
        steps = [FIRE] * self.has_fire + [0] * max(0, noops - self.has_fire)
        for action in steps:
            obs, _, terminated, truncated, info = self.env.step(action)
            if terminated or truncated:
                obs, info = self.env.reset()
        return obs, info


def make_eval_env(
    env_id: str,
    *,
    repeat_action_probability: float = STICKY_ACTIONS,
    noop_max: int = NOOP_MAX,
    render: bool = False,
) -> gym.Env:
    """One Atari env under the protocol, for evaluation: whole games, true scores.

    Observations are (4, 84, 84) uint8 like the training envs'; with ``render`` the env's
    ``render()`` returns the 210x160 RGB screen for videos.
    """
    env = gym.make(
        resolve_env_id(env_id),
        frameskip=1,
        repeat_action_probability=repeat_action_probability,
        max_num_frames_per_episode=MAX_EPISODE_FRAMES,
        render_mode="rgb_array" if render else None,
    )
    env = FireNoopReset(env, noop_max=noop_max)
    env = gym.wrappers.AtariPreprocessing(
        env,
        noop_max=0,
        frame_skip=FRAME_SKIP,
        screen_size=SCREEN_SIZE,
        terminal_on_life_loss=False,
        grayscale_obs=True,
        scale_obs=False,
    )
    return gym.wrappers.FrameStackObservation(env, FRAME_STACK, padding_type="zero")

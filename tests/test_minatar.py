"""The torch MinAtar games against the ``minatar`` package, step for step, and their API."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch
from devices import DEVICES
from minatar_reference import channels_first, paired

import coordrl.envs.minatar
from coordrl.envs.minatar import GAMES, env_id

STEPS = {"freeway": 5100}  # two 2,501-frame episodes; the others end far sooner
RAMPS_IN_RANDOM_PLAY = {"asterix", "seaquest"}  # the others: on events random play rarely reaches


@pytest.mark.parametrize("game", list(GAMES))
@pytest.mark.parametrize(
    "options",
    [
        {},
        {"minimal_action_set": False, "sticky_action_prob": 0.3},
        {"difficulty_ramping": False},
        pytest.param({"device": "cuda"}, marks=pytest.mark.cuda),
    ],
    ids=["defaults", "full-actions-sticky-0.3", "no-ramping", "cuda"],
)
def test_every_step_equals_the_minatar_package(game, options):
    seeds = [3, 14, 15]
    env, refs = paired(game, seeds, **options)
    obs, _ = env.reset()  # draws again, as a reference reset would: keep them in step
    for ref in refs:
        ref.game.reset()
    rng = np.random.default_rng(0)
    episodes, ramps = 0, 0
    for step in range(STEPS.get(game, 2500)):
        assert np.array_equal(
            obs.cpu().numpy(), np.stack([channels_first(ref.game.state()) for ref in refs])
        ), f"{game}: observations differ before step {step}"
        actions = rng.integers(env.single_action_space.n, size=len(refs))
        obs, reward, terminated, truncated, info = env.step(torch.as_tensor(actions))
        reward, terminated = reward.cpu(), terminated.cpu()
        for i, ref in enumerate(refs):
            state, ref_reward, done, _, _ = ref.step(int(actions[i]))
            assert reward[i].item() == ref_reward, f"{game}: reward, env {i}, step {step}"
            assert terminated[i].item() == done, f"{game}: terminal, env {i}, step {step}"
            if done:
                assert np.array_equal(info["final_obs"][i].cpu().numpy(), channels_first(state))
                ref.reset()
                episodes += 1
        assert not truncated.any()
        ramps = max(ramps, int(getattr(env, "ramp_index", torch.zeros(1)).max()))
    assert episodes >= len(refs), f"{game}: only {episodes} episodes ended"
    if game in RAMPS_IN_RANDOM_PLAY:  # the difficulty ramped, unless told not to
        assert (ramps > 0) == options.get("difficulty_ramping", True), ramps


@pytest.mark.parametrize("game", list(GAMES))
def test_spaces_dtypes_and_ids(game):
    env = gym.make_vec(env_id(game), num_envs=5)
    channels = len(GAMES[game].channels)
    assert env.single_observation_space.shape == (channels, 10, 10)
    assert env.observation_space.shape == (5, channels, 10, 10)
    obs, _ = env.reset(seed=0)
    assert obs.dtype == torch.uint8 and obs.shape == (5, channels, 10, 10)
    assert set(obs.unique().tolist()) <= {0, 1}
    assert env.single_action_space.n == len(GAMES[game].minimal_actions)
    full = gym.make_vec(env_id(game), num_envs=2, minimal_action_set=False)
    assert full.single_action_space.n == 6
    assert env_id(game).startswith("coordrl/MinAtar-") and coordrl.envs.minatar


@pytest.mark.parametrize("game", list(GAMES))
@pytest.mark.parametrize("device", DEVICES)
def test_same_seed_same_play(game, device):
    def play(seed: int) -> list[torch.Tensor]:
        env = GAMES[game](4, device=device)
        obs, _ = env.reset(seed=seed)
        assert obs.device.type == device
        actions = torch.Generator().manual_seed(1)
        seen = [obs]
        for _ in range(300):
            chosen = torch.randint(env.single_action_space.n, (4,), generator=actions).to(device)
            obs, reward, terminated, *_ = env.step(chosen)
            seen += [obs, reward, terminated]
        return seen

    first, again, other = play(5), play(5), play(6)
    assert all(torch.equal(a, b) for a, b in zip(first, again, strict=True))
    assert not all(torch.equal(a, b) for a, b in zip(first, other, strict=True))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"num_envs": 0}, "num_envs must be a positive integer"),
        ({"sticky_action_prob": 1.5}, "sticky_action_prob must be a probability in [0, 1]"),
        ({"sticky_action_prob": -0.1}, "sticky_action_prob must be a probability"),
        ({"device": "cuda:9"}, "device 'cuda:9'"),
    ],
)
def test_bad_arguments_are_clear_value_errors(kwargs, message):
    kwargs = {"num_envs": 2, **kwargs}
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        GAMES["breakout"](kwargs.pop("num_envs"), **kwargs)


def test_space_invaders_ramps_after_a_cleared_wave_as_the_package_does():
    env, (ref,) = paired("space_invaders", [7], sticky_action_prob=0.0)
    game = ref.game.env
    game.alien_map[:] = 0
    game.alien_map[8, 5] = 1  # the last alien, right above the cannon, about to be shot
    game.alien_move_timer = 5
    env.aliens[:] = False
    env.aliens[0, 8, 5] = True
    env.move_timer[:] = 5
    fire = GAMES["space_invaders"].minimal_actions.index("f")
    rng = np.random.default_rng(1)
    for step in range(400):
        action = fire if step == 0 else int(rng.integers(env.single_action_space.n))
        obs, reward, terminated, _, info = env.step(torch.tensor([action]))
        state, ref_reward, done, _, _ = ref.step(action)
        assert (reward.item(), terminated.item()) == (ref_reward, done), step
        if done:
            assert np.array_equal(info["final_obs"][0].numpy(), channels_first(state))
            state, _ = ref.reset()
        assert np.array_equal(obs[0].numpy(), channels_first(state)), step
        if step == 0:  # the wave was cleared: a faster one came
            assert reward.item() == 1 and env.ramp_index.item() == game.ramp_index == 1
            assert env.move_interval.item() == game.enemy_move_interval == 11


@pytest.mark.parametrize(
    "state",
    [
        {"diver_count": 6, "sub_y": 1, "oxygen": 150, "surface": False},  # 6 divers up: a bonus
        {"e_spawn_speed": 1, "move_speed": 2, "ramp_index": 30},  # the fastest, most crowded
    ],
    ids=["six-divers", "crowded"],
)
def test_seaquest_from_hand_set_states_as_the_package_plays_them(state):
    env, refs = paired("seaquest", [21, 22], sticky_action_prob=0.0)
    for i, ref in enumerate(refs):
        for name, value in state.items():
            setattr(ref.game.env, name, value)
            getattr(env, name)[i] = value
    env.surface[:] = torch.tensor([ref.game.env.surface for ref in refs])
    up = GAMES["seaquest"].minimal_actions.index("u")
    rng = np.random.default_rng(2)
    most = 0
    for step in range(600):
        actions = rng.integers(6, size=2).tolist()
        if step == 0:
            actions = [up, up]
        elif "move_speed" in state and step < 400:  # waiting on the surface: the lists fill
            actions = [0, 0]
        obs, reward, terminated, _, info = env.step(torch.tensor(actions))
        for i, ref in enumerate(refs):
            ref_state, ref_reward, done, _, _ = ref.step(actions[i])
            assert (reward[i].item(), terminated[i].item()) == (ref_reward, done), (step, i)
            if done:
                assert np.array_equal(info["final_obs"][i].numpy(), channels_first(ref_state))
                ref_state, _ = ref.reset()
            assert np.array_equal(obs[i].numpy(), channels_first(ref_state)), (step, i)
        most = max(most, *(int(o.count.max()) for o in env.lists.values()))
        if step == 0 and "diver_count" in state:  # 150 oxygen -> 7 points, then -1 divers
            assert reward.tolist() == [7.0, 7.0] and env.diver_count.tolist() == [-1, -1]
    if "move_speed" in state:
        assert most >= 12  # the lists did fill up

"""ale-py's Atari env as a torch vector env: the same games as the SB3 wrapper, on any device."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from devices import DEVICES

from coordrl.envs.atari import AleVecEnv
from coordrl.envs.atari_device import AtariTorchEnv


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("training", [True, False])
def test_the_adapter_sees_what_the_sb3_wrapper_sees(device, training):
    """Same seed, same actions: frames, learner rewards and ends, and whole-game scores agree
    at every step, life losses and game overs included."""
    n, steps = 3, 1500
    sb3 = AleVecEnv("Breakout", n, terminal_on_life_loss=training, clip_rewards=training)
    ours = AtariTorchEnv("Breakout", n, device=device, training=training, final_obs=True)
    sb3.seed(7)
    expected_obs = sb3.reset()
    obs, _ = ours.reset(seed=7)
    assert obs.device.type == torch.device(device).type and obs.dtype == torch.uint8
    assert np.array_equal(obs.cpu().numpy(), expected_obs)
    rng = np.random.default_rng(0)
    ends = games = 0
    for _ in range(steps):
        actions = rng.integers(0, 4, n)
        expected_obs, expected_rewards, expected_dones, infos = sb3.step(actions)
        obs, rewards, terminated, truncated, info = ours.step(torch.as_tensor(actions))
        assert np.array_equal(obs.cpu().numpy(), expected_obs)
        assert np.array_equal(rewards.cpu().numpy(), expected_rewards)
        assert np.array_equal((terminated | truncated).cpu().numpy(), expected_dones)
        game_over = info["_episode"].cpu().numpy()
        assert game_over.tolist() == ["episode" in i for i in infos]
        for i in np.flatnonzero(game_over):
            assert info["episode_return"][i].item() == infos[i]["episode"]["r"]
            assert info["episode_length"][i].item() == infos[i]["episode"]["l"]
        for i in np.flatnonzero(expected_dones):
            final = info["final_obs"][i].cpu().numpy()
            assert np.array_equal(final, infos[i]["terminal_observation"])
        ends += int(expected_dones.sum())
        games += int(game_over.sum())
    sb3.close()
    ours.close()
    assert games > 0, "random Breakout games end within 1500 steps"
    if training:
        assert ends > games  # lost lives end the learner's episodes between game overs
    else:
        assert ends == games


@pytest.mark.parametrize("training", [True, False])
def test_the_learner_gets_clipped_rewards_in_training_only(training):
    env = AtariTorchEnv("SpaceInvaders", 2, training=training)
    env.reset(seed=0)
    rewards = torch.stack([env.step(torch.tensor([1, 1]))[1] for _ in range(300)])
    env.close()
    assert (rewards.max().item() > 1.0) == (not training)  # aliens are worth 5 to 30 points


def test_groups_stepped_in_turn_play_the_games_of_one_env():
    """Four envs as two groups of two, sent and received in turn (as a trainer overlaps
    them), see exactly what one env of four sees for the same actions."""
    whole = AtariTorchEnv("Breakout", 4)
    halves = AtariTorchEnv("Breakout", 4, env_batch_size=2)
    assert halves.groups == (slice(0, 2), slice(2, 4)) and whole.groups == (slice(0, 4),)
    assert torch.equal(whole.reset(seed=3)[0], halves.reset(seed=3)[0])
    rng = np.random.default_rng(0)
    games = 0
    for _ in range(400):
        actions = torch.as_tensor(rng.integers(0, 4, 4))
        expected = whole.step(actions)
        halves.send(0, actions[:2])
        halves.send(1, actions[2:])
        first, second = halves.recv(0), halves.recv(1)
        for i in range(4):
            assert torch.equal(expected[i], torch.cat([first[i], second[i]]))
        for key in ("episode_return", "episode_length", "_episode"):
            assert torch.equal(expected[4][key], torch.cat([first[4][key], second[4][key]]))
        games += int(expected[4]["_episode"].sum())
    assert games > 0
    whole.close()
    halves.close()


def test_bad_env_and_env_counts_are_refused():
    with pytest.raises(ValueError, match="unknown Atari env 'Breakot'"):
        AtariTorchEnv("Breakot", 2)
    with pytest.raises(ValueError, match="num_envs must be a positive integer"):
        AtariTorchEnv("Breakout", 0)
    with pytest.raises(ValueError, match=r"env_batch_size must divide the number of envs \(8\)"):
        AtariTorchEnv("Breakout", 8, env_batch_size=3)

"""The on-device PPO: it learns, its network is SB3's, its GAE is right, it stays on device."""

from __future__ import annotations

import pytest
import torch
from stable_baselines3 import PPO

from agents.device_ppo import ActorCritic, DevicePPO, PPOSettings
from coordrl.extractors import make_policy_kwargs
from envs.toy import NavigateEnv, PointEnv
from envs.toy.sb3 import SB3VecEnv

SMALL = PPOSettings(n_steps=8, batch_size=128, n_epochs=4, learning_rate=1e-3, linear_lr=False)


@pytest.mark.parametrize("arch", ["conv", "coordconv"])
def test_a_short_run_improves_its_return(arch):
    torch.manual_seed(0)
    env = PointEnv(64, canvas=36, bins=6)
    ppo = DevicePPO(env, SMALL, arch=arch, seed=0)
    log = []
    ppo.learn(64 * 8 * 20, on_rollout=lambda stats: log.append(stats))
    assert ppo.num_timesteps == 64 * 8 * 20 and len(log) == 20
    first = sum(s.success_rate for s in log[:3]) / 3
    last = sum(s.success_rate for s in log[-3:]) / 3
    assert last > first + 0.3, (first, last)
    assert log[-1].mean_return > log[0].mean_return
    assert all(s.sps > 0 and s.episodes == 64 * 8 for s in log)


def test_cartesian_pointing_learns_with_a_gaussian_policy():
    torch.manual_seed(0)
    env = PointEnv(64, canvas=36, action="xy")
    settings = PPOSettings(
        n_steps=8, batch_size=128, n_epochs=4, learning_rate=1e-3, linear_lr=False, ent_coef=0.0
    )
    ppo = DevicePPO(env, settings, arch="coordconv", seed=0)
    assert ppo.buffers["actions"].shape == (8, 64, 2)
    assert ppo.buffers["actions"].dtype == torch.float32
    log = []
    ppo.learn(64 * 8 * 20, on_rollout=lambda stats: log.append(stats))
    first = sum(s.mean_return for s in log[:3]) / 3
    last = sum(s.mean_return for s in log[-3:]) / 3
    assert last > first + 0.05, (first, last)
    head, _ = ppo.model(env.reset(seed=1)[0])
    assert ppo.model.mode(head).shape == (64, 2)


@pytest.mark.parametrize("action", ["cells", "xy"])
def test_the_network_is_the_one_sb3_ppo_builds(action):
    env = PointEnv(2, action=action)
    ours = ActorCritic(env.single_observation_space, env.single_action_space, arch="coordconv")
    sb3 = PPO(
        "CnnPolicy",
        SB3VecEnv(PointEnv(2, action=action)),
        policy_kwargs=make_policy_kwargs("coordconv"),
    )
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    assert count(ours) == count(sb3.policy)
    assert type(ours.extractor) is type(sb3.policy.features_extractor)


def test_gae_matches_a_hand_computed_case():
    env = NavigateEnv(1, canvas=36)
    ppo = DevicePPO(env, PPOSettings(n_steps=3, batch_size=3, gamma=0.5, gae_lambda=0.5))
    b = ppo.buffers
    b["rewards"][:, 0] = torch.tensor([1.0, 0.0, 2.0])
    b["values"][:, 0] = torch.tensor([0.5, 1.0, 0.0])
    b["dones"][:, 0] = torch.tensor([0.0, 1.0, 0.0])  # the episode ends after step 1
    ppo._advantages(torch.tensor([4.0]))
    # step 2: 2 + 0.5 * 4 - 0 = 4; step 1 (terminal): 0 - 1 = -1;
    # step 0: delta = 1 + 0.5 * 1 - 0.5 = 1, advantage = 1 + 0.25 * (-1) = 0.75
    torch.testing.assert_close(b["advantages"][:, 0], torch.tensor([0.75, -1.0, 4.0]))
    torch.testing.assert_close(b["returns"][:, 0], torch.tensor([1.25, 0.0, 4.0]))


def test_rollout_buffers_live_on_the_env_device():
    ppo = DevicePPO(PointEnv(8, canvas=36), PPOSettings(n_steps=4, batch_size=32))
    ppo.learn(32)
    assert all(t.device == ppo.env.device for t in ppo.buffers.values())
    assert next(ppo.model.parameters()).device == ppo.env.device


def test_batch_size_must_divide_the_rollout():
    with pytest.raises(ValueError, match="multiple of batch_size"):
        DevicePPO(PointEnv(3, canvas=36), PPOSettings(n_steps=5, batch_size=4))


def test_time_limited_envs_hand_over_their_last_observation_for_bootstrapping():
    assert DevicePPO(NavigateEnv(4, canvas=36), PPOSettings(n_steps=8, batch_size=32)).env.final_obs
    assert not DevicePPO(
        PointEnv(4, canvas=36), PPOSettings(n_steps=8, batch_size=32)
    ).env.final_obs

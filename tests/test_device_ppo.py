"""The on-device PPO: it learns, its network is SB3's, its GAE is right, it stays on device."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from devices import DEVICES
from stable_baselines3 import PPO

from coordrl.agents.actor_critic import ActorCritic
from coordrl.agents.device_ppo import DevicePPO
from coordrl.envs.toy import NavigateEnv, PointEnv
from coordrl.envs.toy.sb3 import SB3VecEnv
from coordrl.episodes import Episodes
from coordrl.extractors import make_policy_kwargs
from coordrl.lifecycle import Progress
from coordrl.settings import Linear, PPOSettings, value_at

SMALL = PPOSettings(n_steps=8, batch_size=128, n_epochs=4, learning_rate=1e-3)


def collect(log: list[Progress]):
    """A report callback that keeps every Progress and never stops the run."""
    return lambda progress: log.append(progress) or True


def mean(log: list[Progress], column: str) -> float:
    return float(np.mean([getattr(p.episodes, column).mean() for p in log]))


@pytest.mark.parametrize("arch", ["conv", "coordconv"])
@pytest.mark.parametrize("device", DEVICES)
def test_a_short_run_improves_its_return(arch, device):
    torch.manual_seed(0)
    env = PointEnv(64, canvas=36, bins=6, device=device)
    ppo = DevicePPO(env, SMALL, arch=arch, seed=0)
    log: list[Progress] = []
    ppo.learn(64 * 8 * 20, collect(log))
    assert ppo.num_timesteps == 64 * 8 * 20 and len(log) == 20
    first, last = mean(log[:3], "success"), mean(log[-3:], "success")
    assert last > first + 0.3, (first, last)
    assert mean(log[-1:], "score") > mean(log[:1], "score")
    assert all(len(p.episodes) == 64 * 8 for p in log)  # every pointing episode is one step


def test_each_reported_episode_is_the_one_the_env_ended():
    env = NavigateEnv(16, canvas=36, max_steps=5)
    ppo = DevicePPO(env, PPOSettings(n_steps=8, batch_size=32), seed=3)
    log: list[Progress] = []
    ppo.learn(16 * 8 * 3, collect(log))
    assert [p.step for p in log] == [128, 256, 384]
    episodes = Episodes(
        *(np.concatenate([getattr(p.episodes, c) for p in log]) for c in Episodes.__annotations__)
    )
    # every env ends an episode within 5 steps, so each env has at least one per rollout
    assert len(episodes) >= 16 * 3 and set(episodes.env.tolist()) == set(range(16))
    assert (episodes.step % 16 == 0).all() and (episodes.step >= 16).all()
    assert ((episodes.length >= 1) & (episodes.length <= 5)).all()
    assert set(episodes.success.tolist()) <= {0.0, 1.0}
    for env_index in range(16):  # an env's episodes follow each other: lengths add up
        mine = episodes.step[episodes.env == env_index] // 16
        lengths = episodes.length[episodes.env == env_index]
        assert (np.diff(mine) == lengths[1:]).all()


def test_schedules_decay_the_learning_rate_and_the_clip_range():
    env = PointEnv(8, canvas=36)
    settings = PPOSettings(
        n_steps=4, batch_size=32, learning_rate=Linear(1e-3), clip_range=Linear(0.2)
    )
    ppo = DevicePPO(env, settings)
    seen = []
    original = ppo._update

    def update(remaining):  # the fraction of training left, which sets the clip range
        seen.append((ppo.optimizer.param_groups[0]["lr"], value_at(settings.clip_range, remaining)))
        return original(remaining)

    ppo._update = update
    ppo.learn(32 * 4)
    expected = [(1e-3 * f, 0.2 * f) for f in (1.0, 0.75, 0.5, 0.25)]
    assert np.allclose(seen, expected)


def test_cartesian_pointing_learns_with_a_gaussian_policy():
    torch.manual_seed(0)
    env = PointEnv(64, canvas=36, action="xy")
    settings = PPOSettings(n_steps=8, batch_size=128, n_epochs=4, learning_rate=1e-3, ent_coef=0.0)
    ppo = DevicePPO(env, settings, arch="coordconv", seed=0)
    assert ppo.buffers["actions"].shape == (8, 64, 2)
    assert ppo.buffers["actions"].dtype == torch.float32
    log: list[Progress] = []
    ppo.learn(64 * 8 * 20, collect(log))
    first, last = mean(log[:3], "score"), mean(log[-3:], "score")
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


@pytest.mark.parametrize("device", DEVICES)
def test_rollout_buffers_live_on_the_env_device(device):
    ppo = DevicePPO(PointEnv(8, canvas=36, device=device), PPOSettings(n_steps=4, batch_size=32))
    ppo.learn(32)
    assert ppo.env.device.type == device
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


@pytest.mark.cuda
def test_a_gpu_runs_state_resumes_on_the_cpu_and_back(tmp_path):
    settings = PPOSettings(n_steps=4, batch_size=32)
    gpu = DevicePPO(PointEnv(8, canvas=36, device="cuda"), settings)
    assert gpu.optimizer.param_groups[0]["fused"]  # one Adam kernel per step on the GPU
    gpu.learn(64)
    gpu.save_state(tmp_path)
    cpu = DevicePPO(PointEnv(8, canvas=36), settings)
    cpu.load_state(tmp_path)
    assert cpu.num_timesteps == 64 and not cpu.optimizer.param_groups[0]["fused"]
    theirs = cpu.model.state_dict()
    assert all(torch.equal(v.cpu(), theirs[k]) for k, v in gpu.model.state_dict().items())
    cpu.learn(128)
    cpu.save_state(tmp_path)
    gpu.load_state(tmp_path)
    assert gpu.num_timesteps == 128 and gpu.optimizer.param_groups[0]["fused"]
    gpu.learn(192)
    assert gpu.num_timesteps == 192

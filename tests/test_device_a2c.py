"""The on-device A2C: it learns MinAtar Breakout, one RMSprop step per rollout, resumes."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from devices import DEVICES
from stable_baselines3.common.sb2_compat.rmsprop_tf_like import RMSpropTFLike

from coordrl.agents.device_a2c import DeviceA2C
from coordrl.envs.minatar import BreakoutEnv
from coordrl.lifecycle import Progress
from coordrl.settings import A2CSettings


def scores(log: list[Progress]) -> float:
    return float(np.concatenate([p.episodes.score for p in log]).mean())


@pytest.mark.parametrize("device", DEVICES)
def test_a_short_run_improves_its_breakout_score(device):
    torch.manual_seed(0)
    settings = A2CSettings(learning_rate=2e-3)
    env = BreakoutEnv(16, device=device)
    agent = DeviceA2C(env, settings, arch="conv", network="minatar", seed=0)
    log: list[Progress] = []
    agent.learn(16 * 5 * 1875, lambda p: log.append(p) or True)  # ~13 s here
    assert len(log) == 1875 and agent.num_timesteps == 150_000
    first, last = scores(log[:187]), scores(log[-187:])
    assert last > first + 1.5, (first, last)  # random play scores ~0.4; measured: 3.3


def test_one_rmsprop_step_per_rollout_on_every_transition():
    agent = DeviceA2C(BreakoutEnv(4), A2CSettings(n_steps=3), network="minatar", seed=1)
    assert isinstance(agent.optimizer, RMSpropTFLike)
    assert agent.optimizer.defaults["eps"] == 1e-5 and agent.optimizer.defaults["alpha"] == 0.99
    agent.learn(4 * 3 * 2)
    state = agent.optimizer.state_dict()["state"]
    assert {int(s["step"]) for s in state.values()} == {2}  # two rollouts, two steps


def test_state_round_trip_resumes_the_same_agent(tmp_path):
    agent = DeviceA2C(BreakoutEnv(4), A2CSettings(), arch="coordconv", network="minatar", seed=2)
    agent.learn(40)
    agent.save_state(tmp_path)
    again = DeviceA2C(BreakoutEnv(4), A2CSettings(), arch="coordconv", network="minatar", seed=2)
    again.load_state(tmp_path)
    assert again.num_timesteps == 40
    ours, theirs = agent.model.state_dict(), again.model.state_dict()
    assert all(torch.equal(ours[k], theirs[k]) for k in ours)
    again.learn(80)
    assert again.num_timesteps == 80

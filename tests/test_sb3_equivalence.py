"""The on-device PPO and A2C are SB3's PPO and A2C: same returns, advantages and update.

Both start from identical weights; the on-device trainer collects one rollout on Atari; that
rollout goes into SB3's own ``RolloutBuffer``; then SB3's ``train()`` and the on-device update
each take their step. Returns, advantages (GAE) and every weight afterwards agree to 1e-5.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from atari_helpers import tiny_config
from stable_baselines3.common.logger import configure

from coordrl.agents.builders import build_algorithm
from coordrl.agents.trainers import make_trainer, preflight
from coordrl.config import validate
from coordrl.envs.atari import AleVecEnv

N_ENVS, N_STEPS = 2, 64
HYPERPARAMS = {  # one minibatch of the whole rollout, one epoch: a single gradient step
    "ppo": {"n_steps": N_STEPS, "batch_size": N_ENVS * N_STEPS, "n_epochs": 1},
    "a2c": {"n_steps": N_STEPS},
}
SB3_ONLY = {"a2c": {"optimizer": "rmsprop_tf_like", "optimizer_eps": 1e-5}, "ppo": {}}
CONFIG_HYPERPARAMS = {  # rl-zoo3's Atari values, shared by both implementations
    "ppo": {
        "learning_rate": "lin_2.5e-4",
        "clip_range": "lin_0.1",
        "vf_coef": 0.5,
        "ent_coef": 0.01,
    },
    "a2c": {"learning_rate": 7e-4, "vf_coef": 0.25, "ent_coef": 0.01},
}


def configs(algo: str, arch: str):
    shared = {**HYPERPARAMS[algo], **CONFIG_HYPERPARAMS[algo]}
    device_extra = {"rms_prop_eps": 1e-5} if algo == "a2c" else {}
    ours = tiny_config(f"device_{algo}", arch=arch, n_envs=N_ENVS, seed=3)
    ours["hyperparams"] = {**shared, **device_extra}
    sb3 = {**ours, "algo": algo, "hyperparams": {**shared, **SB3_ONLY[algo]}}
    return (preflight(validate(c, "test"), "test") for c in (ours, sb3))


@pytest.mark.parametrize("arch", ["conv", "coordconv"])
@pytest.mark.parametrize("algo", ["ppo", "a2c"])
def test_one_rollout_gives_the_same_update_as_sb3(algo, arch):
    ours_config, sb3_config = configs(algo, arch)
    ours = make_trainer(ours_config)
    env = AleVecEnv("Breakout", N_ENVS)
    sb3 = build_algorithm(sb3_config, env, torch.device("cpu"))
    sb3.set_logger(configure(None, []))
    policy = sb3.policy
    policy.features_extractor.load_state_dict(ours.model.extractor.state_dict())
    policy.action_net.load_state_dict(ours.model.policy.state_dict())
    policy.value_net.load_state_dict(ours.model.value.state_dict())

    ours._obs, _ = ours.env.reset(seed=0)
    ours._collect()
    b = ours.buffers
    assert b["dones"].any(), "the rollout should cross a lost life (seed 0 does)"
    buffer = sb3.rollout_buffer
    buffer.reset()
    for t in range(N_STEPS):
        episode_start = b["dones"][t - 1] if t else torch.zeros(N_ENVS)
        buffer.add(
            b["obs"][t].numpy(),
            b["actions"][t].numpy(),
            b["rewards"][t].numpy(),
            episode_start.numpy(),
            b["values"][t],
            b["logprobs"][t],
        )
    with torch.no_grad():
        _, last_values = ours.model(ours._obs)
    buffer.compute_returns_and_advantage(last_values, b["dones"][-1].numpy())
    np.testing.assert_allclose(buffer.advantages, b["advantages"].numpy(), atol=1e-5)
    np.testing.assert_allclose(buffer.returns, b["returns"].numpy(), atol=1e-5)

    before = {name: value.clone() for name, value in ours.model.state_dict().items()}
    sb3._current_progress_remaining = 1.0
    sb3.train()
    ours._update(1.0)
    theirs = {
        **{f"extractor.{k}": v for k, v in policy.features_extractor.state_dict().items()},
        **{f"policy.{k}": v for k, v in policy.action_net.state_dict().items()},
        **{f"value.{k}": v for k, v in policy.value_net.state_dict().items()},
    }
    mine = ours.model.state_dict()
    assert set(theirs) == set(mine)
    apart = max((mine[name] - theirs[name]).abs().max().item() for name in mine)
    moved = max((mine[name] - before[name]).abs().max().item() for name in mine)
    print(f"{algo}/{arch}: weights moved up to {moved:.2e}, apart by up to {apart:.2e}")
    assert apart <= 1e-5 and apart <= moved / 100  # the same step, not merely a small one
    env.close()
    ours.close()

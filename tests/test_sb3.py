"""The extractors inside SB3 A2C, PPO, DQN (and sb3-contrib QR-DQN) policies."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from devices import DEVICES
from dot_env import DotQuadrantEnv
from gymnasium import spaces
from stable_baselines3 import A2C, DQN, PPO
from stable_baselines3.common.env_util import make_vec_env

from coordrl import CoordConv2d, to_concat_conv
from coordrl.extractors import make_policy_kwargs

try:
    from sb3_contrib import QRDQN
except ImportError:  # sb3-contrib is an optional extra
    QRDQN = None

OFF_POLICY = {"buffer_size": 200, "learning_starts": 16, "batch_size": 8, "train_freq": 4}
ALGOS = {
    "A2C": (A2C, {"n_steps": 5}),
    "PPO": (PPO, {"n_steps": 16, "batch_size": 16, "n_epochs": 2}),
    "DQN": (DQN, OFF_POLICY),
}
if QRDQN is not None:
    ALGOS["QRDQN"] = (QRDQN, OFF_POLICY)


def build(algo_name: str, arch: str, device: str = "cpu", **extra):
    algo, kwargs = ALGOS[algo_name]
    env = make_vec_env(DotQuadrantEnv, n_envs=2, seed=0)
    return algo(
        "CnnPolicy",
        env,
        policy_kwargs=make_policy_kwargs(arch, features_dim=32, **extra),
        seed=0,
        device=device,
        **kwargs,
    )


def n_params(model) -> int:
    return sum(p.numel() for p in model.policy.parameters())


@pytest.mark.parametrize("algo_name", list(ALGOS))
def test_heads_match_sb3_own_naturecnn_policy(algo_name):
    """conv: SB3's default CnnPolicy exactly; coordconv: plus the coordinate weights only."""
    algo, kwargs = ALGOS[algo_name]
    env = make_vec_env(DotQuadrantEnv, n_envs=1)
    sb3_default = algo("CnnPolicy", env, device="cpu", **kwargs)
    conv, coord = (
        algo("CnnPolicy", env, device="cpu", policy_kwargs=make_policy_kwargs(arch), **kwargs)
        for arch in ("conv", "coordconv")
    )
    assert n_params(conv) == n_params(sb3_default)
    copies = 2 if algo_name in ("DQN", "QRDQN") else 1  # online and target networks
    assert n_params(coord) - n_params(conv) == copies * 2 * 32 * 8 * 8


@pytest.mark.parametrize("arch", ["conv", "coordconv"])
@pytest.mark.parametrize("algo_name", list(ALGOS))
@pytest.mark.parametrize("device", DEVICES)
def test_learn_updates_weights_and_round_trips(algo_name, arch, tmp_path, device):
    model = build(algo_name, arch, device)
    assert model.policy.device.type == device
    before = {k: v.clone() for k, v in model.policy.state_dict().items()}
    model.learn(total_timesteps=96)
    assert model.num_timesteps >= 96
    after = model.policy.state_dict()
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert any("features_extractor.cnn.0.weight" in k for k in changed)
    if arch == "coordconv":
        assert any(k.endswith("cnn.0.coord_weight") for k in changed)
        assert any(isinstance(m, CoordConv2d) for m in model.policy.modules())

    obs = model.get_env().reset()
    actions, _ = model.predict(obs, deterministic=True)
    model.save(tmp_path / "model")
    loaded = type(model).load(tmp_path / "model", device="cpu")
    assert np.array_equal(loaded.predict(obs, deterministic=True)[0], actions)


@pytest.mark.parametrize("algo_name", ["PPO", "DQN"])
def test_with_r_and_all_layers_build_and_train(algo_name):
    model = build(algo_name, "coordconv", coord_layers="all", with_r=True)
    model.learn(total_timesteps=48)
    coord_convs = [m for m in model.policy.modules() if isinstance(m, CoordConv2d)]
    assert coord_convs and all(m.coord_weight.shape[1] == 3 for m in coord_convs)


def test_float_observations_with_normalized_image():
    class FloatDots(DotQuadrantEnv):
        observation_space = spaces.Box(0.0, 1.0, (1, 36, 36), np.float32)

        def _observe(self):
            return super()._observe().astype(np.float32) / 255.0

    env = make_vec_env(FloatDots, n_envs=2, seed=0)
    kwargs = make_policy_kwargs("coordconv", features_dim=32, normalized_image=True)
    model = PPO("CnnPolicy", env, n_steps=16, batch_size=16, policy_kwargs=kwargs, device="cpu")
    model.learn(total_timesteps=32)
    assert model.num_timesteps >= 32


def test_fused_coordconv_trains_in_sb3_exactly_like_concatenation():
    """PPO updates of the fused layer equal those of AddCoords + Conv2d(C + 2), same init."""
    fused, concat = build("PPO", "coordconv"), build("PPO", "coordconv")
    concat.policy.load_state_dict(fused.policy.state_dict())
    layer = fused.policy.features_extractor.cnn[0]
    concat.policy.features_extractor.cnn[0] = to_concat_conv(layer)
    concat.policy.optimizer = concat.policy.optimizer_class(
        concat.policy.parameters(), lr=concat.lr_schedule(1), **concat.policy.optimizer_kwargs
    )
    start = layer.coord_weight.detach().clone()
    for model in (fused, concat):
        model.set_random_seed(0)  # the same env resets and action draws for both
        model.learn(total_timesteps=96)
    dense = concat.policy.features_extractor.cnn[0][1]
    assert not torch.allclose(layer.coord_weight, start)  # trained, not just copied
    trained = torch.cat((layer.weight, layer.coord_weight), dim=1)
    torch.testing.assert_close(trained, dense.weight, rtol=1e-4, atol=1e-6)
    torch.testing.assert_close(layer.bias, dense.bias, rtol=1e-4, atol=1e-6)

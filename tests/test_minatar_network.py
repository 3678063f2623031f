"""MinAtar's network, conv and CoordConv: its layers, its inputs, and SB3 training with it."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from gymnasium import spaces
from stable_baselines3 import A2C, DQN, PPO
from torch import nn

from coordrl import CoordConv2d
from coordrl.agents.actor_critic import ActorCritic
from coordrl.envs.minatar import GAMES
from coordrl.envs.toy.sb3 import SB3VecEnv
from coordrl.extractors import MinAtarCNN, make_extractor, make_policy_kwargs

GRID = spaces.Box(0, 1, (4, 10, 10), np.uint8)


def test_the_network_is_minatars_conv16_3x3_then_linear128():
    net = make_extractor("conv", GRID, network="minatar")
    conv, linear = net.cnn[0], net.linear[0]
    assert type(conv) is nn.Conv2d and (conv.out_channels, conv.kernel_size) == (16, (3, 3))
    assert conv.stride == (1, 1) and conv.padding == (0, 0)
    assert (linear.in_features, linear.out_features) == (16 * 8 * 8, 128)
    assert net.features_dim == 128 and net(torch.rand(2, 4, 10, 10)).shape == (2, 128)


@pytest.mark.parametrize(("with_r", "coordinates"), [(False, 2), (True, 3)])
def test_coordconv_adds_only_the_coordinate_weights(with_r, coordinates):
    conv = make_extractor("conv", GRID, network="minatar")
    coord = make_extractor("coordconv", GRID, network="minatar", with_r=with_r)
    assert isinstance(coord.cnn[0], CoordConv2d) and coord.with_r == with_r
    added = sum(p.numel() for p in coord.parameters()) - sum(p.numel() for p in conv.parameters())
    assert added == coordinates * 16 * 3 * 3


def test_inputs_are_used_as_they_are_not_divided_by_255():
    model = ActorCritic(GRID, spaces.Discrete(3), "conv", network="minatar")
    obs = torch.randint(0, 2, (5, 4, 10, 10), dtype=torch.uint8)
    expected = model.extractor.linear(model.extractor.cnn(obs.float()))
    torch.testing.assert_close(model(obs)[1], model.value(expected).squeeze(-1))


def test_naturecnn_on_a_minatar_grid_names_the_minatar_network():
    with pytest.raises(ValueError, match="use network: minatar"):
        make_extractor("coordconv", GRID)


@pytest.mark.parametrize("algo", [A2C, PPO, DQN])
@pytest.mark.parametrize("arch", ["conv", "coordconv"])
def test_sb3_trains_on_minatar_through_the_adapter(algo, arch):
    env = SB3VecEnv(GAMES["breakout"](4))
    kwargs = {"learning_starts": 16, "buffer_size": 500} if algo is DQN else {"n_steps": 8}
    if algo is PPO:
        kwargs["batch_size"] = 32
    model = algo(
        "CnnPolicy",
        env,
        policy_kwargs=make_policy_kwargs(arch, network="minatar"),
        seed=0,
        device="cpu",
        **kwargs,
    )
    extractor = (
        model.policy.q_net.features_extractor if algo is DQN else model.policy.features_extractor
    )
    assert isinstance(extractor, MinAtarCNN) and (extractor.coord_layers is not None) == (
        arch == "coordconv"
    )
    before = [p.detach().clone() for p in extractor.parameters()]
    model.learn(64)
    assert any(not torch.equal(a, b) for a, b in zip(before, extractor.parameters(), strict=True))

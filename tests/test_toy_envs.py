"""Torch toy RL envs: the vector API, determinism, autoreset, rewards, splits, the numpy
reference agreeing step for step, and the SB3 adapter."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch
from devices import DEVICES
from gymnasium import spaces
from gymnasium.utils.env_checker import check_env
from stable_baselines3 import A2C, DQN, PPO
from stable_baselines3.common.env_checker import check_env as sb3_check_env

import coordrl.envs.toy
from coordrl.envs.toy import NavigateEnv, NavigateNumpyEnv, PointEnv, PointNumpyEnv
from coordrl.envs.toy.sb3 import SB3VecEnv
from coordrl.envs.toy.targets import target_positions
from coordrl.extractors import make_policy_kwargs

IDS = list(coordrl.envs.toy.TASKS.values())


@pytest.mark.parametrize("env_id", IDS)
def test_make_vec_builds_the_torch_env_with_batched_spaces(env_id):
    env = gym.make_vec(env_id, num_envs=5, device="cpu", canvas=40)
    obs, info = env.reset(seed=0)
    channels = 1 if "Point" in env_id else 3
    assert env.single_observation_space.shape == (channels, 40, 40)
    assert env.observation_space.shape == (5, channels, 40, 40)
    assert obs.shape == (5, channels, 40, 40) and obs.dtype == torch.uint8
    assert env.observation_space.contains(obs.numpy())
    actions = torch.as_tensor(env.action_space.sample())
    obs, reward, terminated, _, info = env.step(actions)
    assert obs.shape == (5, channels, 40, 40) and reward.shape == (5,)
    assert reward.dtype == torch.float32 and terminated.dtype == torch.bool
    assert info["success"].shape == (5,) and info["_episode"].dtype == torch.bool


@pytest.mark.parametrize(
    ("env_id", "kwargs"), [*((i, {}) for i in IDS), (IDS[0], {"action": "xy"})]
)
def test_the_numpy_reference_passes_the_checkers(env_id, kwargs):
    check_env(gym.make(env_id, **kwargs).unwrapped)
    sb3_check_env(gym.make(env_id, **kwargs).unwrapped)


@pytest.mark.parametrize("cls", [PointEnv, NavigateEnv])
@pytest.mark.parametrize("device", DEVICES)
def test_same_seed_same_episodes(cls, device):
    def play(seed: int) -> list[torch.Tensor]:
        env = cls(8, device=device)
        obs, _ = env.reset(seed=seed)
        assert obs.device.type == device
        rng = torch.Generator().manual_seed(1)
        seen = [obs]
        for _ in range(40):
            actions = torch.randint(env.single_action_space.n, (8,), generator=rng).to(device)
            obs, reward, *_ = env.step(actions)
            seen += [obs, reward]
        return seen

    first, again, other = play(3), play(3), play(4)
    assert all(torch.equal(a, b) for a, b in zip(first, again, strict=True))
    assert not all(torch.equal(a, b) for a, b in zip(first, other, strict=True))


def test_held_out_positions_never_appear_in_training_resets():
    for split in ("quadrant", "uniform"):
        held_out = {tuple(p) for p in target_positions(64, split, "test").tolist()}
        train = {tuple(p) for p in target_positions(64, split, "train").tolist()}
        assert held_out and train and not held_out & train
        assert len(held_out) + len(train) == 56 * 56
        env = PointEnv(512, split=split)
        env.reset(seed=0)
        seen = set()
        for _ in range(20):  # every step resets all 512 envs: ~10k draws
            seen |= {tuple(p) for p in env.targets.tolist()}
            env.step(torch.zeros(512, dtype=torch.int64))
        assert seen <= train and not seen & held_out
        assert len(seen) > 0.9 * len(train)
    quadrant = target_positions(64, "quadrant", "test")
    assert ((quadrant > 32).all(dim=1)).all() and len(quadrant) == 729
    test_env = PointEnv(64, part="test")
    test_env.reset(seed=0)
    assert (test_env.targets > 32).all()


def test_point_rewards_on_hand_built_states():
    env = PointEnv(3, bins=16)  # cells of 4 px, centres at 1.5, 5.5, ..., 61.5
    env.reset(options={"targets": torch.tensor([[5, 5], [61, 61], [5, 5]])})
    cell = lambda x, y: y * 16 + x  # noqa: E731
    _, reward, terminated, truncated, info = env.step(
        torch.tensor([cell(1, 1), cell(0, 0), cell(15, 15)])
    )
    diagonal = 63 * 2**0.5
    expected = [
        1 - 0.5 * 2**0.5 / diagonal,
        1 - 59.5 * 2**0.5 / diagonal,
        1 - 56.5 * 2**0.5 / diagonal,
    ]
    torch.testing.assert_close(reward, torch.tensor(expected))
    assert info["success"].tolist() == [True, False, False]
    assert terminated.all() and not truncated.any()
    assert info["_episode"].all() and info["episode_length"].tolist() == [1, 1, 1]


def test_navigation_rewards_arrival_and_truncation_on_hand_built_states():
    env = NavigateEnv(2, step=4, max_steps=3, reward="shaped")
    env.reset(
        options={
            "targets": torch.tensor([[20, 20], [40, 40]]),
            "agents": torch.tensor([[20, 29], [0, 0]]),
        }
    )
    obs = env._observe()
    assert obs[0, 0, 28:31, 19:22].eq(255).all() and obs[0, 0].sum() == 9 * 255
    assert obs[0, 1].eq(round(20 * 255 / 63)).all() and obs[1, 2].eq(round(40 * 255 / 63)).all()
    # env 0 steps up (y - 4) from 29 to 25: 5 px away in y, not inside (4) yet; env 1 stays
    _, reward, terminated, _, _ = env.step(torch.tensor([1, 0]))
    torch.testing.assert_close(reward, torch.tensor([4 / 64, 0.0]))
    assert not terminated.any()
    _, reward, terminated, truncated, info = env.step(torch.tensor([1, 0]))  # 25 -> 21: inside
    torch.testing.assert_close(reward, torch.tensor([1 + 4 / 64, 0.0]))
    assert terminated.tolist() == [True, False] and info["success"].tolist() == [True, False]
    assert info["episode_length"][0] == 2 and info["_episode"].tolist() == [True, False]
    _, _, terminated, truncated, info = env.step(torch.tensor([0, 0]))
    assert truncated.tolist() == [False, True] and info["episode_length"][1] == 3
    # autoreset: the ended envs start again, with fresh counters
    assert env.t.tolist() == [1, 0] and env.episode_length.tolist() == [1, 0]


def test_navigation_agents_never_start_inside_the_target():
    env = NavigateEnv(4096, canvas=32)
    env.reset(seed=0)
    assert not ((env.agents - env.targets).abs() <= 4).all(dim=1).any()


def test_point_with_cartesian_actions_rewards_on_hand_built_states():
    env = PointEnv(4, action="xy")  # x = (a + 1) / 2 * 63
    assert env.single_action_space == spaces.Box(-1.0, 1.0, (2,), np.float32)
    env.reset(options={"targets": torch.tensor([[5, 5], [40, 20], [5, 5], [58, 58]])})
    to_action = lambda p: 2 * p / 63 - 1  # noqa: E731
    actions = torch.tensor(
        [
            [to_action(5.0), to_action(5.0)],  # on the centre
            [to_action(44.5), to_action(20.0)],  # 4.5 px off: still inside the square
            [to_action(10.0), to_action(5.0)],  # 5 px off: outside
            [3.0, 7.0],  # beyond the canvas: clipped to (63, 63)
        ]
    )
    _, reward, terminated, _, info = env.step(actions)
    diagonal = 63 * 2**0.5
    expected = [1.0, 1 - 4.5 / diagonal, 1 - 5 / diagonal, 1 - 5 * 2**0.5 / diagonal]
    torch.testing.assert_close(reward, torch.tensor(expected))
    assert info["success"].tolist() == [True, True, False, False]
    assert terminated.all()
    with pytest.raises(ValueError, match="action must be one of cells, xy"):
        PointEnv(2, action="polar")


@pytest.mark.parametrize(
    ("torch_cls", "numpy_cls", "kwargs"),
    [
        (PointEnv, PointNumpyEnv, {}),
        (PointEnv, PointNumpyEnv, {"action": "xy"}),
        (NavigateEnv, NavigateNumpyEnv, {}),
    ],
)
@pytest.mark.parametrize("device", DEVICES)
def test_numpy_reference_and_torch_env_agree_step_for_step(torch_cls, numpy_cls, kwargs, device):
    rng = np.random.default_rng(0)
    for episode in range(20):
        ref = numpy_cls(**kwargs)
        obs_ref, _ = ref.reset(seed=episode)
        env = torch_cls(1, device=device, **kwargs)
        options = {"targets": torch.as_tensor(ref.target, device=device)[None]}
        if hasattr(ref, "agent"):
            options["agents"] = torch.as_tensor(ref.agent, device=device)[None]
        obs, _ = env.reset(options=options)
        assert np.array_equal(obs[0].cpu().numpy(), obs_ref)
        while True:
            if isinstance(ref.action_space, spaces.Box):
                action = rng.uniform(-1.2, 1.2, size=2).astype(np.float32)
            else:
                action = int(rng.integers(ref.action_space.n))
            obs_ref, r_ref, term_ref, trunc_ref, info_ref = ref.step(action)
            obs, reward, terminated, truncated, info = env.step(
                torch.tensor(np.array([action]), device=device)
            )
            assert reward.item() == pytest.approx(r_ref, abs=1e-6)
            assert (terminated.item(), truncated.item()) == (term_ref, trunc_ref)
            assert info["success"].item() == info_ref["success"]
            if term_ref or trunc_ref:
                break
            assert np.array_equal(obs[0].cpu().numpy(), obs_ref)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"num_envs": 0}, "num_envs must be a positive integer"),
        ({"canvas": 12}, "canvas must be an integer >= 18"),
        ({"split": "diagonal"}, "unknown split 'diagonal'"),
        ({"part": "val"}, "unknown part 'val'"),
        ({"device": "cuda:9"}, "device 'cuda:9'"),
        ({"device": "tpu"}, "unknown device 'tpu'"),
    ],
)
def test_bad_arguments_are_clear_value_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        PointEnv(**{"num_envs": 2, **kwargs})
    with pytest.raises(ValueError, match=message):
        gym.make_vec("coordrl/Navigate-v0", **{"num_envs": 2, **kwargs})


def test_unknown_task_id_is_gymnasiums_own_error():
    with pytest.raises(gym.error.Error, match="Point"):
        gym.make_vec("coordrl/Pointt-v0", num_envs=2)


@pytest.mark.parametrize("algo", [PPO, A2C, DQN])
def test_sb3_trains_unchanged_through_the_adapter(algo):
    env = SB3VecEnv(NavigateEnv(4, canvas=36))
    env.seed(0)
    kwargs = {"n_steps": 16} if algo is not DQN else {"learning_starts": 32, "buffer_size": 500}
    if algo is PPO:
        kwargs["batch_size"] = 32
    model = algo("CnnPolicy", env, policy_kwargs=make_policy_kwargs("coordconv"), seed=0, **kwargs)
    model.learn(160)
    assert model.num_timesteps >= 160
    assert len(model.ep_info_buffer) > 0  # episodes reached SB3's monitor bookkeeping
    obs = env.reset()
    actions, _ = model.predict(obs)
    assert actions.shape == (4,)


def test_adapter_reports_sb3_episode_infos():
    env = SB3VecEnv(PointEnv(3))
    env.seed(1)
    obs = env.reset()
    assert obs.shape == (3, 1, 64, 64) and obs.dtype == np.uint8
    env.step_async(np.zeros(3, dtype=np.int64))
    _, rewards, dones, infos = env.step_wait()
    assert dones.all() and rewards.dtype == np.float32
    for i, info in enumerate(infos):
        assert np.array_equal(info["terminal_observation"], obs[i])
        assert info["episode"]["l"] == 1 and info["episode"]["r"] == pytest.approx(rewards[i])
        assert info["is_success"] is False and info["TimeLimit.truncated"] is False

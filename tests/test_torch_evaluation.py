"""Evaluation on torch envs scores one whole episode per env, whatever its length."""

from __future__ import annotations

import numpy as np
import torch
from gymnasium import spaces

from coordrl.agents import torch_evaluation
from coordrl.envs.torch_vector import TorchVectorEnv


class LongerScoresMore(TorchVectorEnv):
    """Env i's episodes last 1 + i % 5 steps and score their length: short ones score less."""

    single_observation_space = spaces.Box(0, 1, (1, 1, 1), np.uint8)
    single_action_space = spaces.Discrete(2)

    def __init__(self, num_envs: int, **options) -> None:
        super().__init__(num_envs, **options)
        self.lengths = 1 + torch.arange(num_envs) % 5
        self.t = torch.zeros(num_envs, dtype=torch.int64)

    def _reset_envs(self, mask, options):
        self.t = torch.where(mask, 0, self.t)

    def _transition(self, actions):
        self.t += 1
        done = self.t >= self.lengths
        return torch.ones(self.num_envs), done, torch.zeros_like(done), None

    def _observe(self):
        return torch.zeros((self.num_envs, 1, 1, 1), dtype=torch.uint8)


def test_each_env_contributes_its_first_episode_not_the_first_to_end(monkeypatch):
    def make(config, device, num_envs, **options):
        return LongerScoresMore(num_envs)

    monkeypatch.setattr(torch_evaluation, "MAX_BATCH", 8)  # batches: 8 + 8 + 4 envs
    monkeypatch.setattr(torch_evaluation, "make_torch_env", make)
    policy = lambda obs: torch.zeros(len(obs), dtype=torch.int64)  # noqa: E731
    returns, success = torch_evaluation.play(None, policy, 20, 0, "cpu")
    expected = torch.cat([1 + torch.arange(n) % 5 for n in (8, 8, 4)]).double()
    assert torch.equal(returns, expected) and success is None
    scores = torch_evaluation.evaluate_scores(None, policy, 20, 0, "cpu")
    assert scores["mean_return"] == float(expected.mean()) and len(scores["scores"]) == 20

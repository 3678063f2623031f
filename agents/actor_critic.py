"""The actor-critic every on-device trainer and evaluator uses, and loading a saved one.

A shared extractor (:mod:`coordrl.extractors`: NatureCNN or MinAtar's network, conv or
CoordConv) with SB3's policy and value heads and SB3's initialisation: the model SB3's
policies train. The on-device trainers (:mod:`coordrl.agents.device_ppo`,
:mod:`coordrl.agents.device_a2c`), the population (:mod:`coordrl.agents.population_net`) and
both evaluators use it; it has its own module so that none of them imports another.
"""

from __future__ import annotations

import math
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import torch
from gymnasium import spaces
from torch import nn
from torch.distributions import Categorical, Distribution, Independent, Normal

from coordrl.config import RunConfig
from coordrl.extractors import make_extractor
from coordrl.runs import RunError


class ActorCritic(nn.Module):
    """A shared extractor (NatureCNN or MinAtar's, conv or CoordConv), a policy head and a
    value head.

    The policy is categorical for a ``Discrete`` action space and a diagonal Gaussian with
    state-independent log standard deviations (initialised to 0) for a ``Box``, as in SB3.
    Initialised as SB3 initialises its ``CnnPolicy`` (``ortho_init``): orthogonal weights
    with gain sqrt(2) in the extractor, 0.01 for the policy head, 1 for the value head, zero
    biases; CoordConv2d's ``coord_weight`` keeps its own initialisation, as under SB3.
    """

    def __init__(
        self,
        observation_space: spaces.Box,
        action_space: spaces.Discrete | spaces.Box,
        arch: str = "coordconv",
        **coord: Any,
    ) -> None:
        """``coord``: the ``network``, and ``coord_layers`` and ``with_r`` of a CoordConv
        ``arch``."""
        super().__init__()
        self.extractor = make_extractor(arch, observation_space, **coord)
        self.continuous = isinstance(action_space, spaces.Box)
        outputs = int(np.prod(action_space.shape)) if self.continuous else int(action_space.n)
        self.policy = nn.Linear(self.extractor.features_dim, outputs)
        self.log_std = nn.Parameter(torch.zeros(outputs)) if self.continuous else None
        self.value = nn.Linear(self.extractor.features_dim, 1)
        for module, gain in ((self.extractor, math.sqrt(2)), (self.policy, 0.01), (self.value, 1)):
            module.apply(lambda m, g=gain: _orthogonal(m, g))

    def forward(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Action logits (or Gaussian means) and state values for uint8 observations."""
        features = self.extractor(obs.float() * self.extractor.input_scale)
        return self.policy(features), self.value(features).squeeze(-1)

    def distribution(self, head: torch.Tensor) -> Distribution:
        """The policy's distribution over actions, from :meth:`forward`'s first output.

        Unvalidated: torch's argument checks read their result on the host, a GPU sync at
        every rollout step and minibatch (our own network makes the logits).
        """
        if self.log_std is None:
            return Categorical(logits=head, validate_args=False)
        scale = self.log_std.exp().expand_as(head)
        return Independent(Normal(head, scale, validate_args=False), 1, validate_args=False)

    def mode(self, head: torch.Tensor) -> torch.Tensor:
        """The most likely action: the best logit, or the Gaussian's mean."""
        return head if self.continuous else head.argmax(-1)


def _orthogonal(module: nn.Module, gain: float) -> None:
    if isinstance(module, nn.Linear | nn.Conv2d):  # as SB3's init_weights
        nn.init.orthogonal_(module.weight, gain=gain)
        if module.bias is not None:
            module.bias.data.fill_(0.0)


def load_network(
    config: RunConfig,
    model_path: Path,
    observation_space: spaces.Box,
    action_space: spaces.Discrete | spaces.Box,
    device: torch.device | str,
) -> ActorCritic:
    """An on-device trainer's network from its ``model.pt`` (or a checkpoint's ``state.pt``),
    in eval mode; a file that is not one, or of another arch, is a ``RunError``."""
    network = ActorCritic(observation_space, action_space, config.arch, **config.network_kwargs).to(
        device
    )
    try:
        state = torch.load(model_path, map_location=device, weights_only=True)
        network.load_state_dict(state["model"])
    except (OSError, RuntimeError, EOFError, KeyError, pickle.UnpicklingError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise RunError(f"cannot load {model_path} as a {config.arch} agent: {reason}") from None
    return network.eval()

"""K actor-critics of MinAtar's shape as one batched computation, and their optimizers.

:class:`PopulationNet` holds the parameters of K :class:`~coordrl.agents.actor_critic.
ActorCritic` s with MinAtar's network stacked along a first axis, and runs all K on their
own observations with batched matrix products (the conv as patches x weights), so K members
cost about one network's per-op overhead. Member k's parameters, read out with
:meth:`member_state`, are an ``ActorCritic`` state dict: a member's checkpoints and model
load into the single-agent trainers and ``coordrl evaluate``. A conv member inside a
CoordConv population has its coordinate weights held at zero, without gradient: it is
exactly a conv network.

:class:`BatchedAdam` and :class:`BatchedRMSpropTF` are torch's Adam and SB3's
``RMSpropTFLike`` over the stacked parameters, with a learning rate per member.
"""

from __future__ import annotations

import math

import torch
from gymnasium import spaces
from torch import nn

from coordrl.agents.actor_critic import ActorCritic
from coordrl.layers import coord_grid

KERNEL = 3  # MinAtar's conv: 16 filters, 3x3, stride 1, no padding
# ActorCritic parameter names -> PopulationNet's
NAMES = {
    "extractor.cnn.0.weight": "conv_weight",
    "extractor.cnn.0.bias": "conv_bias",
    "extractor.cnn.0.coord_weight": "coord_weight",
    "extractor.linear.0.weight": "linear_weight",
    "extractor.linear.0.bias": "linear_bias",
    "policy.weight": "policy_weight",
    "policy.bias": "policy_bias",
    "value.weight": "value_weight",
    "value.bias": "value_bias",
}


class PopulationNet(nn.Module):
    """K MinAtar actor-critics (conv or CoordConv, one shape) evaluated together.

    :param members: each member's own ``ActorCritic`` (its initialisation is theirs).
    :param coordconv: per member, whether it is a CoordConv network. Needs the
        CoordConv members' coordinate channels (``with_r``) to agree.
    """

    def __init__(self, members: list[ActorCritic], coordconv: list[bool]) -> None:
        super().__init__()
        shapes = {tuple(m.extractor.obs_shape) for m in members}
        if len(shapes) != 1 or any(m.continuous for m in members):
            raise ValueError("population members need one observation shape and discrete actions")
        self.obs_shape = shapes.pop()
        coord_members = [m for m, c in zip(members, coordconv, strict=True) if c]
        with_r = {m.extractor.with_r for m in coord_members}
        if len(with_r) > 1:
            raise ValueError("population members' CoordConv layers must agree on with_r")
        self.with_r = bool(with_r and with_r.pop())
        self.has_coords = bool(coord_members)
        self.register_buffer("coord_mask", torch.tensor(coordconv, dtype=torch.float32))
        _, height, width = self.obs_shape
        self.positions = (height - KERNEL + 1) * (width - KERNEL + 1)
        self.filters = members[0].extractor.cnn[0].out_channels
        states = [m.state_dict() for m in members]
        for ours, theirs in self.pairs():
            stacked = [self._member_tensor(s, ours, theirs) for s in states]
            self.register_parameter(ours, nn.Parameter(torch.stack(stacked)))
        if self.has_coords:
            self.register_buffer("coord_patches", self._coord_patches(), persistent=False)

    def pairs(self) -> list[tuple[str, str]]:
        """(our name, ActorCritic's name) for each parameter the population holds."""
        return [
            (ours, theirs)
            for theirs, ours in NAMES.items()
            if ours != "coord_weight" or self.has_coords
        ]

    def _member_tensor(
        self, state: dict[str, torch.Tensor], ours: str, theirs: str
    ) -> torch.Tensor:
        """One member's ``theirs`` from an ``ActorCritic`` state dict, in our layout."""
        if theirs in state:
            return self.to_ours(ours, state[theirs].detach().clone())
        # a conv member's coordinate weights: zero (its output is a plain conv's)
        return torch.zeros(self.filters, 3 if self.with_r else 2, KERNEL, KERNEL)

    def to_ours(self, name: str, tensor: torch.Tensor) -> torch.Tensor:
        """A member's parameter (or optimizer state of one) from ``ActorCritic``'s layout to
        ours. The linear layer's weight is stored inputs x outputs (its gradient then comes
        out of the batched product as stored, with no transposing copy), its inputs
        position-major (the conv output as it comes), not channel-major as ``nn.Flatten``
        orders them. The others as they are."""
        if name != "linear_weight":
            return tensor
        rows = tensor.shape[0]
        by_position = tensor.view(rows, self.filters, self.positions).transpose(1, 2)
        return by_position.reshape(rows, -1).T.contiguous()

    def to_theirs(self, name: str, tensor: torch.Tensor) -> torch.Tensor:
        """The inverse of :meth:`to_ours`."""
        if name != "linear_weight":
            return tensor
        rows = tensor.shape[1]
        by_position = tensor.T.reshape(rows, self.positions, self.filters)
        return by_position.transpose(1, 2).reshape(rows, -1).contiguous()

    def _coord_patches(self) -> torch.Tensor:
        """The coordinate channels' 3x3 patches, (H_out * W_out, coords * 9)."""
        _, height, width = self.obs_shape
        grid = coord_grid(height, width, self.with_r)
        return nn.functional.unfold(grid, KERNEL).squeeze(0).T.contiguous()

    @property
    def size(self) -> int:
        """K, the number of members."""
        return self.conv_weight.shape[0]

    def forward(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Logits (K, B, A) and values (K, B) for uint8 observations (K, B, C, H, W)."""
        k, batch, _, height, width = obs.shape
        positions = (height - KERNEL + 1) * (width - KERNEL + 1)
        # 3x3 patches laid out (position, kh, kw, channel): gathered from a channels-last
        # copy of the input, each patch row is one contiguous run of kw x channels values
        pixels = obs.permute(0, 1, 3, 4, 2).float().contiguous()
        windows = pixels.unfold(2, KERNEL, 1).unfold(3, KERNEL, 1)  # (k, b, y, x, c, kh, kw)
        patches = windows.permute(0, 1, 2, 3, 5, 6, 4).reshape(k, batch * positions, -1)
        filters = self.conv_weight.permute(0, 1, 3, 4, 2).reshape(k, self.conv_weight.shape[1], -1)
        hidden = torch.baddbmm(self.conv_bias[:, None, :], patches, filters.transpose(1, 2))
        hidden = hidden.reshape(k, batch, positions, -1)
        if self.has_coords:
            coord = (self.coord_weight * self.coord_mask[:, None, None, None, None]).flatten(2)
            hidden = hidden + (self.coord_patches @ coord.transpose(1, 2))[:, None]
        hidden = hidden.relu().reshape(k, batch, -1)  # position-major, as linear_weight reads
        features = torch.baddbmm(self.linear_bias[:, None, :], hidden, self.linear_weight)
        features = features.relu()
        logits = torch.baddbmm(
            self.policy_bias[:, None, :], features, self.policy_weight.transpose(1, 2)
        )
        values = torch.baddbmm(
            self.value_bias[:, None, :], features, self.value_weight.transpose(1, 2)
        )
        return logits, values.squeeze(-1)

    def member_state(self, k: int, coordconv: bool) -> dict[str, torch.Tensor]:
        """Member ``k``'s weights as an ``ActorCritic`` state dict (on the CPU)."""
        state = {}
        for ours, theirs in self.pairs():
            if ours == "coord_weight" and not coordconv:
                continue
            state[theirs] = self.to_theirs(ours, getattr(self, ours)[k].detach().cpu().clone())
        return state

    def load_member_state(self, k: int, state: dict[str, torch.Tensor]) -> None:
        """Set member ``k``'s weights from an ``ActorCritic`` state dict."""
        with torch.no_grad():
            for ours, theirs in self.pairs():
                getattr(self, ours)[k].copy_(self._member_tensor(state, ours, theirs))


def member_model(
    observation_space: spaces.Box,
    action_space: spaces.Discrete,
    arch: str,
    seed: int,
    **coord,
) -> tuple[ActorCritic, torch.Tensor]:
    """The network the single-agent trainer builds for ``seed`` (``torch.manual_seed`` then
    ``ActorCritic``), and the CPU generator's state after it: where that trainer's action
    sampling and minibatch order start. The global generator is left as it was."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = ActorCritic(observation_space, action_space, arch, **coord)
        return model, torch.get_rng_state()


def clip_grad_norms(params: list[torch.Tensor], max_norm: torch.Tensor) -> torch.Tensor:
    """Per member, scale the gradients of ``params`` (each (K, ...)) to a total norm of at
    most ``max_norm[k]``, as ``nn.utils.clip_grad_norm_`` does for one network; returns the
    norms before clipping."""
    grads = [p.grad for p in params if p.grad is not None]
    # norms of norms, as clip_grad_norm_ computes them: one read of each gradient, no copy
    per_tensor = torch.stack([torch.linalg.vector_norm(g.flatten(1), dim=1) for g in grads])
    norms = torch.linalg.vector_norm(per_tensor, dim=0)
    scale = (max_norm / (norms + 1e-6)).clamp(max=1.0)
    for grad in grads:
        grad.mul_(_per_member(scale, grad))
    return norms


def _per_member(value: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return value.view(-1, *([1] * (like.dim() - 1)))


class BatchedAdam:
    """torch's Adam (no weight decay) over stacked parameters, a learning rate per member."""

    def __init__(self, params: list[nn.Parameter], eps: float, betas=(0.9, 0.999)) -> None:
        self.params, self.eps, self.betas = params, eps, betas
        self.step_count = 0
        self.exp_avg = [torch.zeros_like(p) for p in params]
        self.exp_avg_sq = [torch.zeros_like(p) for p in params]

    @torch.no_grad()
    def step(self, lr: torch.Tensor) -> None:
        beta1, beta2 = self.betas
        self.step_count += 1
        correction1 = 1 - beta1**self.step_count
        correction2_sqrt = math.sqrt(1 - beta2**self.step_count)
        step_size = lr / correction1
        for p, m, v in zip(self.params, self.exp_avg, self.exp_avg_sq, strict=True):
            m.lerp_(p.grad, 1 - beta1)
            v.mul_(beta2).addcmul_(p.grad, p.grad, value=1 - beta2)
            # made in place, the step size folded in: the weights are the bulk of the traffic
            denom = v.sqrt().div_(correction2_sqrt).add_(self.eps).div_(_per_member(step_size, p))
            p.addcdiv_(m, denom, value=-1)

    def member_state(self, k: int) -> list[dict]:
        """Member ``k``'s state per parameter, as torch's Adam keeps it."""
        step = torch.tensor(float(self.step_count))
        return [
            {"step": step.clone(), "exp_avg": m[k].cpu().clone(), "exp_avg_sq": v[k].cpu().clone()}
            for m, v in zip(self.exp_avg, self.exp_avg_sq, strict=True)
        ]

    def load_member_state(self, k: int, states: list[dict]) -> None:
        for m, v, state in zip(self.exp_avg, self.exp_avg_sq, states, strict=True):
            m[k].copy_(state["exp_avg"])
            v[k].copy_(state["exp_avg_sq"])
        self.step_count = int(states[0]["step"]) if states else 0


class BatchedRMSpropTF:
    """SB3's ``RMSpropTFLike`` (alpha 0.99, no momentum; squares start at one) over stacked
    parameters, a learning rate per member."""

    def __init__(self, params: list[nn.Parameter], eps: float, alpha: float = 0.99) -> None:
        self.params, self.eps, self.alpha = params, eps, alpha
        self.step_count = 0
        self.square_avg = [torch.ones_like(p) for p in params]

    @torch.no_grad()
    def step(self, lr: torch.Tensor) -> None:
        self.step_count += 1
        for p, square in zip(self.params, self.square_avg, strict=True):
            square.mul_(self.alpha).addcmul_(p.grad, p.grad, value=1 - self.alpha)
            # lr folded into the denominator, made in place: the weights are the bulk of the
            # traffic, and each pass over them counts
            denom = square.add(self.eps).sqrt_().div_(_per_member(lr, p))
            p.addcdiv_(p.grad, denom, value=-1)

    def member_state(self, k: int) -> list[dict]:
        """Member ``k``'s state per parameter, as ``RMSpropTFLike`` keeps it."""
        return [
            {"step": self.step_count, "square_avg": s[k].cpu().clone()} for s in self.square_avg
        ]

    def load_member_state(self, k: int, states: list[dict]) -> None:
        for square, state in zip(self.square_avg, states, strict=True):
            square[k].copy_(state["square_avg"])
        self.step_count = int(states[0]["step"]) if states else 0

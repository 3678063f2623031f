"""Population training: K on-device A2C or PPO agents on one game, as one computation.

The members of a sweep that share an env, an algorithm and a network shape differ only in
seed, arm (conv / CoordConv) and per-member hyperparameters; trained one process each, each
spends its time in the per-op overhead of small tensors. Here their envs are one batched env
(:func:`~coordrl.envs.factory.make_population_env`), their networks one
:class:`~coordrl.agents.population_net.PopulationNet`, their losses one backward pass.

Exactness is the contract: member k trains as :class:`~coordrl.agents.device_a2c.DeviceA2C`
/ :class:`~coordrl.agents.device_ppo.DevicePPO` with its config and seed (same weights to
float tolerance): its own initialisation, env generator, action-sampling and minibatch
generator (what the single trainer draws from torch's global one), gradient-norm clipping,
learning-rate and clip-range schedules. Each member's checkpoint is the single trainer's
``state.pt``, so a member resumes alone as an ordinary run.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch.distributions import Categorical

from coordrl.agents.device_ppo import autocast
from coordrl.agents.population_net import (
    BatchedAdam,
    BatchedRMSpropTF,
    PopulationNet,
    clip_grad_norms,
    member_model,
)
from coordrl.config import ConfigError, RunConfig, env_family
from coordrl.device import resolve_device
from coordrl.episodes import Episodes
from coordrl.lifecycle import TrainOutcome
from coordrl.population_lifecycle import train_population
from coordrl.runs import TORCH_MODEL, TORCH_STATE
from coordrl.settings import SETTINGS, A2CSettings, PPOSettings, value_at

if TYPE_CHECKING:
    from torch.utils.tensorboard import SummaryWriter

# hyperparameters each member may set for itself; every other key must agree
PER_MEMBER = frozenset(
    {"learning_rate", "gamma", "gae_lambda", "ent_coef", "vf_coef", "max_grad_norm", "clip_range"}
)
PopulationReport = Callable[[int, list[Episodes]], bool]  # (step, episodes per member)


def shared_settings(config: RunConfig) -> dict[str, Any]:
    """What the members of one population must share: the whole config but its seed, arch
    and per-member hyperparameters (``PER_MEMBER``)."""
    shared = {k: v for k, v in config.to_dict().items() if k not in ("seed", "arch")}
    shared["hyperparams"] = {k: v for k, v in shared["hyperparams"].items() if k not in PER_MEMBER}
    return shared


def _applicable(config: RunConfig) -> str | None:
    """Why no population trains ``config``, or None."""
    if config.algo not in SETTINGS:
        return f"algo: {config.algo}: populations train {' and '.join(SETTINGS)} only"
    if config.network != "minatar" or env_family(config.env) != "minatar":
        return "env and network: populations train MinAtar's games and network only"
    return None


def population_key(config: RunConfig) -> str | None:
    """Equal for configs that can train as one population; None for a config no
    population trains."""
    if _applicable(config) is not None:
        return None
    return json.dumps(shared_settings(config), sort_keys=True, default=str)


def check_population(configs: Sequence[RunConfig], source: str) -> None:
    """One ``ConfigError`` naming what keeps these configs from training as one population."""
    if not configs:
        raise ConfigError(f"{source}: a population needs at least one member")
    problem = _applicable(configs[0])
    if problem is not None:
        raise ConfigError(f"{source}: {problem}")
    first = _dotted(shared_settings(configs[0]))
    for config in configs[1:]:
        other = _dotted(shared_settings(config))
        for key in sorted(first.keys() | other.keys()):
            if first.get(key) != other.get(key):
                raise ConfigError(
                    f"{source}: members differ in {key} ({first.get(key)!r} vs "
                    f"{other.get(key)!r}), which one population shares"
                )


def _dotted(settings: dict[str, Any]) -> dict[str, Any]:
    """``hyperparams`` flattened to ``hyperparams.<key>``, for messages naming the key."""
    flat = {k: v for k, v in settings.items() if k != "hyperparams"}
    flat.update({f"hyperparams.{k}": v for k, v in settings["hyperparams"].items()})
    return flat


@dataclasses.dataclass
class _Member:
    config: RunConfig
    settings: A2CSettings | PPOSettings
    generator: torch.Generator  # action sampling and minibatch order, on the device
    cpu_rng: torch.Tensor  # the CPU generator's state (what the single trainer saves)


class PopulationTrainer:
    """K members of one on-device algorithm (``device_a2c`` or ``device_ppo``) on one game,
    trained in lockstep; ``learn`` runs until every member has ``total_steps`` env steps."""

    model_file = TORCH_MODEL

    def __init__(self, configs: Sequence[RunConfig]) -> None:
        from coordrl.envs.factory import make_population_env

        check_population(configs, "population")
        first = configs[0]
        self.algo = first.algo
        self.device = resolve_device(first.device)
        self.env = make_population_env(first, self.device, len(configs))
        self.n = first.n_envs
        space, actions = self.env.single_observation_space, self.env.single_action_space
        settings_class = SETTINGS[self.algo]
        self.members: list[_Member] = []
        models = []
        for config in configs:
            model, rng = member_model(
                space, actions, config.arch, config.seed, **config.network_kwargs
            )
            generator = _member_generator(self.device, config.seed, rng)
            settings = settings_class(**config.hyperparams)
            self.members.append(_Member(config, settings, generator, rng))
            models.append(model)
        self.settings = self.members[0].settings  # the shared (non-per-member) values
        self.coordconv = [c.arch == "coordconv" for c in configs]
        self.net = PopulationNet(models, self.coordconv).to(self.device)
        self._param_names = [theirs for _, theirs in self.net.pairs()]  # parameters() order
        params = list(self.net.parameters())
        if self.algo == "device_a2c":
            self.optimizer: BatchedAdam | BatchedRMSpropTF = BatchedRMSpropTF(
                params, eps=self.settings.rms_prop_eps
            )
        else:
            self.optimizer = BatchedAdam(params, eps=1e-5)
        self.per_member = {
            key: torch.tensor(
                [float(getattr(m.settings, key)) for m in self.members], device=self.device
            )
            for key in ("gamma", "gae_lambda", "ent_coef", "vf_coef", "max_grad_norm")
        }
        self.num_timesteps = 0
        self._obs: torch.Tensor | None = None
        k, t = len(configs), self.settings.n_steps
        self.settings.check(self.n)
        shape = space.shape
        dev = self.device
        self.buffers = {
            "obs": torch.zeros((t, k, self.n, *shape), dtype=torch.uint8, device=dev),
            "actions": torch.zeros((t, k, self.n), dtype=torch.int64, device=dev),
            "logprobs": torch.zeros((t, k, self.n), device=dev),
            "rewards": torch.zeros((t, k, self.n), device=dev),
            "dones": torch.zeros((t, k, self.n), device=dev),
            "values": torch.zeros((t, k, self.n), device=dev),
        }
        self.ends = {
            "ended": torch.zeros((t, k, self.n), dtype=torch.bool, device=dev),
            "score": torch.zeros((t, k, self.n), dtype=torch.float64, device=dev),
            "length": torch.zeros((t, k, self.n), dtype=torch.int64, device=dev),
        }

    @property
    def size(self) -> int:
        return len(self.members)

    # -- training ------------------------------------------------------------------------

    def learn(
        self,
        total_steps: int,
        report: PopulationReport | None = None,
        writers: Sequence[SummaryWriter] | None = None,
    ) -> None:
        """Train every member to ``total_steps``; ``report`` after each update returning
        False stops; ``writers`` (one per member) get each update's losses."""
        s = self.settings
        if self._obs is None:
            self._reset_envs()
        per_rollout = s.n_steps * self.n
        while self.num_timesteps < total_steps:
            remaining = max(0.0, 1.0 - self.num_timesteps / total_steps)
            lr = self._schedule("learning_rate", remaining)
            episodes = self._collect()
            losses = self._update(remaining, lr)
            self.num_timesteps += per_rollout
            if writers is not None:
                self._log(writers, {**losses, "learning_rate": lr})
            if report is not None and not report(self.num_timesteps, episodes):
                break

    def _reset_envs(self) -> None:
        """Each member's envs start seeded with ``seed + step``, as the single trainer's."""
        for member, generator in zip(self.members, self.env.member_generators, strict=True):
            generator.manual_seed(member.config.seed + self.num_timesteps)
        self._obs, _ = self.env.reset()

    def _schedule(self, key: str, remaining: float) -> torch.Tensor:
        values = [value_at(getattr(m.settings, key), remaining) for m in self.members]
        return torch.tensor(values, device=self.device)

    def _log(self, writers: Sequence[SummaryWriter], values: dict[str, torch.Tensor]) -> None:
        """Each member's figures of this update: one transfer to the host for all."""
        keys = list(values)
        table = torch.stack([values[key].float() for key in keys]).cpu().tolist()
        for k, writer in enumerate(writers):
            for key, row in zip(keys, table, strict=True):
                writer.add_scalar(f"train/{key}", row[k], self.num_timesteps)

    @torch.no_grad()
    def _collect(self) -> list[Episodes]:
        """One rollout of ``n_steps`` in every member's envs; the episodes that ended."""
        b, ends = self.buffers, self.ends
        k, n = self.size, self.n
        assert self._obs is not None
        for t in range(self.settings.n_steps):
            obs = self._obs.view(k, n, *self._obs.shape[1:])
            logits, value = self._forward(obs)
            dist = Categorical(logits=logits, validate_args=False)
            action = self._sample(dist.probs)
            b["obs"][t] = obs
            b["actions"][t] = action
            b["logprobs"][t] = dist.log_prob(action)
            b["values"][t] = value
            self._obs, reward, terminated, truncated, info = self.env.step(action.reshape(-1))
            b["rewards"][t] = reward.view(k, n)
            b["dones"][t] = (terminated | truncated).float().view(k, n)
            ends["ended"][t] = info["_episode"].view(k, n)
            ends["score"][t] = info["episode_return"].view(k, n)
            ends["length"][t] = info["episode_length"].view(k, n)
        _, next_value = self._forward(self._obs.view(k, n, *self._obs.shape[1:]))
        self._advantages(next_value)
        return self._ended_episodes()

    def _forward(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Every member's heads in the settings' precision, as float32."""
        with autocast(self.device, self.settings.precision):
            logits, value = self.net(obs)
        return logits.float(), value.float()

    def _sample(self, probs: torch.Tensor) -> torch.Tensor:
        """Each member's actions from its own generator, as ``Categorical.sample`` draws."""
        return torch.stack(
            [
                torch.multinomial(p, 1, True, generator=m.generator).squeeze(1)
                for p, m in zip(probs, self.members, strict=True)
            ]
        )

    def _ended_episodes(self) -> list[Episodes]:
        """Each member's finished episodes of the rollout, in the order they ended (one
        transfer to the host for all)."""
        e = self.ends
        packed = torch.stack([e["ended"].double(), e["score"], e["length"].double()]).cpu()
        ended, score, length = packed[0].bool(), packed[1], packed[2].long()
        out = []
        for k in range(self.size):
            mine = ended[:, k]
            steps, envs = mine.nonzero(as_tuple=True)
            out.append(
                Episodes(
                    step=(self.num_timesteps + (steps + 1) * self.n).numpy().astype(np.int64),
                    env=envs.numpy().astype(np.int64),
                    score=score[:, k][mine].numpy(),
                    length=length[:, k][mine].numpy(),
                    success=np.full(len(steps), np.nan),
                )
            )
        return out

    def _advantages(self, next_value: torch.Tensor) -> None:
        """GAE(lambda) per member, with its own gamma and lambda."""
        b = self.buffers
        gamma = self.per_member["gamma"][:, None]
        decay = gamma * self.per_member["gae_lambda"][:, None]
        advantages = torch.zeros_like(b["rewards"])
        last = torch.zeros_like(next_value)
        steps = self.settings.n_steps
        for t in reversed(range(steps)):
            following = next_value if t == steps - 1 else b["values"][t + 1]
            alive = 1.0 - b["dones"][t]
            delta = b["rewards"][t] + gamma * following * alive - b["values"][t]
            last = delta + decay * alive * last
            advantages[t] = last
        b["advantages"] = advantages
        b["returns"] = advantages + b["values"]

    def _flat(self) -> dict[str, torch.Tensor]:
        """The rollout per member: (K, n_steps * n, ...), in the single trainer's order."""
        return {
            key: value.transpose(0, 1).reshape(self.size, -1, *value.shape[3:])
            for key, value in self.buffers.items()
        }

    def _losses(
        self, flat: dict[str, torch.Tensor], advantages: torch.Tensor, clip: torch.Tensor | None
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The summed loss of all members and each member's parts, (K,) each."""
        logits, value = self._forward(flat["obs"])
        dist = Categorical(logits=logits, validate_args=False)
        logprob = dist.log_prob(flat["actions"])
        parts: dict[str, torch.Tensor] = {}
        if clip is None:  # A2C
            parts["policy_loss"] = -(advantages * logprob).mean(1)
        else:
            ratio = torch.exp(logprob - flat["logprobs"])
            bound = clip[:, None]
            parts["policy_loss"] = -torch.min(
                advantages * ratio, advantages * torch.clamp(ratio, 1 - bound, 1 + bound)
            ).mean(1)
            parts["clip_fraction"] = ((ratio - 1).abs() > bound).float().mean(1)
        parts["value_loss"] = (value - flat["returns"]).square().mean(1)
        parts["entropy"] = dist.entropy().mean(1)
        m = self.per_member
        loss = parts["policy_loss"] + m["vf_coef"] * parts["value_loss"]
        loss = loss - m["ent_coef"] * parts["entropy"]
        return loss.sum(), parts

    def _step(self, loss: torch.Tensor, lr: torch.Tensor) -> None:
        for p in self.net.parameters():
            p.grad = None
        loss.backward()
        clip_grad_norms(list(self.net.parameters()), self.per_member["max_grad_norm"])
        self.optimizer.step(lr)

    def _update(self, remaining: float, lr: torch.Tensor) -> dict[str, torch.Tensor]:
        flat = self._flat()
        s = self.settings
        if self.algo == "device_a2c":
            advantages = flat["advantages"]
            if s.normalize_advantage:
                advantages = _normalize(advantages)
            loss, parts = self._losses(flat, advantages, None)
            self._step(loss, lr)
            return {key: value.detach() for key, value in parts.items()}
        clip = self._schedule("clip_range", remaining)
        size = flat["actions"].shape[1]
        rows = torch.arange(self.size, device=self.device)[:, None]
        sums: dict[str, torch.Tensor] = {}
        updates = 0
        for _ in range(s.n_epochs):
            order = torch.stack(
                [
                    torch.randperm(size, generator=m.generator, device=self.device)
                    for m in self.members
                ]
            )
            for start in range(0, size, s.batch_size):
                idx = order[:, start : start + s.batch_size]
                batch = {key: value[rows, idx] for key, value in flat.items()}
                advantages = batch["advantages"]
                if s.normalize_advantage and idx.shape[1] > 1:
                    advantages = _normalize(advantages)
                loss, parts = self._losses(batch, advantages, clip)
                self._step(loss, lr)
                for key, value in parts.items():
                    sums[key] = sums.get(key, 0) + value.detach()
                updates += 1
        return {key: total / updates for key, total in sums.items()}

    # -- members as runs -----------------------------------------------------------------

    def member_network(self, k: int) -> dict[str, torch.Tensor]:
        """Member ``k``'s weights: an ``ActorCritic`` state dict."""
        return self.net.member_state(k, self.coordconv[k])

    def _member_optimizer_state(self, k: int) -> dict[str, Any]:
        """Member ``k``'s optimizer as the single trainer's ``state_dict()`` holds it."""
        names = self._names(k)
        states = self.optimizer.member_state(k)
        by_name = {
            theirs: _layout(state, self.net.to_theirs, ours)
            for (ours, theirs), state in zip(self.net.pairs(), states, strict=True)
        }
        if isinstance(self.optimizer, BatchedAdam):
            group = torch.optim.Adam([torch.zeros(1)], eps=1e-5).state_dict()["param_groups"][0]
        else:
            group = {
                "lr": 0.0,
                "alpha": 0.99,
                "eps": self.optimizer.eps,
                "weight_decay": 0,
                "momentum": 0,
                "centered": False,
            }
        group = {**group, "lr": value_at(self.members[k].settings.learning_rate, 1.0)}
        group["params"] = list(range(len(names)))
        return {"state": {i: by_name[n] for i, n in enumerate(names)}, "param_groups": [group]}

    def _names(self, k: int) -> list[str]:
        """Member ``k``'s parameter names in ``ActorCritic.parameters()`` order."""
        return [n for n in self._param_names if self.coordconv[k] or "coord_weight" not in n]

    def save_state(self, folders: Sequence[Path]) -> None:
        """Each member's ``state.pt`` in its folder, in the single trainer's format."""
        for k, folder in enumerate(folders):
            state = {
                "model": self.member_network(k),
                "optimizer": self._member_optimizer_state(k),
                "num_timesteps": self.num_timesteps,
            }
            if self.device.type == "cuda":
                state["torch_rng"] = self.members[k].cpu_rng
                state["cuda_rng"] = self.members[k].generator.get_state()
            else:
                state["torch_rng"] = self.members[k].generator.get_state()
            torch.save(state, folder / TORCH_STATE)

    def load_state(self, folders: Sequence[Path]) -> None:
        """Restore :meth:`save_state` (or single runs' checkpoints at one step)."""
        steps = set()
        for k, folder in enumerate(folders):
            state = torch.load(folder / TORCH_STATE, map_location="cpu", weights_only=True)
            self.net.load_member_state(k, state["model"])
            saved = state["optimizer"]["state"]
            names = self._names(k)
            by_name = {names[i]: saved[i] for i in range(len(names))}
            if isinstance(self.optimizer, BatchedAdam):
                zero = {"step": torch.tensor(0.0)}
                blank = {**zero, "exp_avg": torch.zeros(()), "exp_avg_sq": torch.zeros(())}
            else:
                blank = {"step": 0, "square_avg": torch.ones(())}
            self.optimizer.load_member_state(
                k,
                [
                    _layout(by_name.get(theirs, blank), self.net.to_ours, ours)
                    for ours, theirs in self.net.pairs()
                ],
            )
            member = self.members[k]
            member.cpu_rng = state["torch_rng"]
            if self.device.type != "cuda":
                member.generator.set_state(state["torch_rng"])
            elif "cuda_rng" in state:
                member.generator.set_state(state["cuda_rng"])
            else:  # a CPU run's checkpoint goes on on a GPU: a fresh stream
                member.generator.manual_seed(member.config.seed + int(state["num_timesteps"]))
            steps.add(int(state["num_timesteps"]))
        if len(steps) != 1:
            raise ValueError(f"the members' checkpoints are at different steps: {sorted(steps)}")
        self.num_timesteps = steps.pop()
        self._obs = None

    def save_model(self, paths: Sequence[Path]) -> None:
        """Each member's final network (what ``coordrl evaluate`` loads)."""
        for k, path in enumerate(paths):
            torch.save({"model": self.member_network(k)}, path)

    def close(self) -> None:
        self.env.close()


def _layout(state: dict[str, Any], convert: Callable, name: str) -> dict[str, Any]:
    """A parameter's optimizer state with its tensors put in another layout (``convert``:
    :meth:`PopulationNet.to_ours` or ``to_theirs``)."""
    return {
        key: convert(name, value) if isinstance(value, torch.Tensor) and value.dim() else value
        for key, value in state.items()
    }


def _member_generator(device: torch.device, seed: int, cpu_rng: torch.Tensor) -> torch.Generator:
    """Where the single trainer samples from: torch's CPU generator after building its
    network (``cpu_rng``), or on a GPU the device's, seeded by ``torch.manual_seed(seed)``."""
    generator = torch.Generator(device=device)
    if device.type == "cuda":
        generator.manual_seed(seed)
    else:
        generator.set_state(cpu_rng)
    return generator


def _normalize(advantages: torch.Tensor) -> torch.Tensor:
    """Per member (row): zero mean, unit (unbiased) standard deviation."""
    mean = advantages.mean(1, keepdim=True)
    return (advantages - mean) / (advantages.std(1, keepdim=True) + 1e-8)


def describe_population(configs: Sequence[RunConfig], *, resume: bool) -> str:
    """``training a population of 4 DEVICE_A2C agents on ...``: the line that opens a
    population's output."""
    first, verb = configs[0], "resuming" if resume else "training"
    return (
        f"{verb} a population of {len(configs)} {first.algo.upper()} agents on {first.env} "
        f"for {first.timesteps:,} steps each, {first.n_envs} envs each"
    )


def train(
    configs: Sequence[RunConfig],
    run_dirs: Sequence[Path],
    *,
    resume: bool = False,
    lock_wait_s: float = 0.0,
) -> list[TrainOutcome]:
    """Train (or go on training) ``run_dirs`` as one population, each with its config."""
    check_population(configs, "population")
    return train_population(
        configs,
        run_dirs,
        lambda: PopulationTrainer(configs),
        resume=resume,
        lock_wait_s=lock_wait_s,
    )

"""Supervised training on the toy tasks: one run -> TensorBoard events and a JSON result.

The loop is Adam on shuffled minibatches with a step schedule (x0.1 at 60% and 80% of the
epochs), evaluated on the whole train and test parts after every epoch. Time is the
cumulative training time, evaluation excluded, so "seconds to 100% test accuracy" compares
the models, not the evaluation.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from coordrl.device import resolve_device
from coordrl.errors import ConfigError
from coordrl.not_so_clevr import OFFICIAL_SPLIT_SEED, SPLITS
from coordrl.runs import TORCH_MODEL, TOY_RESULT, atomic_path
from coordrl.toy.data import ToyDataset, make_dataset
from coordrl.toy.models import ARCHS, build_model, count_parameters
from coordrl.toy.tasks import TASKS, Task, get_task

EVAL_BATCH = 64  # (64 x 4096 pixels x 64 channels) activations: ~70 MB per layer


@dataclass(frozen=True)
class ToyConfig:
    """Everything that defines one toy run."""

    task: str = "classification"
    split: str = "quadrant"
    arch: str = "coordconv"
    epochs: int = 10
    lr: float = 0.005
    weight_decay: float = 0.001
    batch_size: int = 32
    seed: int = 0
    device: str = "auto"
    data_seed: int = OFFICIAL_SPLIT_SEED
    stop_when_perfect: bool = True

    def validate(self) -> None:
        """Raise ``ConfigError`` naming the first bad field."""
        if self.task not in TASKS:
            raise ConfigError(f"unknown task {self.task!r}; choose one of {', '.join(TASKS)}")
        if self.split not in SPLITS:
            raise ConfigError(f"unknown split {self.split!r}; choose one of {', '.join(SPLITS)}")
        if self.arch not in ARCHS:
            raise ConfigError(f"unknown arch {self.arch!r}; choose one of {', '.join(ARCHS)}")
        for name in ("epochs", "batch_size"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be a positive integer, got {getattr(self, name)}")
        if not self.lr > 0 or not math.isfinite(self.lr):
            raise ConfigError(f"lr must be a positive number, got {self.lr}")
        if not self.weight_decay >= 0:
            raise ConfigError(f"weight_decay must be >= 0, got {self.weight_decay}")
        resolve_device(self.device)


@dataclass
class ToyResult:
    """What a run measured; ``history`` has one row per epoch."""

    config: dict[str, Any]
    metric: str
    parameters: int
    train_score: float
    test_score: float
    best_test_score: float
    seconds: float
    seconds_to_perfect_test: float | None
    epochs_run: int
    wall_seconds: float = 0.0  # training and evaluation
    history: list[dict[str, float]] = field(default_factory=list)
    test_positions: list[list[int]] = field(default_factory=list)
    test_predictions: list[list[float]] = field(default_factory=list)

    def summary(self) -> str:
        to_perfect = (
            f", perfect test after {self.seconds_to_perfect_test:.1f} s"
            if self.seconds_to_perfect_test is not None
            else ""
        )
        return (
            f"{self.config['task']} / {self.config['split']} / {self.config['arch']}: "
            f"train {self.metric} {self.train_score:.4f}, test {self.metric} "
            f"{self.test_score:.4f} (best {self.best_test_score:.4f}), "
            f"{self.parameters:,} parameters, {self.seconds:.1f} s training "
            f"({self.wall_seconds:.1f} s wall){to_perfect}"
        )


def evaluate(
    model: torch.nn.Module, task: Task, positions: torch.Tensor, device: torch.device
) -> tuple[float, torch.Tensor]:
    """Mean score over ``positions`` and the predicted centres, in eval mode, no gradients."""
    was_training = model.training
    model.eval()
    scores, predicted = [], []
    with torch.no_grad():
        for chunk in positions.split(EVAL_BATCH):
            chunk = chunk.to(device)
            output = model(task.inputs(chunk))
            scores.append(task.scores(output, chunk).cpu())
            predicted.append(task.predicted_positions(output).cpu())
    model.train(was_training)
    return torch.cat(scores).mean().item(), torch.cat(predicted)


def train(
    config: ToyConfig,
    out_dir: str | Path | None = None,
    *,
    dataset: ToyDataset | None = None,
    progress: bool = True,
) -> ToyResult:
    """Train one model; with ``out_dir``, write TensorBoard events, ``model.pt`` (the final
    state dict, for ``build_model(task, arch).load_state_dict``) and ``result.json`` there."""
    config.validate()
    wall_start = time.perf_counter()
    task = get_task(config.task)
    device = resolve_device(config.device)
    torch.manual_seed(config.seed)
    data = dataset or make_dataset(config.split, config.data_seed)  # type: ignore[arg-type]
    model = build_model(config.task, config.arch).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    # The official step schedule (x0.1 at 200, 400, ... of 1000 epochs), scaled: x0.1 at
    # 60% and at 80% of the epochs.
    milestones = sorted({max(1, int(config.epochs * f)) for f in (0.6, 0.8)})
    schedule = torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones, gamma=0.1)
    shuffle = torch.Generator().manual_seed(config.seed)
    train_positions = data.train_positions

    writer = None
    if out_dir is not None:
        from torch.utils.tensorboard import SummaryWriter

        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        writer = SummaryWriter(str(out_dir))

    history: list[dict[str, float]] = []
    seconds, to_perfect, best = 0.0, None, None
    label = f"{config.task}/{config.split}/{config.arch}"
    batches = -(-len(train_positions) // config.batch_size)  # per epoch
    bar = tqdm(
        total=config.epochs * batches, desc=label, unit="batch", disable=not progress, leave=False
    )
    for epoch in range(config.epochs):
        start = time.perf_counter()
        total_loss = 0.0
        order = torch.randperm(len(train_positions), generator=shuffle)
        for batch in train_positions[order].split(config.batch_size):
            batch = batch.to(device)
            loss = task.loss(model, batch)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total_loss += loss.item() * len(batch)
            bar.update(1)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        seconds += time.perf_counter() - start
        schedule.step()

        train_score, _ = evaluate(model, task, train_positions, device)
        test_score, predictions = evaluate(model, task, data.test_positions, device)
        row = {
            "epoch": epoch + 1,
            "seconds": seconds,
            "loss": total_loss / len(train_positions),
            f"train_{task.metric}": train_score,
            f"test_{task.metric}": test_score,
        }
        history.append(row)
        if writer is not None:
            for key, value in row.items():
                if key != "epoch":
                    writer.add_scalar(f"toy/{key}", value, epoch + 1)
        better = best is None or (test_score > best if task.higher_is_better else test_score < best)
        if better:
            best, best_predictions = test_score, predictions
        if to_perfect is None and task.is_perfect(test_score):
            to_perfect = seconds
        bar.set_postfix({f"train {task.metric}": f"{train_score:.3f}", "test": f"{test_score:.3f}"})
        done = task.is_perfect(train_score) and task.is_perfect(test_score)
        if config.stop_when_perfect and done:
            break
    bar.close()
    if writer is not None:
        writer.close()

    result = ToyResult(
        config=asdict(config),
        metric=task.metric,
        parameters=count_parameters(model),
        train_score=history[-1][f"train_{task.metric}"],
        test_score=history[-1][f"test_{task.metric}"],
        best_test_score=float(best),
        seconds=seconds,
        seconds_to_perfect_test=to_perfect,
        epochs_run=len(history),
        wall_seconds=time.perf_counter() - wall_start,
        history=history,
        test_positions=data.test_positions.tolist(),
        test_predictions=[[round(v, 2) for v in p] for p in best_predictions.tolist()],
    )
    if out_dir is not None:
        with atomic_path(Path(out_dir) / TORCH_MODEL) as tmp:
            torch.save(model.state_dict(), tmp)
        with atomic_path(Path(out_dir) / TOY_RESULT) as tmp:
            tmp.write_text(json.dumps(asdict(result), indent=1))
    return result

"""Toy training: the paper's central result at CI size, and what a run writes."""

from __future__ import annotations

import json

import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from coordrl.errors import CoordRLError
from coordrl.toy.data import make_dataset
from coordrl.toy.models import build_model
from coordrl.toy.tasks import get_task
from coordrl.toy.train import ToyConfig, evaluate, train

CI_BUDGET = {"epochs": 4, "lr": 0.01, "weight_decay": 0.001, "batch_size": 32, "device": "cpu"}


@pytest.fixture(scope="module")
def quadrant_runs():
    """CoordConv and conv classifiers trained on the quadrant split with the same budget."""
    return {
        arch: train(
            ToyConfig(task="classification", split="quadrant", arch=arch, **CI_BUDGET),
            progress=False,
        )
        for arch in ("coordconv", "conv")
    }


def test_coordconv_classifier_reaches_100_percent_on_the_held_out_quadrant(quadrant_runs):
    result = quadrant_runs["coordconv"]
    assert result.test_score == 1.0 and result.train_score == 1.0
    assert result.seconds_to_perfect_test is not None
    assert result.epochs_run < CI_BUDGET["epochs"]  # stopped early: nothing left to learn


def test_conv_classifier_stays_far_below_on_the_same_budget(quadrant_runs):
    conv = quadrant_runs["conv"]
    assert conv.epochs_run == CI_BUDGET["epochs"]
    assert conv.best_test_score < 0.05  # the paper's ~0% on the quadrant split
    assert conv.parameters > 10 * quadrant_runs["coordconv"].parameters


def test_a_run_writes_its_result_and_tensorboard_curves(tmp_path):
    config = ToyConfig(task="regression", split="uniform", arch="coordconv", epochs=2, device="cpu")
    result = train(config, tmp_path, progress=False)
    saved = json.loads((tmp_path / "result.json").read_text())
    assert saved["config"] == {**config.__dict__}
    assert saved["metric"] == "pixel_error" and saved["parameters"] == 906
    assert [row["epoch"] for row in saved["history"]] == [1, 2]
    assert len(saved["test_predictions"]) == len(saved["test_positions"]) == 768
    assert saved["test_score"] == pytest.approx(result.test_score)
    model = build_model("regression", "coordconv")
    model.load_state_dict(torch.load(tmp_path / "model.pt"))  # the final weights come back
    test = make_dataset("uniform").test_positions
    score, _ = evaluate(model, get_task("regression"), test, torch.device("cpu"))
    assert score == pytest.approx(result.test_score, rel=1e-5)
    events = EventAccumulator(str(tmp_path))
    events.Reload()
    assert {"toy/loss", "toy/test_pixel_error", "toy/train_pixel_error"} <= set(
        events.Tags()["scalars"]
    )
    assert [e.step for e in events.Scalars("toy/loss")] == [1, 2]


@pytest.mark.parametrize(
    "field,value,message",
    [
        ("task", "segmentation", "unknown task"),
        ("split", "half", "unknown split"),
        ("arch", "resnet", "unknown arch"),
        ("epochs", 0, "epochs must be a positive integer"),
        ("lr", -1.0, "lr must be a positive number"),
        ("device", "banana", "unknown device"),
    ],
)
def test_bad_configs_are_refused_before_training(field, value, message):
    with pytest.raises(CoordRLError, match=message):
        ToyConfig(**{field: value}).validate()

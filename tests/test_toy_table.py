"""The toy results table: trials, resumption, failures, the table files and the figures."""

from __future__ import annotations

from coordrl import cli
from coordrl.toy.plots import plot_curves, plot_predictions
from coordrl.toy.table import collect_rows, run_trials, trial_dir, write_table
from coordrl.toy.train import ToyConfig


def small_trials() -> list[ToyConfig]:
    return [
        ToyConfig(task="regression", split="quadrant", arch=arch, epochs=1, lr=0.01, device="cpu")
        for arch in ("conv", "coordconv")
    ]


def test_table_runs_skips_finished_trials_and_writes_files(tmp_path):
    configs = small_trials()
    assert run_trials(configs, tmp_path, workers=2, progress=False) == []
    stamps = {c.arch: (trial_dir(tmp_path, c) / "result.json").stat().st_mtime_ns for c in configs}
    assert run_trials(configs, tmp_path, workers=2, progress=False) == []  # nothing to redo
    assert stamps == {
        c.arch: (trial_dir(tmp_path, c) / "result.json").stat().st_mtime_ns for c in configs
    }

    rows = collect_rows(configs, tmp_path)
    assert [(r.task, r.split, r.arch) for r in rows] == [
        ("regression", "quadrant", "conv"),
        ("regression", "quadrant", "coordconv"),
    ]
    assert [r.parameters for r in rows] == [72850, 906]
    md, csv_path = write_table(rows, tmp_path)
    text = md.read_text()
    assert "| regression (pixel_error) | quadrant | coordconv | 906 | 0.01 |" in text
    assert csv_path.read_text().splitlines()[0].startswith("task,split,arch,metric,parameters")
    for figure in (
        plot_predictions(rows, tmp_path / "predictions.png", task="regression"),
        plot_curves(rows, tmp_path / "curves.png"),
    ):
        assert figure.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and figure.stat().st_size > 10_000

    # `coordrl compare` regenerates the same table from the run directories alone
    assert cli.main(["compare", str(tmp_path / "runs"), "--out", str(tmp_path / "again")]) == 0
    assert (tmp_path / "again" / "results.md").read_text() == text
    assert (tmp_path / "again" / "predictions.png").stat().st_size > 10_000


def test_a_failing_trial_is_reported_without_stopping_the_others(tmp_path):
    good = small_trials()[1]
    bad = ToyConfig(task="regression", split="uniform", arch="conv", epochs=1, device="banana")
    failures = run_trials([bad, good], tmp_path, workers=1, progress=False)
    assert len(failures) == 1 and "unknown device 'banana'" in failures[0]
    assert (trial_dir(tmp_path, good) / "result.json").exists()


def test_rows_pick_the_better_lr_and_on_a_tie_the_faster_run(tmp_path):
    import dataclasses
    import json

    from coordrl.toy.table import LEARNING_RATES

    def fake(lr: float, score: float, seconds: float, metric: str = "accuracy") -> ToyConfig:
        config = ToyConfig(task="classification", split="uniform", arch="coordconv", lr=lr)
        out = trial_dir(tmp_path, config)
        out.mkdir(parents=True)
        result = {
            "config": dataclasses.asdict(config),
            "metric": metric,
            "parameters": 1,
            "train_score": score,
            "test_score": score,
            "seconds": seconds,
            "seconds_to_perfect_test": None,
        }
        (out / "result.json").write_text(json.dumps(result))
        return config

    slow, fast = LEARNING_RATES
    configs = [fake(slow, 1.0, 300.0), fake(fast, 1.0, 30.0)]
    assert collect_rows(configs, tmp_path)[0].lr == fast
    (trial_dir(tmp_path, configs[1]) / "result.json").write_text(
        json.dumps(
            {
                "config": dataclasses.asdict(configs[1]),
                "metric": "accuracy",
                "parameters": 1,
                "train_score": 1.0,
                "test_score": 0.9,
                "seconds": 30.0,
                "seconds_to_perfect_test": None,
            }
        )
    )
    assert collect_rows(configs, tmp_path)[0].lr == slow  # a better score beats speed

"""``coordrl compare``: arms grouped over seeds, known scores back, fairness warnings, errors."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from coordrl import cli
from coordrl.config import dump_config, validate
from coordrl.runs import checkpoint_dir


def fake_run(root, arch: str, seed: int, scores: list[float], steps: int = 1000, **config):
    """A run directory as training leaves it: config, episodes, a final checkpoint."""
    run = root / f"{arch}-seed{seed}"
    run.mkdir(parents=True)
    dump_config(
        validate({"algo": "ppo", "arch": arch, "seed": seed, **config}, "t"), run / "config.yaml"
    )
    with (run / "episodes.csv").open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(("step", "env", "score", "length", "time"))
        for i, score in enumerate(scores):
            writer.writerow((int((i + 1) * steps / len(scores)), 0, score, 100, i))
    checkpoint_dir(run, steps).mkdir(parents=True)
    (run / "model.zip").write_bytes(b"")
    return run


def compare(capsys, *args):
    code = cli.main(["compare", *map(str, args)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_final_scores_are_the_last_games_averaged_then_compared_over_seeds(tmp_path, capsys):
    for seed, base in enumerate([10.0, 20.0, 30.0]):
        fake_run(tmp_path / "runs", "coordconv", seed, [0.0] * 5 + [base] * 10)
        fake_run(tmp_path / "runs", "conv", seed, [0.0] * 5 + [1.0] * 10)
    eval_dir = tmp_path / "runs" / "conv-seed0" / "eval"
    eval_dir.mkdir()
    (eval_dir / "model.json").write_text(json.dumps({"mean": 4.0}))
    code, out, err = compare(capsys, tmp_path / "runs", "--out", tmp_path / "out", "--last", "10")
    assert code == 0, err
    with (tmp_path / "out" / "table.csv").open() as f:
        rows = {r["arch"]: r for r in csv.DictReader(f)}
    assert float(rows["coordconv"]["final_mean"]) == pytest.approx(20.0)
    assert float(rows["coordconv"]["final_std"]) == pytest.approx(np.std([10, 20, 30]))
    assert rows["coordconv"]["final_per_run"] == "10.0;20.0;30.0"
    assert float(rows["conv"]["final_mean"]) == pytest.approx(1.0)
    assert rows["conv"]["eval_runs"] == "1" and float(rows["conv"]["eval_mean"]) == 4.0
    assert "| ALE/Breakout-v5 | ppo | coordconv | 3 | 1,000 | 20.0 +- 8.2 |" in out
    assert (tmp_path / "out" / "curves.png").stat().st_size > 10_000
    assert "3 run(s); with fewer than 5 seeds" in err


def test_unfair_comparisons_are_warned_about(tmp_path, capsys):
    fake_run(tmp_path, "conv", 0, [1.0] * 5, steps=1000)
    fake_run(tmp_path, "coordconv", 0, [1.0] * 5, steps=2000, n_envs=4)
    code, _, err = compare(capsys, tmp_path, "--out", tmp_path / "out")
    assert code == 0
    assert "runs stopped at different steps (1000, 2000)" in err
    assert "runs differ in hyperparameters or env settings" in err


def test_not_runs_and_runs_without_games_are_errors(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    code, _, err = compare(capsys, tmp_path / "empty", "--out", tmp_path / "out")
    assert code == 2 and err.startswith("error: no run directories in")
    code, _, err = compare(capsys, tmp_path / "missing", "--out", tmp_path / "out")
    assert code == 2 and "no such run directory" in err
    run = fake_run(tmp_path / "runs", "conv", 0, [])
    code, _, err = compare(capsys, run, "--out", tmp_path / "out")
    assert code == 2 and "no finished games" in err
    assert not (tmp_path / "out").exists()

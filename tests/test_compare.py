"""``coordrl compare``: arms grouped over seeds, known scores back, fairness warnings, errors."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from coordrl import cli
from coordrl.config import dump_config, validate
from coordrl.episodes import LEGACY_COLUMNS, EpisodeLog, Episodes
from coordrl.runs import checkpoint_dir


def write_episodes(run, steps: int, scores: list[float], success: list[bool | None]) -> None:
    """``episodes.csv`` as the lifecycle writes it, the episodes spread evenly over ``steps``."""
    rows = [
        (int((i + 1) * steps / len(scores)), 0, score, 10, ok)
        for i, (score, ok) in enumerate(zip(scores, success, strict=True))
    ]
    with EpisodeLog(run / "episodes.csv") as log:
        log.write(Episodes.from_rows(rows), elapsed=1.0)


def fake_run(root, arch: str, seed: int, scores: list[float], steps: int = 1000, **config):
    """An Atari run directory as training leaves it: config, episodes, a final checkpoint."""
    run = root / f"{arch}-seed{seed}"
    run.mkdir(parents=True)
    dump_config(
        validate({"algo": "ppo", "arch": arch, "seed": seed, **config}, "t"), run / "config.yaml"
    )
    write_episodes(run, steps, scores, [None] * len(scores))
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
    assert float(rows["coordconv"]["final_std"]) == pytest.approx(np.std([10, 20, 30], ddof=1))
    assert rows["coordconv"]["final_per_run"] == "10.0;20.0;30.0"
    assert float(rows["conv"]["final_mean"]) == pytest.approx(1.0)
    assert rows["conv"]["eval_runs"] == "1" and float(rows["conv"]["eval_mean"]) == 4.0
    assert "| ALE/Breakout-v5 | ppo | coordconv | 3 | 1,000 | 20.0 +- 10.0 |" in out
    # human-normalised: Breakout's random 1.7 and human 30.5
    assert float(rows["coordconv"]["normalised_mean"]) == pytest.approx((20 - 1.7) / 28.8)
    for figure in ("curves", "aggregates", "profiles", "improvement"):
        assert (tmp_path / "out" / f"{figure}.png").stat().st_size > 10_000, figure
    with (tmp_path / "out" / "aggregates.csv").open() as f:
        stats = {(r["arm"], r["statistic"]): r for r in csv.DictReader(f)}
    mean = stats[("ppo/coordconv", "Mean")]
    assert float(mean["point"]) == pytest.approx((20 - 1.7) / 28.8)
    assert float(mean["low"]) < float(mean["point"]) < float(mean["high"])
    # every coordconv run beats every conv run: P(improvement) = 1
    assert float(stats[("ppo/coordconv>ppo/conv", "P(improvement)")]["point"]) == 1.0
    assert "P(ppo/coordconv > ppo/conv) = 1.000" in out
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
    assert code == 2 and "no finished episodes" in err
    assert not (tmp_path / "out").exists()


def fake_toy_run(root, arch: str, seed: int, rate: float, held_out: float | None = None):
    """A toy RL run as the on-device PPO leaves it: 200 episodes succeeding at ``rate`` (in
    every 10 in a row), a checkpoint, model.pt, and maybe an evaluation."""
    run = root / f"Point-{arch}-seed{seed}"
    run.mkdir(parents=True)
    config = {"algo": "device_ppo", "env": "coordrl/Point-v0", "arch": arch, "seed": seed}
    dump_config(validate(config, "t"), run / "config.yaml")
    success = [i % 10 < round(10 * rate) for i in range(200)]
    write_episodes(run, 2000, [0.5 + 0.5 * ok for ok in success], success)
    checkpoint_dir(run, 2000).mkdir(parents=True)
    (run / "model.pt").write_bytes(b"")
    if held_out is not None:
        (run / "eval").mkdir()
        result = {"test": {"success_rate": held_out}, "train": {"success_rate": 0.9}}
        (run / "eval" / "sweep.json").write_text(json.dumps(result))
    return run


def test_toy_runs_compare_on_held_out_success(tmp_path, capsys):
    for seed in range(5):
        fake_toy_run(tmp_path / "runs", "conv", seed, 0.5, held_out=0.1 + 0.01 * seed)
        fake_toy_run(tmp_path / "runs", "coordconv", seed, 0.9, held_out=0.8 + 0.01 * seed)
    args = (tmp_path / "runs", "--out", tmp_path / "out", "--metric", "eval", "--reps", "2000")
    code, out, err = compare(capsys, *args)
    assert code == 0, err
    assert "held-out success (eval)" in out and "| 0.900 +- 0.000 |" in out
    with (tmp_path / "out" / "aggregates.csv").open() as f:
        stats = {(r["arm"], r["statistic"]): float(r["point"]) for r in csv.DictReader(f)}
    assert stats[("device_ppo/conv", "Mean")] == pytest.approx(0.12)
    assert stats[("device_ppo/coordconv", "Optimality gap")] == pytest.approx(1 - 0.82)
    assert stats[("device_ppo/coordconv>device_ppo/conv", "P(improvement)")] == 1.0
    assert "fewer than 5 seeds" not in err


def test_probability_of_improvement_and_interval_widths_have_known_answers():
    from coordrl.analysis.stats import aggregate_estimates, improvement

    rng = np.random.default_rng(0)
    base = rng.normal(0.5, 0.1, size=(10, 3))
    shifted = improvement(base + 0.5, base, reps=2000)  # every run of X beats every run of Y
    assert shifted.point == 1.0 and shifted.low > 0.95
    same = improvement(rng.normal(0.5, 0.1, (10, 3)), rng.normal(0.5, 0.1, (10, 3)), reps=2000)
    assert 0.35 < same.point < 0.65 and same.low < 0.5 < same.high
    assert improvement(base, base, reps=500).point == 0.5  # identical runs: exactly a tie

    def width(seeds: int) -> float:
        scores = rng.normal(0.5, 0.1, size=(seeds, 3))
        estimate = aggregate_estimates({"arm": scores}, reps=2000)["arm"]["Mean"]
        assert estimate.low <= scores.mean() <= estimate.high
        return estimate.high - estimate.low

    assert width(50) < 0.6 * width(5)


def test_human_normalised_scores_use_the_cited_references():
    from coordrl.analysis.atari_scores import game_of, human_normalised

    assert human_normalised("ALE/Breakout-v5", 30.5) == pytest.approx(1.0)
    assert human_normalised("BreakoutNoFrameskip-v4", 1.7) == pytest.approx(0.0)
    assert human_normalised("ALE/Pong-v5", -20.7) == pytest.approx(0.0)
    assert game_of("ALE/MontezumaRevenge-v5") == "MontezumaRevenge"
    assert human_normalised("ALE/Pacman-v5", 10.0) is None  # not one of the 57


def test_bad_comparisons_are_errors_and_write_nothing(tmp_path, capsys):
    fake_run(tmp_path / "runs", "conv", 0, [1.0] * 5)
    toy = fake_toy_run(tmp_path / "toy", "conv", 0, 0.5)
    code, _, err = compare(capsys, tmp_path / "runs", toy, "--out", tmp_path / "out")
    assert code == 2 and err.startswith("error: cannot compare atari runs")
    code, _, err = compare(capsys, tmp_path / "runs", "--out", tmp_path / "out", "--metric", "eval")
    assert code == 2 and "has no evaluation" in err
    assert not (tmp_path / "out").exists()
    run = tmp_path / "runs" / "conv-seed0"
    before = sorted(p.name for p in run.iterdir())
    code, _, err = compare(capsys, tmp_path / "runs", "--out", run)
    assert code == 2 and "is a run directory" in err
    assert sorted(p.name for p in run.iterdir()) == before
    (toy / "episodes.csv").write_text("step,episodes\n1,oops\n")
    code, _, err = compare(capsys, toy, "--out", tmp_path / "out")
    assert code == 2 and "episodes.csv: unexpected columns" in err and err.count("\n") == 1


def test_runs_written_by_coordrl_0_1_are_read_or_refused_with_a_reason(tmp_path, capsys):
    atari = fake_run(tmp_path / "runs", "conv", 0, [1.0] * 5)
    rows = (atari / "episodes.csv").read_text().splitlines()[1:]
    legacy = [",".join(LEGACY_COLUMNS)] + [
        ",".join(r.split(",")[:4] + r.split(",")[5:]) for r in rows
    ]
    (atari / "episodes.csv").write_text("\n".join(legacy) + "\n")  # 0.1: no success column
    code, out, err = compare(capsys, atari, "--out", tmp_path / "out")
    assert code == 0, err
    assert "| 1.0 +- 0.0 |" in out
    toy = fake_toy_run(tmp_path / "toy", "conv", 0, 0.5)
    (toy / "episodes.csv").unlink()
    (toy / "rollouts.csv").write_text("step,episodes,mean_return,success_rate,sps,time\n")
    code, _, err = compare(capsys, toy, "--out", tmp_path / "out2")
    assert code == 2 and "written by coordrl 0.1" in err and "train it again" in err


def test_sb3_and_on_device_ppo_on_one_toy_env_compare_side_by_side(tmp_path, capsys):
    from coordrl.agents.trainers import preflight, train

    base = {
        "env": "coordrl/Point-v0",
        "env_kwargs": {"canvas": 36, "bins": 6},
        "timesteps": 1024,
        "n_envs": 16,
        "device": "cpu",
        "hyperparams": {"n_steps": 8, "batch_size": 64},
    }
    logs = {}
    for algo in ("ppo", "device_ppo"):
        config = preflight(validate({**base, "algo": algo}, "t"), "t")
        train(config, tmp_path / "runs" / algo)
        with (tmp_path / "runs" / algo / "episodes.csv").open() as f:
            logs[algo] = list(csv.DictReader(f))
    assert logs["ppo"][0].keys() == logs["device_ppo"][0].keys()  # one format
    for rows in logs.values():
        assert len(rows) == 1024 and {r["success"] for r in rows} == {"0", "1"}
    capsys.readouterr()
    code, out, err = compare(capsys, tmp_path / "runs", "--out", tmp_path / "out", "--reps", "200")
    assert code == 0, err
    assert "final training success (last 100 episodes)" in out
    with (tmp_path / "out" / "table.csv").open() as f:
        table = {r["algo"]: r for r in csv.DictReader(f)}
    assert set(table) == {"ppo", "device_ppo"}
    for algo, rows in logs.items():
        success = np.mean([float(r["success"]) for r in rows[-100:]])
        score = np.mean([float(r["score"]) for r in rows[-100:]])
        assert float(table[algo]["final_mean"]) == pytest.approx(success)
        assert success != pytest.approx(score)  # the success column, not the returns


def test_minatar_runs_compare_by_score_scaled_per_game_for_the_aggregates(tmp_path, capsys):
    games = {"Breakout": (2.0, 4.0), "Freeway": (20.0, 10.0)}  # (conv, coordconv) per game
    for game, (conv, coord) in games.items():
        for seed in range(5):
            for arch, score in (("conv", conv), ("coordconv", coord)):
                env = f"coordrl/MinAtar-{game}-v0"
                config = {"env": env, "algo": "device_a2c", "network": "minatar"}
                run = fake_run(tmp_path / "runs" / game, arch, seed, [0.0], **config)
                (run / "eval").mkdir()
                (run / "eval" / "sweep.json").write_text(json.dumps({"mean_return": score}))
    args = (tmp_path / "runs", "--out", tmp_path / "out", "--metric", "eval", "--reps", "2000")
    code, out, err = compare(capsys, *args)
    assert code == 0, err
    assert "each game's scores over the best run's" in err + out
    assert "| final training score (last 100 episodes) | per run | eval score |" in out
    assert "| 0.00 +- 0.00 | 0.00, 0.00, 0.00, 0.00, 0.00 | 4.00 +- 0.00 |" in out  # 2 decimals
    with (tmp_path / "out" / "aggregates.csv").open() as f:
        stats = {(r["arm"], r["statistic"]): float(r["point"]) for r in csv.DictReader(f)}
    # Breakout: 0.5 and 1.0 of the best; Freeway: 1.0 and 0.5: the same mean for both arms
    assert stats[("device_a2c/conv", "Mean")] == pytest.approx(0.75)
    assert stats[("device_a2c/coordconv", "Mean")] == pytest.approx(0.75)
    assert stats[("device_a2c/coordconv>device_a2c/conv", "P(improvement)")] == pytest.approx(0.5)

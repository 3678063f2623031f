"""``coordrl sweep``: grids expanded and checked, trials run locally and on Ray, skipped when
finished, resumed when interrupted, failures reported without stopping the rest."""

from __future__ import annotations

import csv
import time
from pathlib import Path

import pytest
import yaml
from cli_helpers import run

from coordrl import cli
from coordrl.agents.sweep import Stopper, run_local, run_trial
from coordrl.config import ConfigError
from coordrl.runs import SWEEP_LOG, list_checkpoints
from coordrl.sweeps import load_sweep

ROOT = Path(__file__).resolve().parents[1]
TINY = {
    "timesteps": 1024,
    "n_envs": 32,
    "device": "cpu",
    "checkpoint_every": 256,
    "env_kwargs": {"canvas": 36, "bins": 6},
    "hyperparams": {"n_steps": 8, "batch_size": 128},
}


def sweep_file(tmp_path: Path, **changes) -> Path:
    spec = {
        "config": str(ROOT / "configs" / "toy" / "point.yaml"),
        "out": str(tmp_path / "sweep"),
        "set": TINY,
        "grid": {"arch": ["conv", "coordconv"], "seed": [0]},
        "evaluate": {"episodes": 50, "deterministic": True},
        **changes,
    }
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def statuses(out: Path) -> dict[str, str]:
    with (out / "sweep.csv").open() as f:
        return {row["name"]: row["status"] for row in csv.DictReader(f)}


def test_the_grid_expands_to_named_validated_trials(tmp_path):
    path = sweep_file(
        tmp_path,
        grid={
            "arch": ["conv", "coordconv"],
            "seed": [0, 1, 2],
            "hyperparams.learning_rate": [1e-3],
        },
    )
    sweep = load_sweep(path)
    assert len(sweep.trials) == 6
    names = [t.name for t in sweep.trials]
    assert names[0] == "Point-device_ppo-conv-seed0-learning_rate=0.001"
    assert len(set(names)) == 6
    assert {(t.config.arch, t.config.seed) for t in sweep.trials} == {
        (a, s) for a in ("conv", "coordconv") for s in (0, 1, 2)
    }
    assert all(t.config.timesteps == 1024 and t.config.n_envs == 32 for t in sweep.trials)
    assert all(t.config.hyperparams["learning_rate"] == 1e-3 for t in sweep.trials)
    assert all(t.run_dir == sweep.out / t.name for t in sweep.trials)
    assert (sweep.cpus, sweep.gpus) == (1.0, 0.0)


def test_shipped_sweep_files_are_valid():
    for path in sorted((ROOT / "configs" / "sweeps").glob("*.yaml")):
        assert load_sweep(path).trials, path


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"grdi": {"seed": [0]}}, "grdi: unknown key"),
        ({"grid": {}}, "grid: empty"),
        ({"grid": {"seed": []}}, "grid.seed: expected a non-empty list"),
        ({"grid": {"seed": 3}}, "grid.seed: expected a non-empty list"),
        ({"grid": {"arch": ["conv", "coordconvv"]}}, "arch"),
        ({"grid": {"lerning_rate": [1]}}, "lerning_rate: unknown key"),
        ({"resources": {"gpus": -1}}, "resources.gpus: must be >= 0"),
        ({"evaluate": {"episode": 3}}, "evaluate.episode: unknown key"),
    ],
)
def test_bad_sweep_files_are_one_error_line_and_nothing_runs(tmp_path, capsys, changes, message):
    path = sweep_file(tmp_path, **changes)
    code, out, err = run(capsys, "sweep", path)
    assert code == 2 and out == ""
    assert err.startswith("error: ") and err.count("\n") == 1 and message in err
    assert not (tmp_path / "sweep").exists()
    with pytest.raises(ConfigError):
        load_sweep(path)


def test_a_missing_sweep_file_is_an_error(tmp_path, capsys):
    code, _, err = run(capsys, "sweep", tmp_path / "nope.yaml")
    assert code == 2 and err.startswith("error: no such sweep file or shipped sweep: ")


def test_local_sweep_runs_evaluates_then_skips_finished_trials(tmp_path, capsys):
    path = sweep_file(tmp_path)
    code, out, err = run(capsys, "sweep", path, "--max-concurrent", "2")
    assert code == 0, err
    assert "2 finished, 0 skipped" in out
    sweep = load_sweep(path)
    for trial in sweep.trials:
        assert (trial.run_dir / "model.pt").is_file()
        assert (trial.run_dir / "eval" / "sweep.json").is_file()
        assert list_checkpoints(trial.run_dir)[-1][0] == 1024
    models = {t.name: (t.run_dir / "model.pt").stat().st_mtime_ns for t in sweep.trials}
    code, out, _ = run(capsys, "sweep", path)
    assert code == 0 and "0 finished, 2 skipped" in out
    assert models == {t.name: (t.run_dir / "model.pt").stat().st_mtime_ns for t in sweep.trials}
    assert set(statuses(sweep.out).values()) == {"finished"}  # its state, not this run's action


def test_a_failing_trial_is_reported_and_the_others_still_run(tmp_path, capsys):
    path = sweep_file(tmp_path)
    sweep = load_sweep(path)
    blocked = sweep.trials[0].run_dir  # an older run of other settings sits in its place
    blocked.mkdir(parents=True)
    (blocked / "config.yaml").write_text(
        yaml.safe_dump({**sweep.trials[0].config.to_dict(), "n_envs": 64})
    )
    before = (blocked / "config.yaml").read_bytes()
    code, out, err = run(capsys, "sweep", path)
    assert code == 1
    assert "1 finished, 0 skipped, 0 interrupted, 1 failed" in out
    assert f"failed: {sweep.trials[0].name}: " in err and "other settings (n_envs)" in err
    assert (sweep.trials[1].run_dir / "model.pt").is_file()
    assert (blocked / "config.yaml").read_bytes() == before  # nothing of it overwritten
    assert statuses(sweep.out)[sweep.trials[0].name] == "failed"


def test_an_interrupted_trial_resumes_from_its_checkpoint(tmp_path):
    path = sweep_file(tmp_path, set={**TINY, "timesteps": 8192, "checkpoint_every": 1024})
    trial = load_sweep(path).trials[0]
    stopper = Stopper()

    def stop_after_first_checkpoint():
        while not list_checkpoints(trial.run_dir):
            time.sleep(0.05)
        stopper.stop()

    import threading

    watcher = threading.Thread(target=stop_after_first_checkpoint, daemon=True)
    watcher.start()
    first = run_trial(trial, None, stopper=stopper)
    assert first.status == "interrupted"
    stopped_at = list_checkpoints(trial.run_dir)[-1][0]
    assert 0 < stopped_at < 8192 and not (trial.run_dir / "model.pt").exists()

    second = run_trial(trial, None)
    assert second.status == "finished"
    assert list_checkpoints(trial.run_dir)[-1][0] == 8192
    log = (trial.run_dir / SWEEP_LOG).read_text()
    assert f"coordrl.agents.worker train {trial.run_dir} --timesteps 8192" in log
    assert "resuming DEVICE_PPO (conv) on coordrl/Point-v0 for 8,192 steps" in log


def test_local_runner_reports_every_trial_once(tmp_path):
    sweep = load_sweep(sweep_file(tmp_path, evaluate=None))
    seen = []
    results = run_local(sweep, 2, seen.append)
    assert [r.name for r in results] == [t.name for t in sweep.trials]
    assert sorted(r.name for r in seen) == sorted(t.name for t in sweep.trials)
    assert {r.status for r in results} == {"finished"}


def test_ray_sweep_runs_trials_then_skips_them(tmp_path):
    ray = pytest.importorskip("ray")
    from coordrl.agents.sweep_ray import run_ray

    sweep = load_sweep(sweep_file(tmp_path, resources={"cpus": 1, "gpus": 0}))
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        seen = []
        results = run_ray(sweep, 2, seen.append)
        assert {r.status for r in results} == {"finished"}, results
        assert len(seen) == 2
        for trial in sweep.trials:
            assert (trial.run_dir / "model.pt").is_file()
            assert (trial.run_dir / "eval" / "sweep.json").is_file()
        again = run_ray(sweep, 2, lambda r: None)
        assert {r.status for r in again} == {"skipped"}
        # Tune's own files (OUT/.tune/..., result.json among them) are not runs to compare
        assert (sweep.out / ".tune").is_dir()
        args = [sweep.out, "--out", tmp_path / "compare", "--metric", "eval", "--reps", "500"]
        assert cli.main(["compare", *map(str, args)]) == 0
    finally:
        ray.shutdown()


def test_sigterm_to_the_sweep_checkpoints_live_trials_and_a_rerun_resumes(tmp_path):
    import signal
    import subprocess
    import sys

    path = sweep_file(
        tmp_path, set={**TINY, "timesteps": 16384, "checkpoint_every": 1024}, evaluate=None
    )
    sweep = load_sweep(path)
    command = [sys.executable, "-m", "coordrl.cli", "sweep", str(path), "--max-concurrent", "1"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    first = sweep.trials[0].run_dir
    deadline = time.monotonic() + 120
    while not list_checkpoints(first) and time.monotonic() < deadline:
        time.sleep(0.1)
    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=120)
    assert process.returncode == 130, err
    assert "interrupted: re-run" in err and "0 finished" in out
    stopped_at = list_checkpoints(first)[-1][0]
    assert stopped_at < 16384 and not (first / "model.pt").exists()
    assert not sweep.trials[1].run_dir.exists()  # never started

    rerun = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    assert "2 finished" in rerun.stdout
    assert list_checkpoints(first)[-1][0] == 16384
    assert f"coordrl.agents.worker train {first} --timesteps" in (first / SWEEP_LOG).read_text()

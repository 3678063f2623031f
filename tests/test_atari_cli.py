"""``coordrl train`` / ``coordrl evaluate`` as a user runs them: outputs, files, one-line errors."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import imageio_ffmpeg
import pytest
import yaml
from atari_helpers import write_config
from cli_helpers import run

from coordrl import cli
from coordrl.commands import train as train_command
from coordrl.runs import list_checkpoints

ROOT = Path(__file__).resolve().parents[1]


def user_error(capsys, *args: str) -> str:
    """Run a command that must fail as a user mistake: one ``error:`` line, exit code 2."""
    code, _, err = run(capsys, *args)
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    return lines[0]


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory) -> Path:
    """One finished tiny PPO run on Breakout, shared by the evaluate tests."""
    tmp = tmp_path_factory.mktemp("trained")
    config = write_config(tmp / "c.yaml", "ppo", timesteps=128)
    assert cli.main(["train", "--config", str(config), "--run-dir", str(tmp / "run")]) == 0
    return tmp / "run"


def test_train_prints_where_the_run_and_curves_are(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    config = write_config(tmp_path / "c.yaml", "a2c", timesteps=100)
    code, out, _ = run(capsys, "train", "--config", str(config), "--conv", "--seed", "3")
    assert code == 0
    run_dir = Path("runs/atari/Breakout-a2c-conv-seed3")
    assert "training A2C (conv) on ALE/Breakout-v5" in out
    assert f"run: {run_dir}" in out and "tensorboard --logdir runs/atari" in out
    assert (tmp_path / run_dir / "model.zip").is_file()
    # the same command again starts a new run beside it, never over it
    code, out, _ = run(capsys, "train", "--config", str(config), "--conv", "--seed", "3")
    assert code == 0 and "runs/atari/Breakout-a2c-conv-seed3-2" in out


def test_no_arguments_is_a_short_coordconv_quick_start(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(train_command, "QUICK_START", {"timesteps": 128, "checkpoint_every": 64})
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    code, out, _ = run(capsys, "train")
    assert code == 0
    assert "quick start: atari/ppo with CoordConv for 128 steps" in out
    config = yaml.safe_load(Path("runs/atari/Breakout-ppo-coordconv-seed0/config.yaml").read_text())
    assert config["arch"] == "coordconv" and config["timesteps"] == 128


def test_flags_and_set_override_the_config(tmp_path, capsys):
    config = write_config(tmp_path / "c.yaml", "ppo", timesteps=64)
    run_dir = tmp_path / "run"
    code, _, err = run(
        capsys,
        "train",
        "--config",
        str(config),
        "--run-dir",
        str(run_dir),
        "--env",
        "pong",
        "--n-envs",
        "1",
        "--set",
        "hyperparams.n_steps=64",
        "--set",
        "with_r=true",
    )
    assert code == 0, err
    saved = yaml.safe_load((run_dir / "config.yaml").read_text())
    assert saved["env"] == "ALE/Pong-v5" and saved["n_envs"] == 1 and saved["with_r"] is True
    assert saved["hyperparams"]["n_steps"] == 64


def test_evaluate_writes_scores_and_a_playable_video(trained_run, tmp_path, capsys):
    videos = tmp_path / "videos"
    code, out, err = run(
        capsys, "evaluate", str(trained_run), "--episodes", "2", "--video", str(videos)
    )
    assert code == 0, err
    assert "ALE/Breakout-v5, 2 games: mean" in out
    result = json.loads((trained_run / "eval" / "model.json").read_text())
    assert result["episodes"] == 2 and len(result["scores"]) == 2
    assert result["mean"] == pytest.approx(sum(result["scores"]) / 2)
    reader = imageio_ffmpeg.read_frames(str(videos / "episode-000.mp4"))
    meta = next(reader)
    frames = sum(1 for _ in reader)
    assert meta["size"] == (160, 210) and meta["codec"] == "h264"
    assert frames == result["lengths"][0] + 1  # the reset frame, then one per agent step
    assert not list(videos.glob(".*"))
    # a second evaluation is written beside the first
    code, out, _ = run(capsys, "evaluate", str(trained_run / "model.zip"), "--episodes", "1")
    assert code == 0 and (trained_run / "eval" / "model-2.json").is_file()


def test_evaluate_a_checkpoint(trained_run, capsys):
    _, checkpoint = list_checkpoints(trained_run)[-1]
    code, out, _ = run(capsys, "evaluate", str(checkpoint / "model.zip"), "--episodes", "1")
    assert code == 0 and f"{checkpoint.name}.json" in out


def test_a_model_for_another_game_is_refused(trained_run, capsys):
    line = user_error(capsys, "evaluate", str(trained_run), "--env", "Pong")
    assert "Discrete(4)" in line and "Discrete(6)" in line and "another game" in line


def test_a_model_of_another_arch_than_its_config_is_refused(trained_run, tmp_path, capsys):
    copy = tmp_path / "run"
    shutil.copytree(trained_run, copy)
    config = yaml.safe_load((copy / "config.yaml").read_text())
    config["arch"] = "conv"
    (copy / "config.yaml").write_text(yaml.safe_dump(config))
    assert "holds a coordconv agent, but its config says arch conv" in user_error(
        capsys, "evaluate", str(copy)
    )


def test_missing_or_corrupt_models_are_refused(trained_run, tmp_path, capsys):
    assert "no such run directory or model file" in user_error(
        capsys, "evaluate", str(tmp_path / "nowhere.zip")
    )
    copy = tmp_path / "run"
    shutil.copytree(trained_run, copy)
    (copy / "model.zip").write_bytes(b"garbage")
    shutil.rmtree(copy / "eval", ignore_errors=True)
    assert "cannot load" in user_error(capsys, "evaluate", str(copy))
    assert not (copy / "eval").exists()  # no empty folder left behind
    assert "not a run directory" in user_error(capsys, "evaluate", str(tmp_path))


BAD_TRAIN_INPUT = [
    (["--env", "Breakot"], "unknown Atari env 'Breakot'; did you mean ALE/Breakout-v5?"),
    (["--set", "algo=ppx"], "algo: expected one of a2c, ppo, dqn"),
    (["--set", "arch=coord"], "arch: expected one of conv, coordconv"),
    (["--set", "hyperparams.n_step=4"], "did you mean n_steps?"),
    (["--set", "n_envs=two"], "n_envs: expected a number"),
    (["--timesteps", "-5"], "argument --timesteps: expected a positive integer, got -5"),
    (["--set", "timesteps=-5"], "timesteps: must be >= 1"),
    (["--device", "cuda:7"], "device 'cuda:7'"),
    (["--config", "nowhere.yaml"], "no such config file or shipped config: nowhere.yaml"),
    (["--resume", "."], "is not a run directory"),
]


@pytest.mark.parametrize(("args", "expected"), BAD_TRAIN_INPUT)
def test_bad_train_input_is_one_error_line(tmp_path, capsys, monkeypatch, args, expected):
    monkeypatch.chdir(tmp_path)
    if "--config" not in args:
        args = ["--config", str(write_config(tmp_path / "c.yaml")), *args]
    assert expected in user_error(capsys, "train", *args)
    assert not (tmp_path / "runs").exists()


def test_bad_yaml_and_mistyped_keys_name_the_file(tmp_path, capsys):
    path = tmp_path / "broken.yaml"
    path.write_text("algo: ppo\n  n_envs: 2\n")
    assert "broken.yaml: line 2: invalid YAML" in user_error(capsys, "train", "--config", str(path))
    path.write_text("algo: ppo\nseeed: 1\n")
    line = user_error(capsys, "train", "--config", str(path))
    assert "broken.yaml: seeed: unknown key (did you mean seed?)" in line


def test_an_existing_run_is_never_overwritten(trained_run, capsys):
    before = {p: p.stat().st_mtime_ns for p in trained_run.rglob("*") if p.is_file()}
    config = write_config(trained_run.parent / "c2.yaml")
    line = user_error(capsys, "train", "--config", str(config), "--run-dir", str(trained_run))
    assert "already holds a run" in line
    assert "only --timesteps and --device may change" in user_error(
        capsys, "train", "--resume", str(trained_run), "--seed", "5"
    )
    after = {p: p.stat().st_mtime_ns for p in trained_run.rglob("*") if p.is_file()}
    assert before == after


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write anywhere")
def test_an_unwritable_run_directory_is_refused(tmp_path, capsys):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    config = write_config(tmp_path / "c.yaml")
    line = user_error(capsys, "train", "--config", str(config), "--run-dir", str(locked / "run"))
    assert "cannot write to" in line


def test_an_unwritable_run_directory_is_refused_even_for_root(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("a file, not a directory")
    config = write_config(tmp_path / "c.yaml")
    line = user_error(capsys, "train", "--config", str(config), "--run-dir", str(blocker / "run"))
    assert "cannot write to" in line


def test_train_py_is_the_same_command_without_a_traceback(tmp_path):
    done = subprocess.run(
        [sys.executable, str(ROOT / "train.py"), "--env", "Breakot"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "error: unknown Atari env 'Breakot'; did you mean ALE/Breakout-v5? (104 ALE/*-v5 ids exist)"
    ]


def test_resuming_a_finished_run_changes_nothing_unless_timesteps_extend_it(tmp_path, capsys):
    config = write_config(tmp_path / "c.yaml", "ppo", timesteps=128)
    run_dir = tmp_path / "run"
    assert run(capsys, "train", "--config", str(config), "--run-dir", str(run_dir))[0] == 0
    before = {p: p.stat().st_mtime_ns for p in run_dir.rglob("*")}
    message = user_error(capsys, "train", "--resume", str(run_dir))
    assert f"{run_dir} is finished (128 steps)" in message
    assert f"coordrl train --resume {run_dir} --timesteps N, with N > 128" in message
    assert user_error(capsys, "train", "--resume", str(run_dir), "--timesteps", "100")
    assert {p: p.stat().st_mtime_ns for p in run_dir.rglob("*")} == before  # untouched
    code, out, err = run(capsys, "train", "--resume", str(run_dir), "--timesteps", "256")
    assert code == 0, err
    assert "done: 256 steps" in out


def test_names_too_long_for_the_file_system_are_one_error_line(tmp_path, capsys):
    long = tmp_path / ("x" * 300) / "run"
    config = write_config(tmp_path / "c.yaml", "ppo", timesteps=64)
    message = user_error(capsys, "train", "--config", str(config), "--run-dir", str(long))
    assert "is 300 bytes long; this file system allows" in message
    message = user_error(capsys, "toy", "train", "--run-dir", str(long), "--epochs", "1")
    assert "is 300 bytes long" in message
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.yaml"]


@pytest.mark.parametrize("command", ["train --config", "sweep"])
def test_a_binary_file_given_as_yaml_is_one_error_line_naming_it(tmp_path, capsys, command):
    garbage = tmp_path / "garbage.yaml"
    garbage.write_bytes(bytes(range(256)) * 4)
    message = user_error(capsys, *command.split(), str(garbage))
    assert f"{garbage}: not a YAML text file (byte 0x80 at offset 128 is not UTF-8)" in message


def test_printed_commands_stay_copy_pasteable_for_a_run_dir_with_spaces(tmp_path, capsys):
    config = write_config(tmp_path / "c.yaml", "ppo", timesteps=64)
    run_dir = tmp_path / "my runs" / "it's one"
    code, out, _ = run(capsys, "train", "--config", str(config), "--run-dir", str(run_dir))
    assert code == 0
    line = next(x for x in out.splitlines() if x.startswith("evaluate: "))
    command = shlex.split(line.removeprefix("evaluate: "))
    assert command[:3] == ["coordrl", "evaluate", str(run_dir)]


def test_an_interrupt_during_start_up_says_how_to_go_on(tmp_path, capsys, monkeypatch):
    from coordrl.agents import trainers

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(trainers, "make_trainer", interrupted)
    config = write_config(tmp_path / "c.yaml", "ppo", timesteps=64)
    run_dir = tmp_path / "run"
    code, _, err = run(capsys, "train", "--config", str(config), "--run-dir", str(run_dir))
    assert code == 130
    assert f"go on from the start (no checkpoint yet): coordrl train --resume {run_dir}" in err
    assert not (run_dir / ".lock").exists()


def test_a_replay_buffer_this_machine_cannot_hold_is_refused_before_any_file(
    tmp_path, capsys, monkeypatch
):
    from coordrl.agents import trainers

    monkeypatch.setattr(trainers, "available_memory", lambda: 2**30)  # 1 GiB free
    sb3 = {"buffer_size": 100_000, "replay_buffer": "sb3"}
    config = write_config(tmp_path / "c.yaml", "dqn", hyperparams=sb3)
    message = user_error(capsys, "train", "--config", str(config), "--run-dir", str(tmp_path / "r"))
    assert "hyperparams.buffer_size: 100,000 transitions need 5.3 GiB of replay memory" in message
    assert "(56,448 bytes each; replay_buffer: frames needs 1/8 of it)" in message
    assert "this machine has 1.0 GiB available" in message
    assert not (tmp_path / "r").exists()
    # the default frame buffer holds 100k in 0.7 GiB, and SB3's own default 1M in 6.6 GiB
    frames = write_config(tmp_path / "f.yaml", "dqn", hyperparams={"buffer_size": 1_000_000})
    message = user_error(capsys, "train", "--config", str(frames), "--run-dir", str(tmp_path / "r"))
    assert "1,000,000 transitions need 6.6 GiB of replay memory (7,056 bytes each);" in message
    assert not (tmp_path / "r").exists()
    small = write_config(tmp_path / "s.yaml", "dqn", timesteps=64)  # 1,000 transitions fit
    assert run(capsys, "train", "--config", str(small), "--run-dir", str(tmp_path / "s"))[0] == 0


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        (
            {"hyperparams": {"optimize_memory_usage": True}},
            "hyperparams.optimize_memory_usage is for replay_buffer: sb3; the default frames "
            "buffer stores each frame once already (1/8 of SB3's memory)",
        ),
        (
            {"env": "coordrl/Point-v0", "hyperparams": {"replay_buffer": "frames"}},
            "hyperparams.replay_buffer: frames needs Atari's frame stacks; "
            "coordrl/Point-v0 gives other observations: use sb3",
        ),
        ({"hyperparams": {"replay_buffer": "ring"}}, "replay_buffer"),
    ],
)
def test_replay_buffer_choices_that_cannot_work_are_refused(tmp_path, capsys, overrides, expected):
    config = write_config(tmp_path / "c.yaml", "dqn", **overrides)
    message = user_error(capsys, "train", "--config", str(config), "--run-dir", str(tmp_path / "r"))
    assert expected in message
    assert not (tmp_path / "r").exists()

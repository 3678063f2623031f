"""``coordrl toy ...`` as a user runs it: outputs, files, and one-line errors for mistakes."""

from __future__ import annotations

import subprocess
import sys

import pytest

from coordrl.toy.data import read_h5


def coordrl(*args: str, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "coordrl.cli", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=300,
    )


def test_toy_data_writes_both_splits_in_the_official_layout(tmp_path):
    done = coordrl("toy", "data", "--out", str(tmp_path / "data"))
    assert done.returncode == 0, done.stderr
    assert "quadrant: 2407 train, 729 test" in done.stdout
    for split in ("uniform", "quadrant"):
        assert read_h5(tmp_path / "data" / f"rectangle_4_{split}.h5").split == split


def test_toy_train_reports_and_never_overwrites_a_run(tmp_path):
    args = [
        "toy",
        "train",
        "--task",
        "regression",
        "--arch",
        "conv",
        "--epochs",
        "1",
        "--device",
        "cpu",
        "--run-dir",
        "run",
    ]
    first, second = coordrl(*args, cwd=tmp_path), coordrl(*args, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert "72,850 parameters" in first.stdout and "test pixel_error" in first.stdout
    assert "tensorboard --logdir run\n" in first.stdout
    # a run directory named twice is refused, as coordrl train --run-dir refuses it
    assert second.returncode == 2, second.stderr
    assert second.stderr == "error: run already holds a run: pick another --run-dir\n"
    assert (tmp_path / "run" / "result.json").exists()
    assert not (tmp_path / "run-2").exists() and (tmp_path / "run" / "result.json").exists()


def test_toy_train_reads_an_official_hdf5_file(tmp_path):
    assert coordrl("toy", "data", "--split", "quadrant", "--out", str(tmp_path)).returncode == 0
    done = coordrl(
        "toy",
        "train",
        "--task",
        "regression",
        "--epochs",
        "1",
        "--device",
        "cpu",
        "--data",
        str(tmp_path / "rectangle_4_quadrant.h5"),
        "--run-dir",
        "r",
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize(
    "args,message",
    [
        (["toy", "train", "--task", "segmentation"], "invalid choice: 'segmentation'"),
        (["toy", "train", "--split", "half"], "invalid choice: 'half'"),
        (["toy", "train", "--arch", "resnet"], "invalid choice: 'resnet'"),
        (["toy", "train", "--epochs", "0"], "expected a positive integer, got 0"),
        (["toy", "train", "--epochs", "ten"], "expected a positive integer, got 'ten'"),
        (["toy", "train", "--device", "banana"], "unknown device 'banana'"),
        (["toy", "train", "--data", "missing.h5"], "no such data file: missing.h5"),
        (["toy", "table", "--seeds", "0"], "expected a positive integer, got 0"),
        (["toy", "train", "--run-dir", "blocker/run"], "cannot write to blocker/run"),
        (["toy", "data", "--out", "blocker/data"], "cannot write to blocker/data"),
    ],
)
def test_user_mistakes_get_one_error_line_and_exit_code_2(args, message, tmp_path):
    (tmp_path / "blocker").write_text("a file where a directory is wanted")
    done = coordrl(*args, cwd=tmp_path)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0]
    assert (tmp_path / "blocker").read_text().startswith("a file")  # nothing lost

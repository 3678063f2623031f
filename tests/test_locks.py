"""One writer per run directory: a second trainer is refused, a dead holder's lock is taken."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import yaml
from atari_helpers import write_config
from cli_helpers import run
from training_process import start_training, wait_until_learning

from coordrl import locks
from coordrl.locks import _start_time, hold
from coordrl.runs import LOCK_FILE, RunError


@pytest.fixture
def sleeper():
    """A live process that is not this one."""
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    yield proc
    proc.kill()
    proc.wait()


def write_lock(folder: Path, pid: int, host: str | None = None, start: str | None = None) -> Path:
    path = folder / LOCK_FILE
    holder = {"host": host or socket.gethostname(), "pid": pid, "start": start, "since": "then"}
    path.write_text(json.dumps(holder))
    return path


def test_the_lock_names_this_process_while_held_and_goes_on_any_exit(tmp_path):
    with hold(tmp_path):
        holder = json.loads((tmp_path / LOCK_FILE).read_text())
        assert holder["pid"] > 0 and holder["host"] == socket.gethostname()
    assert not (tmp_path / LOCK_FILE).exists()
    with pytest.raises(KeyError), hold(tmp_path):
        raise KeyError("a crash inside")
    assert not (tmp_path / LOCK_FILE).exists()
    assert list(tmp_path.iterdir()) == []  # nothing left beside it either


def test_a_live_holder_is_refused_by_name_and_its_lock_kept(tmp_path, sleeper):
    path = write_lock(tmp_path, sleeper.pid, start=_start_time(sleeper.pid))
    before = path.read_text()
    expected = rf"in use by a training process \(pid {sleeper.pid}, since"
    with pytest.raises(RunError, match=expected), hold(tmp_path):
        pass
    assert path.read_text() == before


def test_a_holder_on_another_host_is_refused_with_how_to_release_it(tmp_path):
    path = write_lock(tmp_path, 12345, host="elsewhere")
    expected = r"pid 12345 on elsewhere.*if that process is gone, delete"
    with pytest.raises(RunError, match=expected), hold(tmp_path):
        pass
    assert path.exists()


def test_a_holder_on_another_host_that_stopped_refreshing_its_lock_is_taken_over(tmp_path):
    """Its host gone (a lost cluster node): after STALE_S without a heartbeat."""
    path = write_lock(tmp_path, 12345, host="elsewhere")
    old = path.stat().st_mtime - locks.STALE_S - 5
    os.utime(path, (old, old))
    with hold(tmp_path):
        assert json.loads(path.read_text())["host"] == socket.gethostname()


def test_a_held_lock_is_refreshed_while_held(tmp_path, monkeypatch):
    monkeypatch.setattr(locks, "HEARTBEAT_S", 0.05)
    with hold(tmp_path):
        path = tmp_path / LOCK_FILE
        os.utime(path, (1.0, 1.0))  # as if last refreshed long ago
        deadline = time.monotonic() + 5
        while path.stat().st_mtime == 1.0:
            assert time.monotonic() < deadline, "the lock was never refreshed"
            time.sleep(0.02)


def test_a_waiting_process_takes_the_lock_once_its_holder_goes(tmp_path, sleeper, monkeypatch):
    monkeypatch.setattr(locks, "WAIT_POLL_S", 0.05)
    write_lock(tmp_path, sleeper.pid, start=_start_time(sleeper.pid))
    with pytest.raises(RunError, match="in use by"), hold(tmp_path, wait_s=0.3):
        pass  # still held after 0.3 s
    threading.Timer(0.5, sleeper.kill).start()
    started = time.monotonic()
    with hold(tmp_path, wait_s=30):
        assert json.loads((tmp_path / LOCK_FILE).read_text())["pid"] == os.getpid()
    assert 0.4 < time.monotonic() - started < 10


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


@pytest.mark.parametrize("stale", ["dead pid", "pid reused", "half-written"])
def test_a_lock_whose_holder_is_gone_is_taken_over(tmp_path, sleeper, stale):
    if stale == "dead pid":
        write_lock(tmp_path, dead_pid())
    elif stale == "pid reused":  # the pid now belongs to a process started later
        write_lock(tmp_path, sleeper.pid, start="1")
    else:
        (tmp_path / LOCK_FILE).write_text('{"host": ')
    with hold(tmp_path):
        holder = json.loads((tmp_path / LOCK_FILE).read_text())
        assert holder["pid"] != sleeper.pid
    assert not (tmp_path / LOCK_FILE).exists()


def test_resuming_a_run_another_process_trains_is_refused_and_loses_nothing(tmp_path, capsys):
    """The data-loss case: a second `--resume` while the first process trains."""
    config = write_config(tmp_path / "c.yaml", "ppo", timesteps=2048, checkpoint_every=10**6)
    run_dir = tmp_path / "run"
    first = start_training("--config", config, "--run-dir", run_dir)
    assert wait_until_learning(run_dir, first), "the first run never started"
    code, _, err = run(capsys, "train", "--resume", str(run_dir))
    assert code == 2 and err.count("\n") == 1, err
    assert f"{run_dir} is in use by a training process (pid {first.pid}, since" in err
    out, _ = first.communicate(timeout=300)
    assert first.returncode == 0 and "done: 2,048 steps" in out, out
    assert (run_dir / "model.zip").is_file() and not (run_dir / LOCK_FILE).exists()
    assert len(list(run_dir.glob("events.out.tfevents.*"))) == 1  # no second writer's events


def test_a_second_sweep_into_the_same_folder_is_refused(tmp_path, capsys, sleeper):
    config = write_config(tmp_path / "c.yaml", "ppo", timesteps=64)
    sweep = tmp_path / "sweep.yaml"
    out = tmp_path / "out"
    grid = {"seed": [0, 1]}
    sweep.write_text(yaml.safe_dump({"config": str(config), "out": str(out), "grid": grid}))
    out.mkdir()
    write_lock(out, sleeper.pid, start=_start_time(sleeper.pid))
    code, _, err = run(capsys, "sweep", str(sweep))
    assert code == 2 and err.count("\n") == 1, err
    assert f"{out} is in use by a sweep (pid {sleeper.pid}" in err
    assert sorted(p.name for p in out.iterdir()) == [LOCK_FILE]  # no trial started

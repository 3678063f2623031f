"""Sweeps under faults: an unreachable Ray, Ctrl-C, a killed driver, a lost cluster node.

Nothing finished is rerun, every interrupted trial checkpoints and resumes, and no trial's
process (``coordrl.agents.worker``) outlives its sweep. The cluster tests start real Ray
processes (``ray start``) and are slow.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from cli_helpers import run

from coordrl.agents.sweep import WORKER
from coordrl.runs import SWEEP_LOG, list_checkpoints

ray = pytest.importorskip("ray")

ROOT = Path(__file__).resolve().parents[1]
TINY = {
    "n_envs": 32,
    "device": "cpu",
    "checkpoint_every": 512,
    "env_kwargs": {"canvas": 36, "bins": 6},
    "hyperparams": {"n_steps": 8, "batch_size": 128},
}


def sweep_file(tmp_path: Path, timesteps: int, seeds: int = 1) -> Path:
    spec = {
        "config": str(ROOT / "configs" / "toy" / "point.yaml"),
        "out": str(tmp_path / "sweep"),
        "set": {**TINY, "timesteps": timesteps},
        "grid": {"arch": ["conv", "coordconv"], "seed": list(range(seeds))},
        "resources": {"cpus": 1},
    }
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def processes() -> dict[int, tuple[int, str]]:
    """Every live (not zombie) process: pid -> (parent pid, command line)."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            state, parent = (entry / "stat").read_text().rsplit(")", 1)[1].split()[:2]
        except OSError:
            continue
        if state != "Z":
            found[int(entry.name)] = (int(parent), cmdline)
    return found


def processes_mentioning(text: str) -> dict[int, str]:
    """Live processes whose command line holds ``text``: pid -> command line."""
    return {pid: cmd for pid, (_, cmd) in processes().items() if text in cmd}


def wait_for(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.3)


def trial_dirs(out: Path) -> list[Path]:
    """A sweep's run directories (not Tune's own .tune folder)."""
    return [p for p in out.iterdir() if p.is_dir() and not p.name.startswith(".")]


def checkpoints_in(out: Path) -> int:
    return sum(len(list_checkpoints(run_dir)) for run_dir in trial_dirs(out))


def sweep_process(*args: str | Path, env: dict | None = None) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "coordrl.cli", "sweep", *map(str, args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )


def test_an_address_where_nothing_listens_is_one_line_at_once(tmp_path, capsys):
    address = f"127.0.0.1:{free_port()}"
    started = time.monotonic()
    code, _, err = run(capsys, "sweep", sweep_file(tmp_path, 512), "--ray-address", address)
    assert code == 2
    assert err.strip().splitlines() == [
        f"error: cannot reach Ray at {address}: nothing listens at {address} (Connection refused)"
    ]
    assert time.monotonic() - started < 15
    assert not (tmp_path / "sweep" / ".lock").exists()


def test_an_address_that_never_answers_as_ray_is_one_line_after_the_timeout():
    """Something accepts the connection but never speaks Ray: Ray would retry for minutes."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        address = f"127.0.0.1:{silent.getsockname()[1]}"
        code = f"from coordrl.agents.sweep_ray import connect; connect('{address}', timeout_s=2)"
        started = time.monotonic()
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert time.monotonic() - started < 12
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        f"error: cannot reach Ray at {address}: no answer within 2 s"
    ]


@pytest.mark.slow
@pytest.mark.parametrize("where", ["local", "ray"])
def test_a_killed_sweep_driver_leaves_no_training_process(tmp_path, where):
    """SIGKILL to the driver (locally; or on Ray, whose private cluster then goes down with
    its workers): each trial's process gets SIGTERM from the kernel (parent death), so it
    checkpoints and exits rather than dying mid-rollout or training on as an orphan."""
    path = sweep_file(tmp_path, 10**7)
    out = tmp_path / "sweep"
    runner = ["--ray-address", "local"] if where == "ray" else ["--max-concurrent", "2"]
    driver = sweep_process(path, *runner)
    wait_for(lambda: out.is_dir() and checkpoints_in(out) >= 2, 120, "checkpoints")
    driver.kill()
    driver.wait()
    wait_for(lambda: not processes_mentioning(str(out)), 60, "the trials to exit")
    for run_dir in trial_dirs(out):
        assert "SIGTERM received: checkpoint at step" in (run_dir / SWEEP_LOG).read_text()


@pytest.mark.slow
def test_ctrl_c_to_a_ray_sweep_checkpoints_every_trial_and_leaves_no_process(tmp_path):
    path = sweep_file(tmp_path, 10**7)
    out = tmp_path / "sweep"
    driver = sweep_process(path, "--ray-address", "local")
    wait_for(lambda: out.is_dir() and checkpoints_in(out) >= 2, 180, "checkpoints")
    driver.send_signal(signal.SIGINT)
    output, _ = driver.communicate(timeout=120)
    assert driver.returncode == 130, output
    assert "2 interrupted" in output and f"re-run `coordrl sweep {path}` to resume" in output
    assert not (out / ".stop").exists()
    wait_for(lambda: not processes_mentioning(str(out)), 30, "the trials to exit")
    for run_dir in trial_dirs(out):
        assert "SIGTERM received: checkpoint at step" in (run_dir / SWEEP_LOG).read_text()


class Cluster:
    """A two-node Ray cluster on this host (``ray start``), token auth on; torn down by
    killing only its own processes (those under its temp dir), never another Ray's."""

    def __init__(self, tmp_path: Path) -> None:
        self.temp_dir = Path("/tmp") / f"coordrl-ray-{secrets.token_hex(3)}"  # short: sockets
        self.port, self.second_port = free_port(), free_port()
        self.env = {
            **os.environ,
            "RAY_AUTH_MODE": "token",
            "RAY_AUTH_TOKEN": secrets.token_hex(16),
            "RAY_USAGE_STATS_ENABLED": "0",
        }
        self.address = f"127.0.0.1:{self.port}"

    def start(self) -> None:
        common = ["--num-cpus=1", "--disable-usage-stats"]
        self._ray(
            "start",
            "--head",
            f"--port={self.port}",
            "--include-dashboard=false",
            f"--temp-dir={self.temp_dir}",
            *common,
        )
        self._ray(
            "start", f"--address={self.address}", f"--node-manager-port={self.second_port}", *common
        )

    def second_node(self) -> dict[int, str]:
        """The second node's raylet and the processes under it: pid -> command line."""
        marker = f"--node_manager_port={self.second_port}"
        raylet = [pid for pid, cmd in processes_mentioning(marker).items() if "raylet" in cmd]
        if not raylet:
            return {}
        return {raylet[0]: marker, **_descendants(raylet[0])}

    def kill_second_node(self) -> None:
        """SIGKILL the second node's raylet and Ray processes (not the trials they started)."""
        node = self.second_node()
        assert node, "no second node"
        for pid, cmd in node.items():
            if WORKER not in cmd:
                _kill(pid)

    def stop(self) -> None:
        for pid in processes_mentioning(str(self.temp_dir)):
            _kill(pid)

    def _ray(self, *args: str) -> None:
        done = subprocess.run(
            ["ray", *args], env=self.env, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, done.stdout + done.stderr


def _descendants(root: int) -> dict[int, str]:
    """The live processes under ``root``: pid -> command line."""
    table = processes()
    found: dict[int, str] = {}
    frontier = {root}
    while frontier:
        children = {pid for pid, (parent, _) in table.items() if parent in frontier}
        found.update({pid: table[pid][1] for pid in children})
        frontier = children
    return found


def _kill(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


@pytest.mark.slow
def test_a_node_lost_mid_sweep_is_retried_and_resumes_its_trial(tmp_path):
    """The second node's Ray processes SIGKILLed while one of its trials trains: that trial's
    process checkpoints on SIGTERM (its worker died), Tune runs the trial again on the node
    left, which resumes the checkpoint; the other trials finish; a re-run reruns nothing."""
    cluster = Cluster(tmp_path)
    try:
        cluster.start()
        path = sweep_file(tmp_path, 30_000, seeds=2)  # 4 trials over 2 one-CPU nodes
        out = tmp_path / "sweep"
        driver = sweep_process(path, "--ray-address", cluster.address, env=cluster.env)
        on_second: list[str] = []

        def a_trial_on_the_second_node_checkpointed() -> bool:
            node = cluster.second_node()
            on_second[:] = [cmd for cmd in node.values() if f"{WORKER} train" in cmd]
            return bool(on_second) and checkpoints_in(out) >= 2

        wait_for(a_trial_on_the_second_node_checkpointed, 180, "a trial on the second node")
        lost = next(p for p in trial_dirs(out) if f"{p} " in f"{on_second[0]} ")
        cluster.kill_second_node()
        output, _ = driver.communicate(timeout=400)
        assert driver.returncode == 0, output
        assert "4 finished, 0 skipped, 0 interrupted, 0 failed" in output, output
        assert not processes_mentioning(str(out))
        first, *retries = (lost / SWEEP_LOG).read_text().split(f"$ python -m {WORKER} train")[1:]
        assert "SIGTERM received: checkpoint at step" in first
        assert retries and "resuming from the checkpoint at step" in retries[-1], retries
        finished = {p.name: (p / "model.pt").stat().st_mtime for p in trial_dirs(out)}

        again = sweep_process(path, "--ray-address", cluster.address, env=cluster.env)
        output, _ = again.communicate(timeout=400)
        assert again.returncode == 0, output
        assert "0 finished, 4 skipped, 0 interrupted, 0 failed" in output, output
        for name, mtime in finished.items():  # nothing finished was rerun
            assert (out / name / "model.pt").stat().st_mtime == mtime
    finally:
        cluster.stop()

"""A process a sweep starts does not outlive the process that started it."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from coordrl.signals import PARENT_ENV

# A parent that starts a child which asks for SIGTERM on its parent's death, records it,
# then waits; the parent prints the child's pid and sleeps until killed.
CHILD = """
import os, signal, sys, time
from coordrl.signals import exit_with_parent
exit_with_parent()
def stop(signum, frame):
    # written whole, then renamed: the test never reads a half-written record
    with open(sys.argv[1] + ".tmp", "w") as f:
        f.write(signal.Signals(signum).name)
    os.replace(sys.argv[1] + ".tmp", sys.argv[1])
    sys.exit(0)
signal.signal(signal.SIGTERM, stop)
while True:
    time.sleep(0.1)
"""
PARENT = """
import os, subprocess, sys, time
env = {**os.environ, %r: str(os.getpid())}
child = subprocess.Popen([sys.executable, "-c", sys.argv[1], sys.argv[2]], env=env)
print(child.pid, flush=True)
time.sleep(60)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_a_child_gets_sigterm_when_its_parent_is_killed(tmp_path: Path):
    record = tmp_path / "signal"
    parent = subprocess.Popen(
        [sys.executable, "-c", PARENT % PARENT_ENV, CHILD, str(record)],
        stdout=subprocess.PIPE,
        text=True,
    )
    child_pid = int(parent.stdout.readline())
    time.sleep(1.0)  # the child is past exit_with_parent
    parent.kill()
    parent.wait()
    deadline = time.monotonic() + 10
    while not record.exists():
        assert time.monotonic() < deadline, "the child never got a signal"
        time.sleep(0.1)
    assert record.read_text() == "SIGTERM"
    while Path(f"/proc/{child_pid}").exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert (
        not Path(f"/proc/{child_pid}/cmdline").exists()
        or not Path(f"/proc/{child_pid}/cmdline").read_bytes()
    ), "the child outlived its parent"

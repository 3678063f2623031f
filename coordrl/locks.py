"""One writer per run directory (or sweep): a lock file held while a process works in it.

The lock names its holder (host, pid and the process's start time). It is removed on any
exit Python sees; after a crash or SIGKILL it stays, and the next process finds its holder
gone (same host, no such process, or the pid reused by a later process) and takes it over.
A holder on another host cannot be checked from here, so the holder refreshes its lock's
modification time every ``HEARTBEAT_S``; a lock from another host not refreshed for
``STALE_S`` (its host lost with a cluster node, say) is taken over. Ages are read off the
file system's own clock (a file written now), so hosts' clocks need not agree.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from coordrl.runs import LOCK_FILE, RunError

HEARTBEAT_S = 10.0  # how often a holder refreshes its lock
STALE_S = 60.0  # a lock from another host older than this has lost its holder
WAIT_POLL_S = 1.0  # how often a process waiting for a lock tries again


def _stat(pid: int) -> list[str] | None:
    """The fields of ``/proc/PID/stat`` after the process's name (Linux), else None: [0] is
    its state letter (R, S, Z...), [19] its start time in clock ticks since boot."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()  # the name before ")" may hold spaces


def _start_time(pid: int) -> str | None:
    """The process's start time (clock ticks since boot), else None."""
    fields = _stat(pid)
    return fields[19] if fields else None


def _me() -> dict[str, Any]:
    pid = os.getpid()
    return {
        "host": socket.gethostname(),
        "pid": pid,
        "start": _start_time(pid),
        "since": time.strftime("%Y-%m-%d %H:%M:%S"),
    }


def _alive(holder: dict[str, Any]) -> bool:
    """Whether the holder (on this host) still runs: its pid exists and, where the start
    time is known, is the same process (not a later one given the same pid)."""
    pid = holder.get("pid")
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # someone else's process: it exists
    fields = _stat(pid)
    if fields is None:
        return True  # no /proc to ask: the pid exists
    if fields[0] == "Z":  # exited, not yet reaped by its parent
        return False
    recorded = holder.get("start")
    return recorded is None or fields[19] == recorded


def _read(path: Path) -> dict[str, Any] | None:
    try:
        holder = json.loads(path.read_text())
    except (OSError, ValueError):
        return None  # gone meanwhile, or half-written by a process that died writing it
    return holder if isinstance(holder, dict) else None


def _create(path: Path, what: str) -> tuple[bool, float]:
    """Write our lock if there is none: (whether we did, the file system's time now). The
    lock appears whole (written aside, then hard-linked into place), so a reader never
    sees half of one."""
    aside = path.with_name(f".{path.name}.{os.getpid()}")
    aside.write_text(json.dumps({**_me(), "what": what}))
    try:
        now = aside.stat().st_mtime
        os.link(aside, path)
    except FileExistsError:
        return False, now
    finally:
        aside.unlink(missing_ok=True)
    return True, now


def _age(path: Path, now: float) -> float:
    """Seconds since the lock was last refreshed (0 if it is gone meanwhile)."""
    try:
        return now - path.stat().st_mtime
    except OSError:
        return 0.0


@contextlib.contextmanager
def _heartbeat(path: Path) -> Iterator[None]:
    """Refresh the lock's modification time every ``HEARTBEAT_S`` while the block runs."""
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(HEARTBEAT_S):
            with contextlib.suppress(OSError):  # gone (its folder removed): nothing to keep
                os.utime(path)

    thread = threading.Thread(target=beat, name="coordrl-lock-heartbeat", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()


def _take(path: Path, folder: Path, what: str) -> None:
    """Take the lock as ``what`` (recorded in it), or raise ``RunError`` naming its live
    holder."""
    for _ in range(3):  # a stale lock is removed, then raced for once more
        created, now = _create(path, what)
        if created:
            return
        holder = _read(path)
        here = holder is not None and holder.get("host") == socket.gethostname()
        live = _alive(holder) if here else _age(path, now) <= STALE_S
        if holder is not None and live:
            where = "" if here else f" on {holder.get('host')}"
            hint = (
                "wait for it or stop it"
                if here
                else f"if that process is gone, delete {path} (or wait: a lock not "
                f"refreshed for {STALE_S:.0f} s is taken over)"
            )
            holder_is = holder.get("what") or what
            raise RunError(
                f"{folder} is in use by {holder_is} (pid {holder.get('pid')}{where}, since "
                f"{holder.get('since')}): {hint}"
            )
        path.unlink(missing_ok=True)  # its holder died without releasing it
    raise RunError(f"{folder}: could not take its lock ({path}); try again")


@contextlib.contextmanager
def hold(folder: Path, what: str = "a training process", wait_s: float = 0.0) -> Iterator[None]:
    """Hold ``folder``'s lock while the block runs; a live holder is a ``RunError`` naming
    it, once ``wait_s`` seconds of waiting for it to go have not sufficed."""
    path = folder / LOCK_FILE
    deadline = time.monotonic() + wait_s
    while True:
        try:
            _take(path, folder, what)
            break
        except RunError:
            if time.monotonic() >= deadline:
                raise
            time.sleep(WAIT_POLL_S)
    try:
        with _heartbeat(path):
            yield
    finally:
        holder = _read(path)
        if holder is not None and holder.get("pid") == os.getpid():
            path.unlink(missing_ok=True)

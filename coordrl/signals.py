"""SIGINT and SIGTERM as a request to stop cleanly, so a run can checkpoint before it exits."""

from __future__ import annotations

import ctypes
import os
import signal
import sys
from types import FrameType
from typing import Any

# Set by a sweep on the trial processes it starts (coordrl.agents.worker): the pid of the
# process that started it, which this process must not outlive (see exit_with_parent).
PARENT_ENV = "COORDRL_EXIT_WITH_PARENT"
_PR_SET_PDEATHSIG = 1  # linux/prctl.h


class StopSignals:
    """While entered, SIGINT / SIGTERM set ``received`` instead of interrupting the code."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self) -> None:
        self.received: int | None = None
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> StopSignals:
        for sig in self.SIGNALS:
            self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: Any) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self.received = signum

    @property
    def name(self) -> str:
        """The signal received, e.g. ``SIGTERM`` (empty when none)."""
        return signal.Signals(self.received).name if self.received is not None else ""


def exit_with_parent() -> None:
    """When a sweep started this process (``PARENT_ENV`` set), have the kernel send it
    SIGTERM if that parent dies (Linux): killed by Ray, by SIGKILL or a crash, the parent
    then leaves no orphan training on; SIGTERM makes the run checkpoint and exit."""
    parent = os.environ.pop(PARENT_ENV, None)
    if parent is None or not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    except (OSError, AttributeError):
        return
    if str(os.getppid()) != parent:  # the parent died before the request took effect
        os.kill(os.getpid(), signal.SIGTERM)

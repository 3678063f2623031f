"""SIGINT and SIGTERM as a request to stop cleanly, so a run can checkpoint before it exits."""

from __future__ import annotations

import signal
from types import FrameType
from typing import Any


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

"""The one base class of user mistakes, so that nothing else is ever reported as one.

The processes coordrl starts (the ``coordrl`` command, and the worker a sweep starts for
each trial) run their work through :func:`exit_code`, the one place that catches
:class:`CoordRLError`: one ``error:`` line on stderr and exit code 2. Every other exception
is a bug in coordrl (or a library under it) and keeps its traceback.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

USER_ERROR = 2  # the exit code of a user mistake
INTERRUPTED = 130  # the exit code of a process stopped by Ctrl-C (128 + SIGINT)


class CoordRLError(Exception):
    """A mistake in what the user asked for (a config, a flag, a file, a run directory),
    phrased to be read on one line."""


class ConfigError(CoordRLError):
    """A config mistake, phrased for one line: ``<source>: <key>: <problem>``."""


class UnknownNameError(CoordRLError, ValueError):
    """A name that does not exist here: an env id, a device, a shipped config.

    Also a ``ValueError``, as Python APIs raise for a bad argument value.
    """


def exit_code(work: Callable[[], int | None]) -> int:
    """Run a process's ``work`` and return its exit code: its own (None: 0), 2 after one
    ``error:`` line for a user mistake, 130 after Ctrl-C."""
    try:
        code = work()
    except CoordRLError as exc:
        print(f"error: {'; '.join(str(exc).strip().splitlines())}", file=sys.stderr)
        return USER_ERROR
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return INTERRUPTED
    return code or 0

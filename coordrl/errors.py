"""The one base class of user mistakes, so that nothing else is ever reported as one.

The ``coordrl`` command catches :class:`CoordRLError` in one place (``coordrl.cli.main``) and
prints it as one ``error:`` line with exit code 2. Every other exception is a bug in coordrl
(or a library under it) and keeps its traceback.
"""

from __future__ import annotations


class CoordRLError(Exception):
    """A mistake in what the user asked for (a config, a flag, a file, a run directory),
    phrased to be read on one line."""


class ConfigError(CoordRLError):
    """A config mistake, phrased for one line: ``<source>: <key>: <problem>``."""


class UnknownNameError(CoordRLError, ValueError):
    """A name that does not exist here: an env id, a device, a shipped config.

    Also a ``ValueError``, as Python APIs raise for a bad argument value.
    """

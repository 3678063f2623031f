"""Run the ``coordrl`` command in-process, as the tests do: exit code, stdout, stderr."""

from __future__ import annotations

from coordrl import cli


def run(capsys, *args) -> tuple[int, str, str]:
    """``coordrl ARGS...``; argparse's own errors (SystemExit) count as exit codes too."""
    try:
        code = cli.main([str(a) for a in args])
    except SystemExit as exc:
        code = exc.code
    captured = capsys.readouterr()
    return code, captured.out, captured.err

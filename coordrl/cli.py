"""The ``coordrl`` command. User mistakes end as one ``error:`` line on stderr and exit code 2.

The top floor: it may import anything below it, and nothing imports it. Each subcommand
lives in its own module under ``coordrl/commands/`` and imports its machinery lazily, so
that ``coordrl --help`` stays fast. A user mistake is a :class:`~coordrl.errors.CoordRLError`,
caught here and nowhere else; any other exception is a bug and keeps its traceback.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from coordrl.commands import compare, configs, evaluate, population, sweep, toy, train
from coordrl.commands.common import USER_ERROR, Parser
from coordrl.errors import CoordRLError
from coordrl.signals import exit_with_parent


def build_parser() -> Parser:
    parser = Parser(prog="coordrl", description="CoordConv for deep reinforcement learning")
    subparsers = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    for command in (train, evaluate, configs, compare, sweep, population, toy):
        command.add_parser(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    exit_with_parent()
    try:
        args = build_parser().parse_args(argv)
        code = args.func(args)  # None: success; a sweep returns 1 or 130 for failed trials
    except CoordRLError as exc:
        print(f"error: {'; '.join(str(exc).strip().splitlines())}", file=sys.stderr)
        return USER_ERROR
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return code or 0


if __name__ == "__main__":
    sys.exit(main())

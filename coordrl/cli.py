"""The ``coordrl`` command. User mistakes end as one ``error:`` line on stderr and exit code 2.

The top floor: it may import anything below it, and nothing imports it. Each subcommand
lives in its own module under ``coordrl/commands/`` and imports its machinery lazily, so
that ``coordrl --help`` stays fast.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from coordrl.commands import compare, evaluate, sweep, toy, train
from coordrl.commands.common import USER_ERROR, Parser, UserError


def build_parser() -> Parser:
    parser = Parser(prog="coordrl", description="CoordConv for deep reinforcement learning")
    subparsers = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    for command in (train, evaluate, compare, sweep, toy):
        command.add_parser(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        code = args.func(args)  # None: success; a sweep returns 1 or 130 for failed trials
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return USER_ERROR
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return code or 0


if __name__ == "__main__":
    sys.exit(main())

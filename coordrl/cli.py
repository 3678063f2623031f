"""The ``coordrl`` command. User mistakes end as one ``error:`` line on stderr and exit code 2.

The top floor: it may import anything below it, and nothing imports it (the layers
contract in ``pyproject.toml``). Each subcommand lives in its own module under
``coordrl/commands/`` and imports torch's machinery lazily, so that ``coordrl --help`` stays
fast. A user mistake is a :class:`~coordrl.errors.CoordRLError`, reported by
:func:`~coordrl.errors.exit_code`; any other exception is a bug and keeps its traceback.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from coordrl.commands import compare, configs, evaluate, population, sweep, toy, train
from coordrl.commands.common import Parser
from coordrl.errors import exit_code
from coordrl.signals import exit_with_parent


def build_parser() -> Parser:
    parser = Parser(prog="coordrl", description="CoordConv for deep reinforcement learning")
    subparsers = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    for command in (train, evaluate, configs, compare, sweep, population, toy):
        command.add_parser(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    exit_with_parent()

    def work() -> int | None:
        args = build_parser().parse_args(argv)
        return args.func(args)  # None: success; a sweep returns 1 or 130 for failed trials

    return exit_code(work)


if __name__ == "__main__":
    sys.exit(main())

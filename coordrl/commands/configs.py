"""``coordrl configs [NAME]``: the shipped configs, one line each, or one of them in full."""

from __future__ import annotations

import argparse

from coordrl.shipped import description, find_config, shipped_configs


def configs_command(args: argparse.Namespace) -> None:
    if args.name is not None:
        print(find_config(args.name).read_text(), end="")
        return
    shipped = shipped_configs()
    width = max(map(len, shipped))
    for name, path in shipped.items():
        print(f"{name:<{width}}  {description(path)}")
    print(
        "\nuse one: coordrl train --config atari/ppo; coordrl sweep sweeps/toyrl"
        "\ncopy one to edit: coordrl configs atari/ppo > my.yaml"
    )


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    configs = subparsers.add_parser(
        "configs",
        help="list the shipped configs, or print one (to copy and edit)",
        description="The configs shipped with coordrl, by name. --config and coordrl sweep "
        "take these names as well as file paths.",
    )
    configs.add_argument("name", nargs="?", help="print this config, e.g. atari/ppo")
    configs.set_defaults(func=configs_command)

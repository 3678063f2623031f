"""``coordrl sweep``: a grid of runs, locally or on Ray Tune."""

from __future__ import annotations

import argparse


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    pass

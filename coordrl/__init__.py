"""coordrl: CoordConv for deep reinforcement learning.

``import coordrl`` gives the pure-torch layers (loaded on first use, so that the ``coordrl``
command starts, and answers Ctrl-C, before torch is imported); SB3 extractors live in
``coordrl.extractors``. Nothing here imports a runner, an environment or Atari.
"""

from __future__ import annotations

from typing import Any

__all__ = ["AddCoords", "CoordConv2d", "coord_grid", "coordify", "to_concat_conv"]
__version__ = "0.2.0"


def __getattr__(name: str) -> Any:
    if name in __all__:
        from coordrl import layers

        return getattr(layers, name)
    raise AttributeError(f"module 'coordrl' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])

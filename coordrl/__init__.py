"""coordrl: CoordConv for deep reinforcement learning.

``import coordrl`` gives the pure-torch layers; SB3 extractors live in
``coordrl.extractors``. Nothing here imports a runner, an environment or Atari.
"""

from coordrl.layers import AddCoords, CoordConv2d, coord_grid, coordify, to_concat_conv

__all__ = ["AddCoords", "CoordConv2d", "coord_grid", "coordify", "to_concat_conv"]
__version__ = "0.2.0"

"""The names a config picks its network by, in a module with no dependencies.

So a config is read and checked (:mod:`coordrl.config`) without importing torch or SB3;
:mod:`coordrl.extractors` maps each network and arch named here to its extractor class.
"""

from __future__ import annotations

import typing
from typing import Literal

ARCHS: tuple[str, ...] = ("conv", "coordconv")  # the two arms of every experiment
NETWORKS: tuple[str, ...] = ("nature", "minatar")  # NatureCNN, or MinAtar's network
CoordLayers = Literal["first", "all"]  # which conv layers of a CoordConv arch get coordinates
COORD_LAYERS: tuple[str, ...] = typing.get_args(CoordLayers)

"""Environments: Atari vector envs, torch-vectorised toy tasks and MinAtar, as ``coordrl.envs``.

Importing it registers coordrl's gymnasium ids (``coordrl/Point-v0``, ``coordrl/Navigate-v0``,
``coordrl/MinAtar-<Game>-v0``), as ale-py does for its own;
``gymnasium.register_envs(coordrl.envs)`` says so explicitly.
Atari (``coordrl.envs.atari``) is imported only by those who use it.
"""

if __name__ != "coordrl.envs":  # the checkout's folder, imported by its bare name
    raise ImportError(f"this folder installs as coordrl.envs: import coordrl.envs, not {__name__}")

import coordrl.envs.minatar
import coordrl.envs.toy  # noqa: F401  (with the line above: registers the ids)

"""Environments: Atari vector envs and torch-vectorised toy tasks, as ``coordrl.envs``.

Importing it registers coordrl's gymnasium ids (``coordrl/Point-v0``, ``coordrl/Navigate-v0``),
as ale-py does for its own; ``gymnasium.register_envs(coordrl.envs)`` says so explicitly.
Atari (``coordrl.envs.atari``) is imported only by those who use it.
"""

if __name__ != "coordrl.envs":  # the checkout's folder, imported by its bare name
    raise ImportError(f"this folder installs as coordrl.envs: import coordrl.envs, not {__name__}")

import coordrl.envs.toy  # noqa: F401  (registers the toy ids)

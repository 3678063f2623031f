"""Environments: Atari vector envs and torch-vectorised toy tasks."""

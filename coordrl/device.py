"""Resolve a user's device name to a torch.device: a clear error, not a CUDA traceback."""

from __future__ import annotations

import torch

from coordrl.errors import UnknownNameError


def resolve_device(name: str = "auto") -> torch.device:
    """``auto`` (CUDA when there is a GPU, else the CPU), ``cpu``, ``cuda`` or ``cuda:N``, ``mps``.

    A CUDA device comes back with its index (``cuda`` -> ``cuda:0``), as tensors report it,
    so ``tensor.device == env.device`` holds. Raises :class:`~coordrl.errors.UnknownNameError`
    (a ``ValueError``) naming the problem when the device is malformed or absent here.
    """
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        device = torch.device(name)
    except (RuntimeError, ValueError):
        raise UnknownNameError(f"unknown device {name!r}; use auto, cpu, cuda or cuda:N") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise UnknownNameError(f"device {name!r} asked for, but CUDA is not available here")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise UnknownNameError(
                f"device {name!r} asked for, but there are {torch.cuda.device_count()} CUDA devices"
            )
        if device.index is None:
            device = torch.device("cuda", torch.cuda.current_device())
    elif device.type == "mps" and not torch.backends.mps.is_available():
        raise UnknownNameError(f"device {name!r} asked for, but MPS is not available here")
    elif device.type not in ("cpu", "cuda", "mps"):
        raise UnknownNameError(f"unsupported device {name!r}; use auto, cpu, cuda or cuda:N")
    return device

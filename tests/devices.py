"""The devices a test runs on: the CPU always, CUDA as a `cuda`-marked case (see conftest.py)."""

from __future__ import annotations

import pytest

DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.cuda)]

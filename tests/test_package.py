"""Package-level contracts: the public names, and what ``import coordrl`` does not pull in."""

from __future__ import annotations

import subprocess
import sys


def test_public_names():
    import coordrl
    from coordrl.extractors import CoordNatureCNN, NatureCNN, make_policy_kwargs

    assert {"AddCoords", "CoordConv2d", "coordify"} <= set(coordrl.__all__)
    assert callable(make_policy_kwargs) and issubclass(CoordNatureCNN, NatureCNN)


def test_import_coordrl_pulls_in_no_rl_framework_or_atari():
    code = (
        "import sys, coordrl; "
        "print(sorted(m for m in ('stable_baselines3', 'gymnasium', 'ale_py', 'cv2', "
        "'agents', 'envs') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"

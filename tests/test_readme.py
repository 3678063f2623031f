"""The README's Python examples run as written (long training runs shortened)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.DOTALL)


def test_readme_has_python_examples():
    assert len(BLOCKS) >= 2


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_readme_example_runs(index, tmp_path):
    # A single rollout instead of 10k steps: the code path is the same.
    code = re.sub(r"total_timesteps=[\d_]+", "total_timesteps=1", BLOCKS[index])
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-2000:]
    if "model.save(" in code:
        assert any(tmp_path.glob("*.zip"))


def test_readme_sweep_file_example_is_valid(tmp_path):
    from coordrl.sweeps import load_sweep

    (example,) = [
        b for b in re.findall(r"```yaml\n(.*?)```", README.read_text(), re.S) if "grid:" in b
    ]
    path = tmp_path / "example.yaml"
    path.write_text(example.replace("configs/", f"{README.parent}/configs/"))
    sweep = load_sweep(path)
    assert len(sweep.trials) == 2 * 5 * 2 and sweep.gpus == 0.25

"""The command as a whole: shipped configs by name from anywhere, and bugs are not user errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from cli_helpers import run

from coordrl.shipped import find_config, shipped_configs
from coordrl.sweeps import load_sweep

ROOT = Path(__file__).resolve().parents[1]
TINY_POINT = [
    "--set",
    "env_kwargs.canvas=36",
    "--set",
    "env_kwargs.bins=6",
    "--n-envs",
    "16",
    "--set",
    "hyperparams.batch_size=64",
    "--timesteps",
    "256",
    "--device",
    "cpu",
]


def test_every_shipped_config_is_listed_with_what_it_is_for(capsys):
    on_disk = sorted(
        str(p.relative_to(ROOT / "configs").with_suffix(""))
        for p in (ROOT / "configs").rglob("*.yaml")
    )
    assert list(shipped_configs()) == on_disk
    code, out, _ = run(capsys, "configs")
    assert code == 0
    listed = {line.split()[0]: line for line in out.splitlines() if line[:1].isalpha()}
    for name in on_disk:
        assert name in listed and len(listed[name].split(None, 1)[1]) > 20, name
    code, out, _ = run(capsys, "configs", "atari/ppo")
    assert code == 0 and out == (ROOT / "configs" / "atari" / "ppo.yaml").read_text()


def test_an_unknown_config_name_is_one_line_with_the_closest_names(capsys):
    code, _, err = run(capsys, "configs", "atari/ppx")
    assert code == 2 and err.count("\n") == 1
    assert err.startswith("error: no such config file or shipped config: atari/ppx")
    assert "did you mean atari/ppo" in err


def test_shipped_configs_train_by_name_from_any_directory(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # no configs/ here
    code, _, err = run(capsys, "train", "--config", "toy/point", *TINY_POINT)
    assert code == 0, err
    run_dir = tmp_path / "runs" / "toyrl" / "Point-device_ppo-coordconv-seed0"
    assert (run_dir / "model.pt").is_file()
    # the checkout's spelling works from anywhere too
    code, _, err = run(capsys, "train", "--config", "configs/toy/point.yaml", *TINY_POINT)
    assert code == 0, err
    assert (tmp_path / "runs" / "toyrl" / "Point-device_ppo-coordconv-seed0-2").is_dir()


def test_a_local_file_wins_over_a_shipped_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "atari").mkdir()
    (tmp_path / "atari" / "ppo.yaml").write_text(yaml.safe_dump({"algo": "a2c"}))
    assert find_config("atari/ppo.yaml") == Path("atari/ppo.yaml")
    assert find_config("atari/ppo") == shipped_configs()["atari/ppo"]


def test_shipped_sweeps_load_by_name_with_their_shipped_configs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    sweep = load_sweep(find_config("sweeps/toyrl", what="sweep file"))
    assert len(sweep.trials) == 20
    assert {t.config.env for t in sweep.trials} == {"coordrl/Point-v0", "coordrl/Navigate-v0"}
    assert sweep.out == tmp_path / "results" / "toyrl" / "runs"


BUG = """
import sys
import {module} as target
from coordrl.cli import main

def broken(*args, **kwargs):
    raise ValueError("injected bug")

target.{name} = broken
sys.exit(main(sys.argv[1:]))
"""


def test_a_bug_keeps_its_traceback_and_is_not_reported_as_a_user_error(tmp_path, capsys):
    run_dir = tmp_path / "run"
    tiny_atari = ["--timesteps", "64", "--n-envs", "2", "--set", "hyperparams.n_steps=32"]
    tiny_atari += ["--set", "hyperparams.batch_size=32"]
    code, _, err = run(capsys, "train", "--device", "cpu", *tiny_atari, "--run-dir", run_dir)
    assert code == 0, err
    cases = {  # a bug in training, and one inside the Atari evaluation
        ("coordrl.agents.trainers", "make_trainer"): ["train", "--config", "toy/point"],
        ("coordrl.agents.evaluation", "evaluate"): ["evaluate", str(run_dir), "--episodes", "1"],
    }
    for (module, name), args in cases.items():
        script = BUG.format(module=module, name=name)
        result = subprocess.run(
            [sys.executable, "-c", script, *args], capture_output=True, text=True, timeout=300
        )
        assert result.returncode == 1, (name, result.stderr[-500:])
        assert "Traceback" in result.stderr and "ValueError: injected bug" in result.stderr
        assert not any(line.startswith("error:") for line in result.stderr.splitlines())


def test_a_user_mistake_deep_in_a_command_is_still_one_error_line(tmp_path, capsys):
    code, _, err = run(
        capsys, "train", "--config", "toy/point", "--set", "env_kwargs.split=diagonal"
    )
    assert code == 2 and err.count("\n") == 1
    assert "env_kwargs.split: expected one of uniform, quadrant, got 'diagonal'" in err


@pytest.mark.parametrize("module", ["coordrl.agents", "coordrl.envs"])
def test_own_folders_named_envs_and_agents_do_not_shadow_ours(tmp_path, module):
    for bare in ("envs", "agents"):
        (tmp_path / bare).mkdir()
        (tmp_path / bare / "__init__.py").write_text("raise ImportError('the user project')\n")
    code = f"import {module}, coordrl.envs.toy, coordrl.agents.trainers; print({module}.__name__)"
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == module


def test_the_command_starts_without_importing_torch():
    """Ctrl-C in the first seconds lands in main's handler, not in a traceback mid-import."""
    import subprocess
    import sys

    code = "import sys, coordrl.cli; assert 'torch' not in sys.modules, 'torch imported'"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_an_interrupt_while_parsing_is_one_line_and_exit_130(capsys, monkeypatch):
    from coordrl import cli

    def interrupted(self, *args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli.Parser, "parse_args", interrupted)
    assert cli.main(["configs"]) == 130
    assert capsys.readouterr().err == "interrupted\n"

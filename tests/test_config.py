"""Run configs: the shipped YAML files load, and every mistake is one line naming key and file."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from coordrl.agents.builders import algorithm_kwargs
from coordrl.config import ConfigError, load_config, parse_overrides, validate
from coordrl.settings import Linear

CONFIGS = Path(__file__).resolve().parents[1] / "configs" / "atari"


@pytest.mark.parametrize("algo", ["a2c", "ppo", "dqn"])
def test_shipped_configs_load_with_rl_zoo3_values(algo):
    config = load_config(CONFIGS / f"{algo}.yaml")
    assert config.algo == algo and config.env == "ALE/Breakout-v5"
    assert config.timesteps == 10_000_000 and config.repeat_action_probability == 0.25
    expected = {
        "a2c": {"n_envs": 16, "n_steps": 5, "learning_rate": 7e-4, "vf_coef": 0.25},
        "ppo": {"n_envs": 8, "n_steps": 128, "batch_size": 256, "clip_range": Linear(0.1)},
        "dqn": {"n_envs": 1, "buffer_size": 100_000, "learning_starts": 100_000},
    }[algo]
    assert config.n_envs == expected.pop("n_envs")
    for key, value in expected.items():
        assert config.hyperparams[key] == value


@pytest.mark.parametrize("algo", ["a2c", "ppo"])
def test_on_device_atari_configs_hold_the_sb3_configs_values(algo):
    sb3 = load_config(CONFIGS / f"{algo}.yaml")
    device = load_config(CONFIGS / f"device_{algo}.yaml")
    assert device.algo == f"device_{algo}"
    assert device.replace(algo=algo, hyperparams={}) == sb3.replace(hyperparams={})
    expected = dict(sb3.hyperparams)
    if algo == "a2c":  # SB3 names its optimizer; the on-device A2C always uses RMSpropTFLike
        assert expected.pop("optimizer") == "rmsprop_tf_like"
        expected["rms_prop_eps"] = expected.pop("optimizer_eps")
    assert dict(device.hyperparams) == expected


def test_defaults_fill_what_the_file_leaves_out():
    config = validate({"algo": "ppo"}, "x.yaml")
    assert (config.arch, config.backend, config.noop_max) == ("coordconv", "ale", 30)
    assert config.hyperparams == {}


def problem(raw, source="cfg.yaml") -> str:
    with pytest.raises(ConfigError) as info:
        validate(raw, source)
    message = str(info.value)
    assert "\n" not in message and message.startswith(source)
    return message


def test_timesteps_beyond_the_64_bit_step_counters_are_refused():
    assert "timesteps: must be <= 1e+18, got 1e+30" in problem({"algo": "ppo", "timesteps": 10**30})


def test_unknown_key_suggests_the_closest():
    assert "n_env: unknown key (did you mean n_envs?)" in problem({"algo": "ppo", "n_env": 4})
    message = problem({"algo": "ppo", "hyperparams": {"n_step": 64}})
    assert "hyperparams.n_step: unknown key (did you mean n_steps?) for ppo" in message
    # a DQN key is not a PPO hyperparameter
    assert "hyperparams.buffer_size: unknown key" in problem(
        {"algo": "ppo", "hyperparams": {"buffer_size": 10}}
    )


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (
            {"algo": "ppx"},
            "algo: expected one of a2c, ppo, dqn, device_ppo, device_a2c, got 'ppx' "
            "(did you mean ppo?)",
        ),
        ({"algo": "ppo", "arch": "coord"}, "arch: expected one of conv, coordconv"),
        ({"algo": "ppo", "timesteps": -5}, "timesteps: must be >= 1, got -5"),
        ({"algo": "ppo", "n_envs": 2.5}, "n_envs: expected an integer, got 2.5"),
        ({"algo": "ppo", "n_envs": "many"}, "n_envs: expected a number, got 'many'"),
        ({"algo": "ppo", "with_r": "yes please"}, "with_r: expected true or false"),
        ({"algo": "ppo", "repeat_action_probability": 1.5}, "must be <= 1"),
        ({"algo": "ppo", "hyperparams": {"learning_rate": "fast"}}, "linear schedule"),
        ({"algo": "ppo", "hyperparams": {"clip_range": "lin_-1"}}, "must be > 0"),
        ({"algo": "ppo", "hyperparams": [1, 2]}, "hyperparams: expected a mapping"),
        ({"env": "Pong"}, "algo: missing"),
    ],
)
def test_wrong_types_and_bad_values_name_the_key(raw, expected):
    assert expected in problem(raw)


def test_numbers_written_as_yaml_text_are_accepted():
    config = validate({"algo": "ppo", "timesteps": "1e7", "n_envs": 4.0}, "x")
    assert config.timesteps == 10_000_000 and config.n_envs == 4


def test_bad_yaml_is_one_line_with_the_line_number(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("algo: ppo\nhyperparams: {n_steps: 5\n")
    with pytest.raises(ConfigError, match=r"bad\.yaml: line \d+: invalid YAML"):
        load_config(path)
    path.write_text("- ppo\n")
    with pytest.raises(ConfigError, match="expected a mapping"):
        load_config(path)


def test_overrides_merge_and_are_named_as_their_source(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump({"algo": "ppo", "hyperparams": {"n_steps": 128}}))
    sets = parse_overrides(["hyperparams.n_epochs=3", "seed=7", "with_r=true"])
    config = load_config(path, sets)
    assert config.hyperparams == {"n_steps": 128, "n_epochs": 3}
    assert (config.seed, config.with_r) == (7, True)
    with pytest.raises(ConfigError, match=r"^command line: hyperparams\.n_epoch: unknown"):
        load_config(path, parse_overrides(["hyperparams.n_epoch=3"]))
    with pytest.raises(ConfigError, match="expected key=value"):
        parse_overrides(["seed"])


def test_the_file_is_blamed_for_its_own_mistakes_even_with_overrides(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump({"algo": "ppo", "n_env": 2}))
    with pytest.raises(ConfigError, match=r"c\.yaml: n_env"):
        load_config(path, {"seed": 1})


def test_schedules_and_optimizer_reach_sb3_arguments():
    config = validate(
        {
            "algo": "a2c",
            "arch": "conv",
            "hyperparams": {"learning_rate": "lin_1e-3", "optimizer": "rmsprop_tf_like"},
        },
        "x",
    )
    kwargs = algorithm_kwargs(config)
    assert kwargs["learning_rate"](1.0) == pytest.approx(1e-3)
    assert kwargs["learning_rate"](0.25) == pytest.approx(2.5e-4)
    assert kwargs["policy_kwargs"]["optimizer_class"].__name__ == "RMSpropTFLike"
    assert kwargs["policy_kwargs"]["optimizer_kwargs"]["eps"] == 1e-5

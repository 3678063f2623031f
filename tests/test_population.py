"""Populations: K on-device agents trained as one computation are exactly the single-agent
runs they stand for, write ordinary run directories, resume, and batch a sweep's trials."""

from __future__ import annotations

import csv
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from cli_helpers import run
from devices import DEVICES
from training_process import wait_for_checkpoints

from coordrl.agents.population import PopulationTrainer, check_population
from coordrl.agents.sweep import batches
from coordrl.agents.trainers import make_trainer, preflight
from coordrl.config import ConfigError, load_config
from coordrl.runs import SWEEP_CONFIG, TORCH_MODEL, TORCH_STATE, list_checkpoints
from coordrl.shipped import find_config
from coordrl.sweeps import load_sweep

ALGOS = {"device_a2c": "minatar/a2c", "device_ppo": "minatar/ppo"}
SMALL = {"n_envs": 4, "device": "cpu", "timesteps": 100_000}
SMALL_PPO = {"n_steps": 8, "batch_size": 8, "n_epochs": 2}


def member_config(algo: str, seed: int, arch: str, game: str = "Breakout", **changes):
    overrides = {**SMALL, "seed": seed, "arch": arch, "env": f"coordrl/MinAtar-{game}-v0"}
    if algo == "device_ppo":
        overrides["hyperparams"] = dict(SMALL_PPO)
    for key, value in changes.items():
        if key in ("learning_rate", "max_grad_norm", "ent_coef", "clip_range", "gamma"):
            overrides.setdefault("hyperparams", {})[key] = value
        elif key == "hyperparams":
            overrides.setdefault("hyperparams", {}).update(value)
        else:
            overrides[key] = value
    return preflight(load_config(find_config(ALGOS[algo]), overrides), "test")


def updates(config, count: int) -> int:
    return count * config.n_envs * config.hyperparams.get("n_steps", 5)


def assert_same_weights(single: dict, member: dict, atol: float) -> None:
    assert single.keys() == member.keys()
    for name in single:
        torch.testing.assert_close(member[name], single[name], rtol=0, atol=atol, msg=name)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("algo", list(ALGOS))
def test_each_member_trains_exactly_as_the_single_agent_trainer(algo, device):
    """Conv and CoordConv members in one population, with their own seeds, learning rates
    and gradient clipping: after 20 updates each has the single trainer's weights."""
    configs = [
        member_config(algo, 0, "conv", device=device),
        member_config(algo, 1, "coordconv", device=device, learning_rate=2e-3, max_grad_norm=0.1),
        member_config(algo, 2, "coordconv", device=device, ent_coef=0.05),
    ]
    steps = updates(configs[0], 20)
    population = PopulationTrainer(configs)
    population.learn(steps)
    for k, config in enumerate(configs):
        single = make_trainer(config)
        start = {n: p.clone() for n, p in single.model.state_dict().items()}
        single.learn(steps)
        final = {n: p.cpu() for n, p in single.model.state_dict().items()}
        start = {n: p.cpu() for n, p in start.items()}
        assert any(not torch.equal(start[n], final[n]) for n in final), "nothing was learned"
        assert_same_weights(final, population.member_network(k), atol=2e-5)


def test_a_member_does_not_depend_on_the_other_members():
    configs = [member_config("device_a2c", 0, "coordconv"), member_config("device_a2c", 1, "conv")]
    other = [configs[0], member_config("device_a2c", 7, "coordconv", learning_rate=1e-2)]
    steps = updates(configs[0], 20)
    first, second = PopulationTrainer(configs), PopulationTrainer(other)
    first.learn(steps)
    second.learn(steps)
    assert_same_weights(first.member_network(0), second.member_network(0), atol=1e-6)
    assert not torch.equal(
        first.member_network(1)["policy.weight"], second.member_network(1)["policy.weight"]
    )


def test_a_conv_member_keeps_zero_coordinate_weights_and_is_a_conv_network():
    configs = [member_config("device_a2c", 0, "coordconv"), member_config("device_a2c", 0, "conv")]
    population = PopulationTrainer(configs)
    population.learn(updates(configs[0], 5))
    k = 1
    assert "extractor.cnn.0.coord_weight" not in population.member_network(k)
    assert torch.count_nonzero(population.net.coord_weight[k]) == 0
    assert torch.count_nonzero(population.net.coord_weight[0]) > 0


def test_each_member_clips_its_own_gradient_norm():
    """A tiny max_grad_norm in one member scales its gradients only."""
    configs = [
        member_config("device_a2c", 0, "conv", max_grad_norm=1e-3),
        member_config("device_a2c", 1, "conv"),
    ]
    population = PopulationTrainer(configs)
    population._obs = None
    population.learn(updates(configs[0], 1))
    grads = [p.grad for p in population.net.parameters()]
    norms = torch.stack([g.flatten(1).square().sum(1) for g in grads]).sum(0).sqrt()
    assert norms[0] == pytest.approx(1e-3, rel=1e-3)
    assert norms[1] > 1e-3


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"n_envs": 8}, "n_envs"),
        ({"env": "coordrl/MinAtar-Asterix-v0"}, "env"),
        ({"timesteps": 50_000}, "timesteps"),
    ],
)
def test_members_that_cannot_be_batched_are_refused_naming_the_setting(change, named):
    configs = [member_config("device_a2c", 0, "conv"), member_config("device_a2c", 1, "conv")]
    configs[1] = configs[1].replace(**change)
    with pytest.raises(ConfigError, match=named):
        check_population(configs, "test")


def test_a_hyperparameter_that_cannot_be_batched_is_named():
    a = member_config("device_ppo", 0, "conv")
    b = a.replace(hyperparams={**a.hyperparams, "n_epochs": 3})
    with pytest.raises(ConfigError, match=r"hyperparams\.n_epochs"):
        check_population([a, b], "test")


def prepared(tmp_path: Path, configs) -> list[Path]:
    """Run directories holding each member's config, as a sweep prepares them."""
    from coordrl.config import dump_config

    dirs = []
    for k, config in enumerate(configs):
        run_dir = tmp_path / f"member{k}"
        run_dir.mkdir()
        dump_config(config, run_dir / SWEEP_CONFIG)
        dirs.append(run_dir)
    return dirs


def test_members_are_ordinary_runs_that_evaluate_and_resume_alone(tmp_path, capsys):
    settings = {"timesteps": 960, "checkpoint_every": 480}
    configs = [
        member_config("device_a2c", 0, "conv", **settings),
        member_config("device_a2c", 1, "coordconv", **settings),
    ]
    dirs = prepared(tmp_path, configs)
    code, out, err = run(capsys, "population", *dirs)
    assert code == 0, err
    for run_dir in dirs:
        assert (run_dir / "config.yaml").is_file()
        assert (run_dir / TORCH_MODEL).is_file()
        assert [s for s, _ in list_checkpoints(run_dir)] == [480, 960]
        assert list(run_dir.glob("events.out.tfevents.*"))
        with (run_dir / "episodes.csv").open() as f:
            rows = list(csv.DictReader(f))
        assert rows and all(0 < int(r["step"]) <= 960 for r in rows)
    code, out, err = run(capsys, "evaluate", dirs[1], "--episodes", "4")
    assert code == 0, err
    # a member goes on alone, as any run: the single trainer loads its checkpoint
    code, out, err = run(capsys, "train", "--resume", dirs[0], "--timesteps", "1280")
    assert code == 0, err
    assert "resuming from the checkpoint at step 960" in out
    assert list_checkpoints(dirs[0])[-1][0] == 1280


def test_a_member_checkpoint_restores_the_single_trainer_exactly(tmp_path):
    """A population checkpoint loaded by the single trainer, and a single trainer's
    checkpoint loaded into a population: the same weights, optimizer and generator."""
    configs = [member_config("device_ppo", 3, "coordconv"), member_config("device_ppo", 4, "conv")]
    population = PopulationTrainer(configs)
    population.learn(updates(configs[0], 3))
    folders = [tmp_path / "a", tmp_path / "b"]
    for folder in folders:
        folder.mkdir()
    population.save_state(folders)
    single = make_trainer(configs[1])
    single.load_state(folders[1])
    assert_same_weights(single.model.state_dict(), population.member_network(1), atol=0)
    again = PopulationTrainer(configs)
    again.load_state(folders)
    for k in range(2):
        assert_same_weights(population.member_network(k), again.member_network(k), atol=0)
    assert torch.equal(
        population.optimizer.exp_avg_sq[3], again.optimizer.exp_avg_sq[3]
    )  # the linear layer's second moments
    assert torch.equal(
        population.members[0].generator.get_state(), again.members[0].generator.get_state()
    )
    state = torch.load(folders[1] / TORCH_STATE, weights_only=True)
    assert state["num_timesteps"] == population.num_timesteps


def test_a_killed_population_resumes_to_exactly_its_total(tmp_path):
    settings = {"timesteps": 20_000, "checkpoint_every": 2_000, "keep_checkpoints": 1}
    configs = [
        member_config("device_a2c", 0, "conv", n_envs=16, **settings),
        member_config("device_a2c", 1, "coordconv", n_envs=16, **settings),
    ]
    dirs = prepared(tmp_path, configs)
    command = [sys.executable, "-m", "coordrl.cli", "population", *map(str, dirs)]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    wait_for_checkpoints(dirs[1], 1, proc)
    wait_for_checkpoints(dirs[0], 1, proc)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    killed_at = [list_checkpoints(d)[-1][0] for d in dirs]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "resuming the population from its checkpoint at step" in done.stdout
    for run_dir in dirs:
        assert (run_dir / TORCH_MODEL).is_file()
        assert list_checkpoints(run_dir)[-1][0] == 20_000
        with (run_dir / "episodes.csv").open() as f:
            steps = [int(r["step"]) for r in csv.DictReader(f)]
        assert steps == sorted(steps) and steps[-1] <= 20_000
    assert min(killed_at) < 20_000


def test_resuming_a_member_while_its_population_trains_names_the_holder(tmp_path, capsys):
    settings = {"timesteps": 2_000_000, "checkpoint_every": 2_000}
    configs = [member_config("device_a2c", 0, "conv", **settings)] * 1
    configs.append(member_config("device_a2c", 1, "conv", **settings))
    dirs = prepared(tmp_path, configs)
    command = [sys.executable, "-m", "coordrl.cli", "population", *map(str, dirs)]
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_checkpoints(dirs[0], 1, proc)
        config_before = (dirs[0] / "config.yaml").read_text()
        code, _out, err = run(capsys, "train", "--resume", dirs[0])
        assert code == 2
        assert err.startswith("error:") and "population" in err and len(err.splitlines()) == 1
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
    assert (dirs[0] / "config.yaml").read_text() == config_before  # nothing written over


@pytest.mark.parametrize(
    ("value", "message"), [("many", "population: expected auto"), (0, "population"), (True, "")]
)
def test_a_bad_population_setting_is_one_error_line(tmp_path, capsys, value, message):
    path = sweep_file(tmp_path, population=value)
    code, _out, err = run(capsys, "sweep", path)
    assert code == 2
    assert err.startswith("error:") and message in err and len(err.splitlines()) == 1
    assert not (tmp_path / "sweep").exists()


def sweep_file(tmp_path: Path, **changes) -> Path:
    spec = {
        "config": "minatar/a2c",
        "out": str(tmp_path / "sweep"),
        "set": {**SMALL, "timesteps": 640, "checkpoint_every": 320, "n_envs": 8},
        "grid": {
            "env": ["coordrl/MinAtar-Breakout-v0", "coordrl/MinAtar-Asterix-v0"],
            "arch": ["conv", "coordconv"],
            "seed": [0, 1],
        },
        "evaluate": {"episodes": 2},
        **changes,
    }
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def test_a_sweep_batches_compatible_trials_into_populations(tmp_path):
    sweep = load_sweep(sweep_file(tmp_path, population="auto"), preflight)
    groups = batches(sweep)
    assert sorted(len(g) for g in groups) == [4, 4]
    assert all(len({t.config.env for t in g}) == 1 for g in groups)
    sized = load_sweep(sweep_file(tmp_path, population=3), preflight)
    assert sorted(len(g) for g in batches(sized)) == [2, 2, 2, 2]
    single = load_sweep(sweep_file(tmp_path, population=1), preflight)
    assert [len(g) for g in batches(single)] == [1] * 8


def test_a_sweep_of_populations_runs_and_its_re_run_skips_them(tmp_path, capsys):
    path = sweep_file(tmp_path, population="auto")
    code, out, err = run(capsys, "sweep", path)
    assert code == 0, out + err
    with (tmp_path / "sweep" / "sweep.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 8 and {r["status"] for r in rows} == {"finished"}
    for row in rows:
        assert (Path(row["run_dir"]) / "eval" / "sweep.json").is_file()
    logs = [(Path(r["run_dir"]) / "sweep.log").read_text() for r in rows]
    assert sum("training a population of 4 DEVICE_A2C agents" in log for log in logs) == 2
    code, out, err = run(capsys, "sweep", path)
    assert code == 0
    assert "0 finished" in out or "skipped" in out
    # the members are runs as compare reads them: both arms of both games, evaluated
    compare = ["compare", tmp_path / "sweep", "--out", tmp_path / "compare", "--metric", "eval"]
    code, out, err = run(capsys, *compare, "--reps", "200")
    assert code == 0, err
    table = (tmp_path / "compare" / "table.md").read_text()
    for name in ("MinAtar-Breakout", "MinAtar-Asterix", "device_a2c | conv", "coordconv"):
        assert name in table, table


def test_a_ray_sweep_trains_one_population_per_tune_trial(tmp_path):
    ray = pytest.importorskip("ray")
    from coordrl.agents.sweep_ray import run_ray

    grid = {"env": ["coordrl/MinAtar-Breakout-v0"], "arch": ["conv", "coordconv"], "seed": [0]}
    sweep = load_sweep(sweep_file(tmp_path, population="auto", grid=grid), preflight)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        seen = []
        results = run_ray(sweep, 2, seen.append)
        assert {r.status for r in results} == {"finished"}, results
        assert sorted(r.name for r in seen) == sorted(t.name for t in sweep.trials)
        log = (sweep.trials[0].run_dir / "sweep.log").read_text()
        assert "training a population of 2 DEVICE_A2C agents" in log
        for trial in sweep.trials:
            assert (trial.run_dir / TORCH_MODEL).is_file()
            assert (trial.run_dir / "eval" / "sweep.json").is_file()
        assert {r.status for r in run_ray(sweep, 2, lambda r: None)} == {"skipped"}
    finally:
        ray.shutdown()


def test_a_bf16_member_trains_as_the_single_bf16_trainer():
    configs = [
        member_config("device_a2c", seed, arch, hyperparams={"precision": "bf16"})
        for seed, arch in ((0, "conv"), (1, "coordconv"))
    ]
    steps = updates(configs[0], 20)
    population = PopulationTrainer(configs)
    population.learn(steps)
    for k, config in enumerate(configs):
        single = make_trainer(config)
        single.learn(steps)
        assert_same_weights(single.model.state_dict(), population.member_network(k), atol=1e-4)


def test_precision_is_checked_in_one_line(capsys):
    code, _, err = run(
        capsys, "train", "--config", "minatar/a2c", "--set", "hyperparams.precision=fp16"
    )
    assert code == 2
    assert err.startswith("error:") and "precision" in err and len(err.splitlines()) == 1


@pytest.mark.slow
def test_bf16_learning_curves_stay_within_the_float32_seed_spread():
    """Breakout, 5 seeds each, 400k steps: at each quarter of the run the bf16 agents' mean
    training score lies within the range of the float32 agents' scores."""
    total, seeds = 400_000, range(5)
    curves = {}
    for precision in ("fp32", "bf16"):
        configs = [
            member_config(
                "device_a2c",
                seed,
                "conv",
                n_envs=16,
                hyperparams={"precision": precision, "learning_rate": 2e-3},
            )
            for seed in seeds
        ]
        population = PopulationTrainer(configs)
        scores: list[list[float]] = [[] for _ in seeds]
        points = []

        def report(step, episodes, scores=scores, points=points):
            for mine, ended in zip(scores, episodes, strict=True):
                mine.extend(ended.score.tolist())
            if step >= (len(points) + 1) * total // 4:
                points.append([float(np.mean(s[-100:])) for s in scores])
            return True

        population.learn(total, report)
        curves[precision] = np.array(points)  # (quarters, seeds)
    fp32, bf16 = curves["fp32"], curves["bf16"]
    print(f"mean training score per quarter (rows) and seed: fp32\n{fp32}\nbf16\n{bf16}")
    assert fp32[-1].mean() > 2.0, "the float32 agents did not learn: the test says nothing"
    for quarter in range(1, len(fp32)):
        assert fp32[quarter].min() <= bf16[quarter].mean() <= fp32[quarter].max(), (fp32, bf16)


def test_a_population_of_members_that_differ_is_one_error_line_and_writes_nothing(tmp_path, capsys):
    configs = [
        member_config("device_a2c", 0, "conv"),
        member_config("device_a2c", 1, "conv", n_envs=8),
    ]
    dirs = prepared(tmp_path, configs)
    code, _, err = run(capsys, "population", *dirs)
    assert code == 2
    assert err.startswith("error:") and "n_envs" in err and len(err.splitlines()) == 1
    assert all(sorted(p.name for p in d.iterdir()) == [SWEEP_CONFIG] for d in dirs)
    code, _, err = run(capsys, "population")
    assert code == 2 and err.startswith("error:")

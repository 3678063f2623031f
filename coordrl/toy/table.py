"""The toy-task results table: every task x split x arch, a small fair budget, figures.

Each arch gets the same budget: learning rates {0.001, 0.01} (the ends of the official
CoordConv grid) with L2 weight decay 0.001 (a value both official grids share), batch 32,
and per-task epochs; a run stops early once train and test are both perfect. For each
task, split and arch the learning rate with the better mean test score is reported (on a
tie, the one that trained faster). That
choice is made on the test split, as the paper's best-of-sweep is, and favours the conv
baseline. Trials are ordinary run directories; finished ones are skipped when re-run.
"""

from __future__ import annotations

import csv
import json
import multiprocessing
import os
import statistics
import sys
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from tqdm import tqdm

from coordrl.not_so_clevr import SPLITS
from coordrl.runs import TOY_RESULT, RunError
from coordrl.toy.models import ARCHS, TASKS
from coordrl.toy.train import ToyConfig

# Sized so the whole table runs in about half an hour on a 2-core CPU; --epochs-scale for more.
EPOCHS = {"classification": 60, "regression": 20, "rendering": 10}
LEARNING_RATES = (0.001, 0.01)
WEIGHT_DECAY = 0.001
BATCH_SIZE = 32
# Rough cost per epoch relative to the others, to start the longest trials first.
_COST = {("classification", "conv"): 3, ("rendering", "conv"): 4, ("rendering", "coordconv"): 3}


@dataclass(frozen=True)
class Row:
    """One line of the table: a task, split and arch at its chosen learning rate."""

    task: str
    split: str
    arch: str
    metric: str
    parameters: int
    lr: float
    seeds: int
    train: float
    test: float
    test_std: float
    seconds: float
    seconds_to_perfect_test: float | None
    run_dirs: list[str]


def trial_configs(seeds: int, device: str = "cpu", epochs_scale: float = 1.0) -> list[ToyConfig]:
    """Every trial of the table: task x split x arch x learning rate x seed."""
    return [
        ToyConfig(
            task=task,
            split=split,
            arch=arch,
            epochs=max(1, round(EPOCHS[task] * epochs_scale)),
            lr=lr,
            weight_decay=WEIGHT_DECAY,
            batch_size=BATCH_SIZE,
            seed=seed,
            device=device,
        )
        for task in TASKS
        for split in SPLITS
        for arch in ARCHS
        for lr in LEARNING_RATES
        for seed in range(seeds)
    ]


def trial_dir(root: Path, config: ToyConfig) -> Path:
    name = f"{config.task}-{config.split}-{config.arch}-lr{config.lr:g}-seed{config.seed}"
    return root / "runs" / name


def _run_trial(config: dict[str, Any], out_dir: str, threads: int) -> str:
    """Worker process: train one trial with ``threads`` CPU threads."""
    import torch

    from coordrl.toy.train import train

    torch.set_num_threads(threads)
    train(ToyConfig(**config), out_dir, progress=False)
    return out_dir


def run_trials(
    configs: list[ToyConfig], root: Path, workers: int, progress: bool = True
) -> list[str]:
    """Train every config not already finished under ``root``; return the failures."""
    todo = [c for c in configs if not (trial_dir(root, c) / RESULT_FILE).exists()]
    todo.sort(key=lambda c: -_COST.get((c.task, c.arch), 1) * EPOCHS[c.task])
    failures: list[str] = []
    if not todo:
        return failures
    threads = max(1, (os.cpu_count() or 1) // workers)
    context = multiprocessing.get_context("spawn")
    bar = tqdm(total=len(todo), desc="toy table", unit="run", disable=not progress)
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        futures = {
            pool.submit(_run_trial, asdict(c), str(trial_dir(root, c)), threads): c for c in todo
        }
        for future in as_completed(futures):
            config = futures[future]
            try:
                future.result()
            except Exception as exc:  # one failing trial must not stop the others
                failures.append(f"{trial_dir(root, config).name}: {exc}")
                print(
                    f"warning: trial {trial_dir(root, config).name} failed: {exc}", file=sys.stderr
                )
            bar.update()
    bar.close()
    return failures


RESULT_FILE = TOY_RESULT

Results = dict[tuple[str, str, str, float], list[dict[str, Any]]]


def _add_result(results: Results, path: Path) -> None:
    result = json.loads(path.read_text()) | {"dir": str(path.parent)}
    config = result["config"]
    key = (config["task"], config["split"], config["arch"], float(config["lr"]))
    results.setdefault(key, []).append(result)


def collect_rows(configs: list[ToyConfig], root: Path) -> list[Row]:
    """One row per (task, split, arch): the learning rate with the better mean test score."""
    results: Results = {}
    for config in configs:
        path = trial_dir(root, config) / RESULT_FILE
        if path.exists():
            _add_result(results, path)
    return rows_from_results(results)


def _hidden(relative: Path) -> bool:
    """Below a dot folder, e.g. a sweep's ``.tune/`` (Ray Tune writes its own result.json)."""
    return any(part.startswith(".") for part in relative.parts[:-1])


def read_results(paths: list[Path]) -> Results:
    """Every finished toy-task run (a folder with ``result.json``) in or below ``paths``;
    ``RunError`` for one that cannot be read."""
    results: Results = {}
    for path in paths:
        files = [path / RESULT_FILE] if (path / RESULT_FILE).is_file() else []
        found = (f for f in sorted(path.rglob(RESULT_FILE)) if not _hidden(f.relative_to(path)))
        for file in files or found:
            try:
                _add_result(results, file)
            except (OSError, ValueError, KeyError, TypeError) as exc:
                raise RunError(f"{file}: unreadable toy-task result ({exc})") from None
    return results


def rows_from_results(results: Results) -> list[Row]:
    """One row per (task, split, arch): the learning rate with the better mean test score."""
    rows = []
    for task in TASKS:
        for split in SPLITS:
            for arch in ARCHS:
                candidates = [
                    (lr, results[task, split, arch, lr])
                    for lr in LEARNING_RATES
                    if (task, split, arch, lr) in results
                ]
                if not candidates:
                    continue
                sign = -1.0 if candidates[0][1][0]["metric"] == "pixel_error" else 1.0

                def rank(item: tuple[float, list[dict[str, Any]]], sign: float = sign) -> tuple:
                    """Better mean test score first; on a tie, less training time."""
                    runs = item[1]
                    return (
                        sign * statistics.mean(r["test_score"] for r in runs),
                        -statistics.mean(r["seconds"] for r in runs),
                    )

                lr, runs = max(candidates, key=rank)
                tests = [r["test_score"] for r in runs]
                perfect = [r["seconds_to_perfect_test"] for r in runs]
                rows.append(
                    Row(
                        task=task,
                        split=split,
                        arch=arch,
                        metric=runs[0]["metric"],
                        parameters=runs[0]["parameters"],
                        lr=lr,
                        seeds=len(runs),
                        train=statistics.mean(r["train_score"] for r in runs),
                        test=statistics.mean(tests),
                        test_std=statistics.stdev(tests) if len(tests) > 1 else 0.0,
                        seconds=statistics.mean(r["seconds"] for r in runs),
                        seconds_to_perfect_test=(
                            statistics.mean(perfect)
                            if all(p is not None for p in perfect)
                            else None
                        ),
                        run_dirs=[r["dir"] for r in runs],
                    )
                )
    return rows


def _format_score(row: Row, value: float) -> str:
    if row.metric == "accuracy":
        return f"{100 * value:.1f}%"
    if row.metric == "pixel_error":
        return f"{value:.2f} px"
    return f"{value:.3f}"


def write_table(rows: list[Row], out_dir: Path) -> tuple[Path, Path]:
    """Write ``results.md`` and ``results.csv``."""
    columns = [
        "task",
        "split",
        "arch",
        "parameters",
        "lr",
        "train",
        "test",
        "training s",
        "s to perfect test",
    ]
    header = f"| {' | '.join(columns)} |\n|---|---|---|" + "---:|" * (len(columns) - 3) + "\n"
    lines = []
    for row in rows:
        test = _format_score(row, row.test)
        if row.seeds > 1:
            test += f" ± {_format_score(row, row.test_std)}"
        perfect = (
            "-" if row.seconds_to_perfect_test is None else f"{row.seconds_to_perfect_test:.0f}"
        )
        lines.append(
            f"| {row.task} ({row.metric}) | {row.split} | {row.arch} | {row.parameters:,} | "
            f"{row.lr:g} | {_format_score(row, row.train)} | {test} | {row.seconds:.0f} | "
            f"{perfect} |"
        )
    seeds = max((r.seeds for r in rows), default=0)
    note = f"\nMean over {seeds} seed(s); ± is the standard deviation over seeds.\n"
    md = out_dir / "results.md"
    md.write_text(header + "\n".join(lines) + "\n" + note)
    path_csv = out_dir / "results.csv"
    with path_csv.open("w", newline="") as f:
        writer = csv.writer(f)
        fields = [k for k in asdict(rows[0]) if k != "run_dirs"] if rows else []
        writer.writerow(fields)
        for row in rows:
            writer.writerow([asdict(row)[k] for k in fields])
    return md, path_csv

"""Every GPU path of coordrl checked and timed by one command, within a time budget.

    python benchmarks/gpu.py [--device cuda] [--budget-s 480] [--out gpu.json]
    python benchmarks/gpu.py --device cpu --budget-s 60        # the same parts, tiny sizes

Prints the device, torch and CUDA first, then runs each part in its own process, in turn,
with its share of the budget (a part that finishes early leaves its time to the next): the
tests marked ``cuda``; the layers (fp32 and bf16 autocast, eager and torch.compile); the
toy envs at large N; the on-device PPO against SB3's PPO; SB3 PPO on Atari, device against
CPU; the MinAtar games and the on-device A2C; Atari on the device where this coordrl has
it; populations of 20 and 100 MinAtar agents. A part cut short says so and keeps what it
measured. Ends with one table; all figures also go to ``--out`` (JSON).

Offline GPU machines (python and a CUDA torch, no network): on a connected machine,

    python benchmarks/gpu.py --build-wheelhouse wheelhouse

downloads the few packages a GPU image usually lacks (gymnasium, SB3, ale-py: ~4 MB) as
wheels for the GPU machine's Python; there,

    python benchmarks/gpu.py --wheelhouse wheelhouse

installs coordrl and them offline into a throwaway venv that sees the system's torch,
or says exactly what is missing, then runs as above. ``--report gpu.json`` prints the
table of docs/speed.md from a saved run.
"""

from __future__ import annotations

import argparse
import datetime
import importlib.util
import json
import os
import platform
import re
import site
import subprocess
import sys
import sysconfig
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
# What a GPU image usually lacks, as (distribution, import name); versions: this machine's.
OFFLINE_PACKAGES = [
    ("gymnasium", "gymnasium"),
    ("farama-notifications", "farama_notifications"),
    ("stable-baselines3", "stable_baselines3"),
    ("ale-py", "ale_py"),
]
# the parts every coordrl has (the others measure features that may not be there yet)
CORE = ("tests", "layers", "toy-envs", "ppo", "atari", "minatar")
VENV = Path(tempfile.gettempdir()) / "coordrl-gpu-venv"
PLATFORMS = ["manylinux_2_28_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64"]


def fail(message: str) -> None:
    print(f"error: {message}", file=sys.stderr)
    raise SystemExit(2)


# ---------------------------------------------------------------------------------------
# offline machines: the wheelhouse


def normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "_", name).lower()


def build_wheelhouse(folder: Path, python_version: str) -> None:
    """Download OFFLINE_PACKAGES, at this machine's versions, as wheels for the GPU's Python."""
    from importlib.metadata import version

    folder.mkdir(parents=True, exist_ok=True)
    pins = [f"{dist}=={version(dist)}" for dist, _ in OFFLINE_PACKAGES]
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:"]
    command += ["--python-version", python_version, "--implementation", "cp", "-d", str(folder)]
    for tag in PLATFORMS:
        command += ["--platform", tag]
    subprocess.run(command + pins, check=True)
    size = sum(f.stat().st_size for f in folder.glob("*.whl"))
    print(f"{folder}: {len(pins)} packages, {size / 2**20:.1f} MiB: {' '.join(pins)}")


def missing_from(folder: Path, importable=importlib.util.find_spec) -> list[str]:
    """OFFLINE_PACKAGES neither importable here nor present as a wheel in ``folder``."""
    wheels = {normalized(w.name.split("-")[0]) for w in folder.glob("*.whl")}
    return [
        dist
        for dist, module in OFFLINE_PACKAGES
        if importable(module) is None and normalized(dist) not in wheels
    ]


def install_offline(folder: Path) -> Path:
    """A venv that sees this interpreter's packages (torch), with coordrl and ``folder``'s wheels.

    Returns its python. Exits with an ``error:`` line naming what is missing.
    """
    if not folder.is_dir():
        fail(f"--wheelhouse {folder}: no such folder (build it with --build-wheelhouse)")
    missing = missing_from(folder)
    if missing:
        fail(
            f"--wheelhouse {folder} lacks {', '.join(missing)}: on a connected machine, "
            f"python benchmarks/gpu.py --build-wheelhouse {folder}"
        )
    python = VENV / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(VENV)], check=True)
    purelib = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    # this interpreter's packages (torch, pip, numpy...) stay visible in the venv
    seen = [*site.getsitepackages(), sysconfig.get_paths()["purelib"]]
    Path(purelib, "system-site.pth").write_text("\n".join(dict.fromkeys(seen)) + "\n")
    pip = [python, "-m", "pip", "install", "--quiet", "--no-index", "--find-links", str(folder)]
    steps = [
        # the checkout itself, built with the system's setuptools (no index to fetch one)
        [*pip, "--no-deps", "--no-build-isolation", str(REPO)],
        [*pip, *(dist for dist, _ in OFFLINE_PACKAGES)],
    ]
    for step in steps:
        done = subprocess.run(step, capture_output=True, text=True)
        if done.returncode:
            print(done.stdout[-3000:], done.stderr[-3000:], sep="\n", file=sys.stderr)
            fail(f"offline install failed: {' '.join(map(str, step[3:]))}")
    return python


# ---------------------------------------------------------------------------------------
# the run


def header(device_name: str) -> dict:
    import torch

    device = torch.device(device_name)
    info = {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "command": "python benchmarks/gpu.py " + " ".join(sys.argv[1:]),
        "device": device_name,
        "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
    }
    print(
        f"device {info['device_name']} ({device_name}), torch {info['torch']}, "
        f"CUDA {info['cuda']}, python {info['python']}, {info['cpus']} CPUs, "
        f"{info['torch_threads']} torch threads, {info['date']}",
        flush=True,
    )
    return info


def run_part(name: str, args: argparse.Namespace) -> None:
    """Inside a part's own process: measure, saving rows to ``args.part_out`` as they come."""
    sys.path.insert(0, str(HERE))
    import torch
    from gpu_parts import PARTS, Part

    part = Part(name, args.deadline, Path(args.part_out))
    part.save()
    device = torch.device(args.device)
    scale = "full" if device.type == "cuda" else "tiny"
    try:
        PARTS[name][1](part, device, scale)
    except Exception as error:  # recorded for the report, then raised with its traceback
        part.note(f"{type(error).__name__}: {error}")
        raise
    part.save()


def run_all(args: argparse.Namespace) -> dict:
    """Every part in turn, each in its own process with its share of what is left."""
    sys.path.insert(0, str(HERE))
    from gpu_parts import PARTS

    report = header(args.device)
    report["budget_s"] = args.budget_s
    report["parts"] = {}
    end = time.monotonic() + args.budget_s
    names = args.parts or list(PARTS)
    for index, name in enumerate(names):
        started = time.monotonic()
        weights = [PARTS[n][0] for n in names[index:]]
        share = (end - started) * PARTS[name][0] / sum(weights)
        print(f"\n== {name} ({share:.0f} s)", flush=True)
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "part.json"
            command = [sys.executable, __file__, "--part", name, "--device", args.device]
            command += ["--deadline", str(started + share), "--part-out", str(out)]
            try:
                # the part watches its own clock; this is the backstop for a hang
                done = subprocess.run(command, timeout=share + 20)
                status = "ok" if done.returncode == 0 else f"failed (exit {done.returncode})"
            except subprocess.TimeoutExpired:
                status = "killed at its deadline"
            result = json.loads(out.read_text()) if out.exists() else {"rows": [], "notes": []}
        if status == "ok" and result.pop("cut", False):
            status = "cut short"
        result.pop("cut", None)
        result.update(status=status, seconds=round(time.monotonic() - started, 1))
        report["parts"][name] = result
        print(f"== {name}: {status} in {result['seconds']} s", flush=True)
    return report


def table(report: dict) -> str:
    """The report as a Markdown table: part, measurement, value, target, met."""
    lines = ["| part | measured | value | target | met |", "|---|---|---:|---|---|"]
    for name, part in report["parts"].items():
        for row in part["rows"]:
            value, unit = row["value"], row["unit"]
            shown = f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}"
            met = {True: "yes", False: "**no**", None: ""}[row["met"]]
            lines.append(
                f"| {name} | {row['measured']} | {shown} {unit} | {row['target']} | {met} |"
            )
        if part["status"] != "ok" or not part["rows"]:
            why = part.get("reason") or "; ".join(part["notes"]) or "nothing measured"
            lines.append(f"| {name} | {part['status']}: {why} | | | |")
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="auto", help="auto (CUDA if any), cuda, cuda:N, cpu")
    parser.add_argument("--budget-s", type=float, default=480, help="all parts together")
    parser.add_argument("--out", type=Path, default=Path("gpu.json"), help="the JSON report")
    parser.add_argument("--parts", nargs="+", help="a subset, in this order")
    parser.add_argument("--wheelhouse", type=Path, help="install offline from this folder first")
    parser.add_argument("--build-wheelhouse", type=Path, metavar="DIR")
    parser.add_argument("--python-version", default="3.12", help="for --build-wheelhouse")
    parser.add_argument("--report", type=Path, metavar="JSON", help="print a saved run's table")
    parser.add_argument("--part", help=argparse.SUPPRESS)
    parser.add_argument("--deadline", type=float, help=argparse.SUPPRESS)
    parser.add_argument("--part-out", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main() -> None:
    args = parse_args()
    if args.part:
        run_part(args.part, args)
        return
    if args.build_wheelhouse:
        build_wheelhouse(args.build_wheelhouse, args.python_version)
        return
    if args.report:
        print(table(json.loads(args.report.read_text())))
        return
    if args.budget_s <= 0:
        fail(f"--budget-s must be positive, not {args.budget_s}")
    if args.wheelhouse:
        python = install_offline(args.wheelhouse)
        argv = [a for a in sys.argv[1:]]
        at = argv.index("--wheelhouse") if "--wheelhouse" in argv else None
        argv = (
            argv[:at] + argv[at + 2 :]
            if at is not None
            else [a for a in argv if not a.startswith("--wheelhouse=")]
        )
        os.execv(python, [str(python), __file__, *argv])

    sys.path.insert(0, str(HERE))
    from gpu_parts import PARTS

    unknown = sorted(set(args.parts or []) - set(PARTS))
    if unknown:
        fail(f"unknown part(s) {', '.join(unknown)}; choose from {', '.join(PARTS)}")
    from coordrl.device import resolve_device
    from coordrl.errors import CoordRLError

    try:
        args.device = str(resolve_device(args.device))
    except CoordRLError as error:
        fail(str(error))
    report = run_all(args)
    tmp = args.out.with_suffix(".tmp")
    tmp.write_text(json.dumps(report, indent=1))
    tmp.replace(args.out)
    print(f"\n{report['device_name']}, torch {report['torch']}, CUDA {report['cuda']}:")
    print(table(report))
    print(f"\nall figures: {args.out}")


if __name__ == "__main__":
    main()

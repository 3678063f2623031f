"""Side-by-side timing shared by the benchmarks: contenders alternate so noise hits all alike."""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable

from tqdm import tqdm


def interleaved_rates(
    contenders: dict[str, Callable[[], int]], rounds: int, label: str
) -> dict[str, float]:
    """Median steps per second of each contender (a callable returning the steps it took)."""
    names = list(contenders)
    for fn in contenders.values():  # warm-up
        fn()
    rates: dict[str, list[float]] = {name: [] for name in names}
    for r in tqdm(range(rounds), desc=label, file=sys.stderr, leave=False):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            start = time.perf_counter()
            steps = contenders[name]()
            rates[name].append(steps / (time.perf_counter() - start))
    return {name: statistics.median(values) for name, values in rates.items()}

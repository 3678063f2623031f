"""Aggregate scores over runs and tasks with rliable (Agarwal et al. 2021, NeurIPS).

Scores are normalised first (Atari: human-normalised; toy RL: success rates, already on
[0, 1]), arranged as one (runs x tasks) matrix per arm, and summarised by IQM, mean,
median and optimality gap with stratified bootstrap 95% confidence intervals, and by the
probability that CoordConv improves on conv (Mann-Whitney, averaged over tasks).
"""

from __future__ import annotations

import contextlib
import dataclasses
import warnings
from collections.abc import Callable, Iterator, Mapping

import numpy as np
from rliable import library as rly
from rliable import metrics

METRICS: dict[str, Callable[[np.ndarray], float]] = {
    "IQM": metrics.aggregate_iqm,
    "Mean": metrics.aggregate_mean,
    "Median": metrics.aggregate_median,
    "Optimality gap": metrics.aggregate_optimality_gap,  # lower is better
}


@dataclasses.dataclass(frozen=True)
class Estimate:
    point: float
    low: float  # 95% confidence interval
    high: float

    def __str__(self) -> str:
        return f"{self.point:.3f} [{self.low:.3f}, {self.high:.3f}]"


@contextlib.contextmanager
def _quiet_bootstrap() -> Iterator[None]:
    """Without arch's warning that rliable 1.2 still passes ``random_state`` (deprecated
    there, not wrong)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "random_state is deprecated", FutureWarning)
        yield


def _bootstrap(*args, **kwargs):
    """rliable's interval estimates, quietly."""
    with _quiet_bootstrap():
        return rly.get_interval_estimates(*args, **kwargs)


def _aggregate(scores: np.ndarray) -> np.ndarray:
    return np.array([func(scores) for func in METRICS.values()])


def aggregate_estimates(
    matrices: Mapping[str, np.ndarray], reps: int, seed: int = 0
) -> dict[str, dict[str, Estimate]]:
    """Per arm, each of :data:`METRICS` with its stratified bootstrap 95% interval."""
    points, intervals = _bootstrap(
        dict(matrices), _aggregate, reps=reps, random_state=np.random.RandomState(seed)
    )
    return {
        arm: {
            name: Estimate(float(points[arm][i]), *map(float, intervals[arm][:, i]))
            for i, name in enumerate(METRICS)
        }
        for arm in matrices
    }


def improvement(x: np.ndarray, y: np.ndarray, reps: int, seed: int = 0) -> Estimate:
    """P(X > Y): how likely a run of arm X beats a run of arm Y on a random task, with its
    stratified bootstrap 95% interval (0.5: no difference)."""
    points, intervals = _bootstrap(
        {"x,y": [x, y]},
        metrics.probability_of_improvement,
        reps=reps,
        random_state=np.random.RandomState(seed),
    )
    return Estimate(float(points["x,y"]), *map(float, np.ravel(intervals["x,y"])))


def performance_profiles(
    matrices: Mapping[str, np.ndarray], taus: np.ndarray, reps: int, seed: int = 0
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Fraction of runs scoring above each tau, with bootstrap intervals (rliable)."""
    np.random.seed(seed)  # rliable's profile bootstrap draws from numpy's global generator
    with _quiet_bootstrap():
        return rly.create_performance_profile(dict(matrices), taus, reps=reps)


def mean_curve_intervals(
    curves: np.ndarray, reps: int, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean over runs at each step of ``curves`` (runs x steps), and its bootstrap 95% band."""
    matrix = curves[:, None, :]  # runs x 1 task x steps

    def mean_per_step(scores: np.ndarray) -> np.ndarray:
        return np.array([metrics.aggregate_mean(scores[..., t]) for t in range(scores.shape[-1])])

    points, intervals = _bootstrap(
        {"arm": matrix}, mean_per_step, reps=reps, random_state=np.random.RandomState(seed)
    )
    return points["arm"], intervals["arm"][0], intervals["arm"][1]

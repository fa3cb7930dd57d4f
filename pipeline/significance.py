"""Paired statistics over users: bootstrap confidence intervals and a randomisation test.

Every system in a comparison is scored on the same users, so differences are judged *paired*, user
by user, which is far more sensitive than comparing two independent means (Smucker, Allan and
Carterette, "A comparison of statistical significance tests for information retrieval
evaluation", CIKM 2007, recommend the paired randomisation test used here; Sakai, "Statistical
reform in information retrieval?", SIGIR Forum 2014, the bootstrap intervals).

* :func:`bootstrap_ci`: the percentile interval of a mean, resampling users with replacement.
* :func:`paired_test`: for per-user values ``a`` and ``b`` of two systems, the mean difference, its
  bootstrap interval, and the two-sided p-value of the paired randomisation (sign-flip) test: under
  the null hypothesis that the two systems are exchangeable, each user's difference is as likely
  to have the other sign, so the p-value is the share of random sign patterns whose mean
  difference is at least as far from 0 as the observed one (with the observed pattern counted, so
  p is never 0).

Users with no value (NaN: nothing relevant to find in that direction) are left out, pairwise.
Everything is seeded and vectorised; resamples are drawn in chunks so memory stays bounded for any
number of users. p-values are not corrected for multiple comparisons.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Resamples drawn at once (a chunk holds ``CHUNK_CELLS`` indices or signs).
CHUNK_CELLS = 1 << 22


@dataclass(frozen=True)
class Interval:
    """A mean and its bootstrap percentile interval at ``level``."""

    mean: float
    low: float
    high: float
    n: int
    level: float

    def to_json(self) -> dict[str, float | int]:
        """A JSON-ready dict."""
        return {"mean": self.mean, "low": self.low, "high": self.high, "n": self.n, "level": self.level}


@dataclass(frozen=True)
class PairedTest:
    """``a - b`` over the users both have: mean difference, its interval, and the test's p-value."""

    difference: Interval
    p_value: float
    resamples: int

    def significant(self, alpha: float = 0.05) -> bool:
        """Whether the difference is significant at level ``alpha`` (two-sided)."""
        return self.p_value < alpha

    def to_json(self) -> dict[str, object]:
        """A JSON-ready dict."""
        return {"difference": self.difference.to_json(), "p_value": self.p_value, "resamples": self.resamples}


def bootstrap_means(values: np.ndarray, resamples: int, rng: np.random.Generator) -> np.ndarray:
    """Means of ``resamples`` samples of ``values`` drawn with replacement (same size)."""
    n = len(values)
    out = np.empty(resamples, dtype=np.float64)
    step = max(1, CHUNK_CELLS // max(n, 1))
    for lo in range(0, resamples, step):
        hi = min(lo + step, resamples)
        out[lo:hi] = values[rng.integers(0, n, size=(hi - lo, n))].mean(axis=1)
    return out


def bootstrap_ci(values: np.ndarray, *, resamples: int = 1000, level: float = 0.95, seed: int = 0) -> Interval:
    """The mean of ``values`` (NaN left out) and its bootstrap percentile interval."""
    values = np.asarray(values, dtype=np.float64)
    values = values[~np.isnan(values)]
    if not len(values):
        return Interval(float("nan"), float("nan"), float("nan"), 0, level)
    means = bootstrap_means(values, resamples, np.random.default_rng(seed))
    tail = (1.0 - level) / 2 * 100
    low, high = np.percentile(means, [tail, 100 - tail])
    return Interval(float(values.mean()), float(low), float(high), len(values), level)


def paired_test(a: np.ndarray, b: np.ndarray, *, resamples: int = 1000, level: float = 0.95,
                seed: int = 0) -> PairedTest:
    """Paired comparison of per-user values ``a`` and ``b`` (same users, same order)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"paired values need the same users: {a.shape} vs {b.shape}")
    both = ~(np.isnan(a) | np.isnan(b))
    diff = a[both] - b[both]
    interval = bootstrap_ci(diff, resamples=resamples, level=level, seed=seed)
    if not len(diff):
        return PairedTest(interval, float("nan"), resamples)
    observed = abs(diff.mean())
    rng = np.random.default_rng([seed, 1])
    n, extreme = len(diff), 0
    step = max(1, CHUNK_CELLS // n)
    # A tolerance keeps ties with the observed value (e.g. identical systems) counted as extreme.
    tolerance = 1e-12 * max(observed, 1.0)
    for lo in range(0, resamples, step):
        hi = min(lo + step, resamples)
        signs = rng.integers(0, 2, size=(hi - lo, n), dtype=np.int8) * 2 - 1
        extreme += int((np.abs((signs * diff).mean(axis=1)) >= observed - tolerance).sum())
    return PairedTest(interval, (extreme + 1) / (resamples + 1), resamples)

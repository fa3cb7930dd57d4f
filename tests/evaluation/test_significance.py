"""Bootstrap intervals and the paired randomisation test on planted cases with a known truth."""

from __future__ import annotations

import numpy as np
import pytest

from deepcart.pipeline import significance
from deepcart.pipeline.significance import bootstrap_ci, paired_test


def test_intervals_cover_the_true_mean_about_as_often_as_they_claim():
    """200 samples of 150 users from a skewed distribution with a known mean (0.3 x 0.5 = 0.15)."""
    truth, covered = 0.15, 0
    for replication in range(200):
        rng = np.random.default_rng(replication)
        values = rng.binomial(1, 0.3, 150) * rng.uniform(0.0, 1.0, 150)  # NDCG-like: mostly 0
        interval = bootstrap_ci(values, resamples=500, level=0.95, seed=replication)
        covered += interval.low <= truth <= interval.high
    assert 0.90 <= covered / 200 <= 0.99, covered


def test_a_planted_difference_is_significant_and_no_difference_is_not():
    rng = np.random.default_rng(0)
    base = rng.binomial(1, 0.2, 400) * rng.uniform(0.2, 1.0, 400)
    better = np.clip(base + rng.binomial(1, 0.15, 400) * 0.5, 0, 1)  # a real gain for some users
    test = paired_test(better, base, resamples=2000, seed=1)
    assert test.significant(0.05) and test.p_value < 0.01
    assert test.difference.low > 0 and test.difference.mean == pytest.approx((better - base).mean())
    # Exchangeable systems: differences symmetric around 0. About 5% of such tests are "significant".
    false_positives = 0
    for replication in range(200):
        r = np.random.default_rng(100 + replication)
        a, b = r.uniform(0, 1, (2, 120))
        false_positives += paired_test(a, b, resamples=400, seed=replication).significant(0.05)
    assert 0.01 <= false_positives / 200 <= 0.10, false_positives


def test_identical_systems_differ_by_nothing():
    values = np.random.default_rng(3).uniform(0, 1, 50)
    test = paired_test(values, values.copy(), resamples=300)
    assert test.difference.mean == 0 and test.p_value == 1.0 and not test.significant()


def test_users_without_a_value_are_left_out_pairwise():
    a = np.array([0.5, np.nan, 1.0, 0.0])
    b = np.array([0.0, 0.3, np.nan, 0.0])
    test = paired_test(a, b, resamples=200)
    assert test.difference.n == 2 and test.difference.mean == pytest.approx(0.25)
    assert bootstrap_ci(a).n == 3 and bootstrap_ci(np.full(3, np.nan)).n == 0


def test_resampling_in_chunks_gives_the_same_numbers(monkeypatch):
    values = np.random.default_rng(4).uniform(0, 1, 300)
    whole = bootstrap_ci(values, resamples=400, seed=7)
    monkeypatch.setattr(significance, "CHUNK_CELLS", 1000)  # 3 resamples per chunk
    assert bootstrap_ci(values, resamples=400, seed=7) == whole


def test_paired_values_must_line_up():
    with pytest.raises(ValueError, match="same users"):
        paired_test(np.zeros(3), np.zeros(4))

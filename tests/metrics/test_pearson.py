"""The ``pearson`` metric: hand-computed cases, undefined cases, the contract, and scipy as reference."""

from __future__ import annotations

import math

import numpy as np
import pytest

from deepcart.metric_types import RatingPairs
from deepcart.plugin_manager import load_plugins
from deepcart.plugins import BUILTIN_PLUGINS
from deepcart.plugins.metrics.correlation import Pearson
from deepcart.toolkit.testing import MetricContract

PLUGINS = ("deepcart.plugins.metrics.ranking", "deepcart.plugins.metrics.correlation")


@pytest.fixture
def deepcart_registry():
    """The built-ins plus this issue's metric plugins (deduplicated, so it survives their addition)."""
    return load_plugins(builtins=tuple(dict.fromkeys(BUILTIN_PLUGINS + PLUGINS)), entry_points=False).registry


def pairs(per_user: list[tuple[list[float], list[float]]]) -> RatingPairs:
    users = np.concatenate([np.full(len(p), u) for u, (p, _) in enumerate(per_user)]).astype(np.int64)
    predicted = np.concatenate([np.asarray(p, float) for p, _ in per_user])
    actual = np.concatenate([np.asarray(a, float) for _, a in per_user])
    return RatingPairs(users, predicted, actual, len(per_user))


HAND = [
    ([1, 2, 3], [1, 2, 3]),  # r = 1
    ([1, 2, 3], [3, 2, 1]),  # r = -1
    # centred: p = (-1.5, -.5, .5, 1.5), a = (-.5, -1.5, 1.5, .5): cov 3, variances 5 and 5
    ([1, 2, 3, 4], [2, 1, 4, 3]),  # r = 0.6
    ([4], [5]),  # one pair: undefined
    ([3, 3, 3], [1, 4, 5]),  # constant predictions: undefined
    ([1, 4, 5], [2, 2, 2]),  # constant ratings: undefined
    ([1, np.nan, 3], [1, 5, 2]),  # NaN prediction left out: (1, 1), (3, 2) -> r = 1
    ([], []),  # no pairs
]


def test_hand_computed():
    result = Pearson().compute(pairs(HAND))
    expected = [1.0, -1.0, 0.6, np.nan, np.nan, np.nan, 1.0, np.nan]
    np.testing.assert_allclose(result.per_user, expected, rtol=0, atol=1e-12)
    assert result.value == pytest.approx((1 - 1 + 0.6 + 1) / 4, abs=1e-12)
    assert result.extra["missing"] == 1 and result.extra["users"] == 4


def test_global_correlation_pools_all_pairs():
    data = pairs(HAND)
    ok = ~np.isnan(data.predicted)
    expected = np.corrcoef(data.predicted[ok], data.actual[ok])[0, 1]
    assert Pearson().compute(data).extra["global"] == pytest.approx(expected, abs=1e-12)


def test_constant_predictions_with_rounding_noise_are_undefined():
    """0.1 * 3 / 3 != 0.1 in floating point: centring on the mean alone would leave fake variance."""
    result = Pearson().compute(pairs([([0.1, 0.1, 0.1], [1, 2, 3]), ([3.3] * 7, [1, 2, 3, 4, 5, 1, 2])]))
    assert np.isnan(result.per_user).all() and math.isnan(result.value)


def test_all_predictions_constant_gives_nan_everywhere():
    result = Pearson().compute(pairs([([3.0, 3.0], [1, 2]), ([3.0, 3.0, 3.0], [5, 4, 1])]))
    assert np.isnan(result.per_user).all()
    assert math.isnan(result.value) and math.isnan(result.extra["global"])


def test_pair_order_does_not_matter():
    data = MetricContract.rating_pairs(perfect=False, seed=4)
    order = np.random.default_rng(0).permutation(len(data.users))
    shuffled = RatingPairs(data.users[order], data.predicted[order], data.actual[order], data.n_users)
    a, b = Pearson().compute(data), Pearson().compute(shuffled)
    np.testing.assert_allclose(a.per_user, b.per_user, atol=1e-12)
    assert a.extra["global"] == pytest.approx(b.extra["global"], abs=1e-12)


def test_matches_scipy_on_random_data():
    from scipy import stats

    rng = np.random.default_rng(7)
    n_users = 200
    sizes = rng.integers(0, 12, n_users)
    users = np.repeat(np.arange(n_users), sizes)
    actual = rng.integers(1, 6, users.size).astype(float)
    predicted = 1000.0 + actual + rng.normal(0, 1, users.size)  # large offset: tests the two-pass sums
    predicted[rng.random(users.size) < 0.05] = np.nan
    result = Pearson().compute(RatingPairs(users, predicted, actual, n_users))
    expected = np.full(n_users, np.nan)
    for u in range(n_users):
        mine = (users == u) & ~np.isnan(predicted)
        p, a = predicted[mine], actual[mine]
        if len(p) >= 2 and np.ptp(p) > 0 and np.ptp(a) > 0:
            expected[u] = stats.pearsonr(p, a).statistic
    np.testing.assert_allclose(result.per_user, expected, rtol=0, atol=1e-9)
    assert result.value == pytest.approx(np.nanmean(expected), abs=1e-9)
    ok = ~np.isnan(predicted)
    assert result.extra["global"] == pytest.approx(stats.pearsonr(predicted[ok], actual[ok]).statistic, abs=1e-9)


def test_is_registered(deepcart_registry):
    assert deepcart_registry.get("metric", "pearson").summary


class TestPearson(MetricContract):
    metric = "pearson"

"""The ``gini`` metric: contract, hand-computed values, its decomposition over users."""

import numpy as np
import pytest
import scipy.sparse as sp

from deepcart.metric_types import Rankings
from deepcart.toolkit.testing import MetricContract


def rankings(ranked, n_items):
    ranked = np.asarray(ranked, dtype=np.int64)
    return Rankings(ranked, sp.csr_matrix((len(ranked), n_items), dtype=bool), n_items)


class TestGini(MetricContract):
    metric = "gini"

    def test_perfect_beats_imperfect(self, instance):
        """Relevance plays no part in a diversity metric, so the contract's accuracy test is replaced
        by its diversity counterpart: lists spread over the catalogue beat everyone's same list."""
        spread = instance.compute(rankings([[0, 1], [2, 3], [4, 5]], 6), k=2).value
        same = instance.compute(rankings([[0, 1], [0, 1], [0, 1]], 6), k=2).value
        assert spread < same


def test_hand_computed(deepcart_registry):
    gini = deepcart_registry.create("metric", "gini")
    # exposure: item 0 three times, item 1 once, items 2 and 3 never (n = 4)
    result = gini.compute(rankings([[0, 1], [0, -1], [0, -1]], 4), k=2)
    # ascending ranks: items 2, 3 tied at 1.5; item 1 at 3; item 0 at 4
    w = {0: (2 * 4 - 5) / 4, 1: (2 * 3 - 5) / 4}
    assert result.value == pytest.approx((3 * w[0] + w[1]) / 4)
    np.testing.assert_allclose(result.per_user, [(w[0] + w[1]) / 2, w[0], w[0]])


def test_bounds(deepcart_registry):
    gini = deepcart_registry.create("metric", "gini")
    even = gini.compute(rankings([[0, 1], [2, 3]], 4), k=2)
    assert even.value == pytest.approx(0.0)
    same = gini.compute(rankings([[0, 1]] * 5, 10), k=2)
    assert same.value == pytest.approx(1 - 2 / 10)


def test_aggregate_is_the_slot_weighted_mean_of_users(deepcart_registry):
    rng = np.random.default_rng(0)
    ranked = np.array([rng.choice(50, 5, replace=False) for _ in range(40)])
    ranked[::3, 3:] = -1  # some short lists
    result = deepcart_registry.create("metric", "gini").compute(rankings(ranked, 50), k=5)
    lengths = (ranked >= 0).sum(1)
    assert result.value == pytest.approx(np.sum(result.per_user * lengths) / lengths.sum())


def test_empty_lists_are_not_covered(deepcart_registry):
    result = deepcart_registry.create("metric", "gini").compute(rankings([[-1, -1], [0, 1]], 3), k=2)
    assert np.isnan(result.per_user[0]) and np.isfinite(result.per_user[1])


def test_cut_off_is_applied(deepcart_registry):
    gini = deepcart_registry.create("metric", "gini")
    full = gini.compute(rankings([[0, 1, 2], [0, 3, 4]], 5), k=3)
    top1 = gini.compute(rankings([[0, 1, 2], [0, 3, 4]], 5), k=1)
    assert top1.value > full.value and top1.extra["slots"] == 2

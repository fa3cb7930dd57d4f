"""Ranking metrics: hand-computed cases, edge cases, the contract, and a cross-check with trec_eval.

The independent implementation is ``pytrec_eval`` (trec_eval's own C code, double precision). It
agrees with deepcart's definitions of precision, recall and NDCG. Its AP@k (``map_cut``) divides by
``R``, the number of relevant items, where deepcart divides by ``min(k, R)`` as the issue specifies:
the cross-check compares MAP directly on the users where the two coincide (``R <= k``) and through
the exact relation ``AP_deepcart = AP_trec * R / min(k, R)`` on every other user, and
:func:`test_map_divides_by_min_of_k_and_relevant` checks the ``R > k`` case by hand.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.sparse as sp

from deepcart.metric_types import Rankings
from deepcart.plugin_manager import load_plugins
from deepcart.plugins import BUILTIN_PLUGINS
from deepcart.plugins.metrics.ranking import MAP, NDCG, Coverage, Precision, Recall, find_hits
from deepcart.toolkit.testing import MetricContract

PLUGINS = ("deepcart.plugins.metrics.ranking", "deepcart.plugins.metrics.correlation")


@pytest.fixture
def deepcart_registry():
    """The built-ins plus this issue's metric plugins (deduplicated, so it survives their addition)."""
    return load_plugins(builtins=tuple(dict.fromkeys(BUILTIN_PLUGINS + PLUGINS)), entry_points=False).registry


def rankings(ranked: list[list[int]], relevant: list[list[int]], n_items: int = 10) -> Rankings:
    rows = [u for u, items in enumerate(relevant) for _ in items]
    cols = [i for items in relevant for i in items]
    matrix = sp.csr_matrix((np.ones(len(cols), bool), (rows, cols)), shape=(len(relevant), n_items))
    return Rankings(np.array(ranked, dtype=np.int64), matrix, n_items)


def log2(x: float) -> float:
    return math.log2(x)


# user 0: hits at ranks 2 and 5, R = 3
# user 1: a short list (2 candidates), hit at rank 2, R = 1
# user 2: nothing relevant -> not covered
# user 3: a perfect list, R = 8 > K = 5
# user 4: relevant items, none listed
EXAMPLE = dict(
    ranked=[[3, 1, 4, 0, 2], [5, 6, -1, -1, -1], [0, 1, 2, 3, 4], [0, 1, 2, 3, 4], [0, 1, 2, 3, 4]],
    relevant=[[1, 2, 7], [6], [], [0, 1, 2, 3, 4, 5, 6, 7], [8, 9]],
)
EXPECTED_AT_5 = {
    Precision: [2 / 5, 1 / 5, np.nan, 1.0, 0.0],
    Recall: [2 / 3, 1.0, np.nan, 5 / 8, 0.0],
    MAP: [(1 / 2 + 2 / 5) / 3, 1 / 2, np.nan, 1.0, 0.0],
    NDCG: [
        (1 / log2(3) + 1 / log2(6)) / (1 + 1 / log2(3) + 1 / log2(4)),
        (1 / log2(3)) / 1,
        np.nan,
        1.0,
        0.0,
    ],
}
EXPECTED_AT_3 = {
    Precision: [1 / 3, 1 / 3, np.nan, 1.0, 0.0],
    Recall: [1 / 3, 1.0, np.nan, 3 / 8, 0.0],
    MAP: [(1 / 2) / 3, 1 / 2, np.nan, 1.0, 0.0],
    NDCG: [(1 / log2(3)) / (1 + 1 / log2(3) + 1 / log2(4)), 1 / log2(3), np.nan, 1.0, 0.0],
}


@pytest.mark.parametrize("k, expected", [(5, EXPECTED_AT_5), (3, EXPECTED_AT_3)])
@pytest.mark.parametrize("metric", [Precision, Recall, MAP, NDCG])
def test_hand_computed(metric, k, expected):
    result = metric().compute(rankings(**EXAMPLE), k=k)
    want = np.array(expected[metric])
    np.testing.assert_allclose(result.per_user, want, rtol=0, atol=1e-12)
    assert result.value == pytest.approx(np.nanmean(want), abs=1e-12)
    assert result.extra["users"] == 4


def test_map_divides_by_min_of_k_and_relevant():
    """R > k: a perfect top-k is AP 1 here; trec_eval / ranx would give k / R."""
    data = rankings([[0, 1, 2], [0, 9, 1]], [[0, 1, 2, 3, 4, 5], [0, 1, 2, 3, 4, 5]])
    result = MAP().compute(data, k=3)
    np.testing.assert_allclose(result.per_user, [1.0, (1 / 1 + 2 / 3) / 3], atol=1e-12)


def test_no_relevant_items_anywhere_gives_nan_not_an_error():
    data = rankings([[0, 1], [2, 3]], [[], []])
    for metric in (Precision, Recall, MAP, NDCG):
        result = metric().compute(data, k=2)
        assert math.isnan(result.value) and np.isnan(result.per_user).all()
        assert result.extra["users"] == 0


def test_short_lists_are_penalised_not_rewarded():
    """Two candidates, both relevant, R = 3, k = 5: precision divides by k, NDCG/MAP by min(k, R)."""
    data = rankings([[1, 2, -1, -1, -1]], [[1, 2, 3]])
    assert Precision().compute(data, k=5).value == pytest.approx(2 / 5)
    assert MAP().compute(data, k=5).value == pytest.approx((1 + 1) / 3)
    ideal = 1 + 1 / log2(3) + 1 / log2(4)
    assert NDCG().compute(data, k=5).value == pytest.approx((1 + 1 / log2(3)) / ideal)


def test_k_wider_than_the_lists_and_default_k():
    data = rankings([[1, 2]], [[2]])
    assert Precision().compute(data, k=4).value == pytest.approx(1 / 4)
    assert Precision().compute(data).value == pytest.approx(1 / 2)  # k=None: the list width
    assert MAP().compute(data, k=4).value == pytest.approx(1 / 2)


def test_ties_are_broken_by_the_caller_by_item_index():
    """The documented rule: equal scores rank by ascending item index (a stable sort on -score).

    Metrics see only the order; the same tied scores ranked the other way give another value.
    """
    scores = np.array([[0.2, 0.9, 0.5, 0.9, 0.5]])
    ranked = np.argsort(-scores, axis=1, kind="stable")[:, :3]
    np.testing.assert_array_equal(ranked, [[1, 3, 2]])
    relevant = [[3]]
    assert MAP().compute(rankings(ranked.tolist(), relevant), k=3).value == pytest.approx(1 / 2)
    assert MAP().compute(rankings([[3, 1, 2]], relevant), k=3).value == pytest.approx(1.0)


def test_relevant_matrix_with_explicit_false_and_duplicates():
    cols, stored = np.array([2, 2, 4, 7]), np.array([True, True, False, True])
    matrix = sp.csr_matrix((stored, cols, np.array([0, 4])), shape=(1, 10))  # duplicate 2, stored False at 4
    before = (matrix.data.copy(), matrix.indices.copy())
    result = Recall().compute(Rankings(np.array([[2, 4, 5]]), matrix, 10), k=3)
    assert result.value == pytest.approx(1 / 2)  # relevant = {2, 7}
    np.testing.assert_array_equal(matrix.data, before[0])
    np.testing.assert_array_equal(matrix.indices, before[1])


def test_hits_are_sorted_by_user_then_rank():
    hits = find_hits(rankings(**EXAMPLE), k=5)
    np.testing.assert_array_equal(hits.user, [0, 0, 1, 3, 3, 3, 3, 3])
    np.testing.assert_array_equal(hits.rank, [1, 4, 1, 0, 1, 2, 3, 4])
    np.testing.assert_array_equal(hits.n_relevant, [3, 1, 0, 8, 2])


@pytest.mark.parametrize("k", [0, -1, 2.5])
def test_bad_cutoff(k):
    with pytest.raises(ValueError, match="cut-off"):
        Recall().compute(rankings(**EXAMPLE), k=k)


def test_item_index_out_of_range():
    with pytest.raises(ValueError, match="outside"):
        Recall().compute(rankings([[0, 10]], [[0]]), k=2)
    with pytest.raises(ValueError, match="outside"):
        Coverage().compute(rankings([[0, -2]], [[0]]), k=2)


def test_coverage_hand_computed():
    data = rankings(**EXAMPLE)
    result = Coverage().compute(data, k=5)
    assert result.value == pytest.approx(7 / 10)  # items 0..6
    np.testing.assert_allclose(result.per_user, np.full(5, 0.7))
    assert result.extra["items"] == 7
    assert result.extra["mean_list_share"] == pytest.approx((5 + 2 + 5 + 5 + 5) / 5 / 10)
    assert Coverage().compute(data, k=1).value == pytest.approx(3 / 10)  # items 3, 5, 0


def test_metrics_are_registered(deepcart_registry):
    for name in ("map", "ndcg", "recall", "precision", "coverage"):
        assert deepcart_registry.get("metric", name).summary


class TestMAP(MetricContract):
    metric = "map"


class TestNDCG(MetricContract):
    metric = "ndcg"


class TestRecall(MetricContract):
    metric = "recall"


class TestPrecision(MetricContract):
    metric = "precision"


class TestCoverage(MetricContract):
    metric = "coverage"

    def test_perfect_beats_imperfect(self, instance):
        """Coverage does not measure accuracy, so the contract's accurate-vs-random lists say nothing
        about it; its own sense of "better": lists that spread over the catalogue beat lists that
        all recommend the same few items."""
        spread = self.rankings(perfect=False, seed=1)
        same = Rankings(np.tile(spread.ranked[0], (len(spread.ranked), 1)), spread.relevant, spread.n_items)
        assert instance.compute(spread, k=self.k).value > instance.compute(same, k=self.k).value


def random_rankings(seed: int, n_users: int = 300, n_items: int = 200, width: int = 20) -> Rankings:
    """Random distinct lists (about 1 in 10 shorter than ``width``) and 0 to 30 relevant items,
    half of them drawn from the user's list so that there are hits at every rank."""
    rng = np.random.default_rng(seed)
    ranked = np.argsort(rng.random((n_users, n_items)), axis=1)[:, :width]
    lengths = np.where(rng.random(n_users) < 0.1, rng.integers(0, width, n_users), width)
    ranked[np.arange(width) >= lengths[:, None]] = -1
    n_rel = rng.integers(0, 31, n_users)
    rows = np.repeat(np.arange(n_users), n_rel)
    cols = rng.integers(0, n_items, rows.size)
    from_list = rng.random(rows.size) < 0.5
    picked = ranked[rows, rng.integers(0, width, rows.size)]
    use = from_list & (picked >= 0)
    cols[use] = picked[use]
    relevant = sp.csr_matrix((np.ones(rows.size, bool), (rows, cols)), shape=(n_users, n_items))
    relevant.sum_duplicates()
    return Rankings(ranked, relevant, n_items)


def trec_eval(data: Rankings, cutoffs: list[int]) -> dict[int, dict[str, float]]:
    """pytrec_eval's per-user measures for users with at least one relevant item."""
    import pytrec_eval

    rel = data.relevant
    qrels, run = {}, {}
    for u, row in enumerate(data.ranked):
        items = rel.indices[rel.indptr[u] : rel.indptr[u + 1]]
        if items.size == 0:
            continue
        qrels[str(u)] = {f"d{i}": 1 for i in items}
        listed = row[row >= 0]
        # distinct, strictly decreasing scores: trec_eval's own tie rule never applies
        run[str(u)] = {f"d{i}": float(len(listed) - r) for r, i in enumerate(listed)}
    cuts = ",".join(map(str, cutoffs))
    measures = {f"{measure}.{cuts}" for measure in ("map_cut", "ndcg_cut", "recall", "P")}
    evaluator = pytrec_eval.RelevanceEvaluator(qrels, measures)
    return {int(u): measures for u, measures in evaluator.evaluate(run).items()}


@pytest.mark.parametrize("seed", [0, 1])
def test_cross_check_with_trec_eval(seed):
    data = random_rankings(seed)
    cutoffs = [1, 5, 20]
    reference = trec_eval(data, cutoffs)
    users = np.array(sorted(reference))
    n_rel = np.diff(data.relevant.indptr)[users]
    assert users.size > 250 and (n_rel > 20).any() and (n_rel <= 5).any()
    for k in cutoffs:
        ours = {m: m().compute(data, k=k) for m in (MAP, NDCG, Recall, Precision)}
        for metric, measure in ((NDCG, "ndcg_cut"), (Recall, "recall"), (Precision, "P")):
            theirs = np.array([reference[u][f"{measure}_{k}"] for u in users])
            np.testing.assert_allclose(ours[metric].per_user[users], theirs, rtol=0, atol=1e-9)
            assert ours[metric].value == pytest.approx(theirs.mean(), abs=1e-9)
        trec_ap = np.array([reference[u][f"map_cut_{k}"] for u in users])
        our_ap = ours[MAP].per_user[users]
        same = n_rel <= k  # where the two definitions coincide
        np.testing.assert_allclose(our_ap[same], trec_ap[same], rtol=0, atol=1e-9)
        np.testing.assert_allclose(our_ap, trec_ap * n_rel / np.minimum(k, n_rel), rtol=0, atol=1e-9)
        # users without relevant items are NaN for us and absent from trec_eval's output
        assert np.isnan(np.delete(ours[MAP].per_user, users)).all()

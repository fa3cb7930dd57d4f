"""The evaluation runner: top-K with the tie rule, candidates, directions, saved files."""

from __future__ import annotations

import numpy as np
import pyarrow.parquet as pq
import pytest
import scipy.sparse as sp

from deepcart.pipeline.evaluate import EvalTables, evaluate, parse_metric
from deepcart.pipeline.rank import top_k


def test_top_k_orders_by_key_then_column():
    keys = np.array([[3.0, 1.0, 2.0, 1.0, np.inf], [np.inf, np.inf, 0.5, np.inf, np.inf]])
    assert top_k(keys, 3).tolist() == [[1, 3, 2], [2, -1, -1]]


def test_top_k_ties_at_the_cut_take_the_lowest_columns():
    keys = np.array([[1.0, 0.0, 1.0, 1.0, 1.0, 0.0]])
    assert top_k(keys, 3).tolist() == [[1, 5, 0]]
    assert top_k(keys, 10).tolist() == [[1, 5, 0, 2, 3, 4, -1, -1, -1, -1]]


@pytest.mark.parametrize("seed", range(5))
def test_top_k_matches_a_full_stable_sort(seed):
    rng = np.random.default_rng(seed)
    keys = rng.integers(0, 4, (50, 40)).astype(float)
    keys[rng.random(keys.shape) < 0.2] = np.inf
    expected = np.argsort(keys, axis=1, kind="stable")[:, :7]
    expected = np.where(np.take_along_axis(keys, expected, 1) == np.inf, -1, expected)
    assert (top_k(keys, 7) == expected).all()


class FixedScores:
    """A stand-in model whose fold-in scores are fixed per item."""

    def __init__(self, scores):
        self.scores = np.asarray(scores, dtype=np.float32)
        self.item_ids = np.array([f"I{i}" for i in range(len(scores))])

    def fold_in(self, history, items=None):
        return self.scores.copy()


def tables(inputs, checks, n_items):
    def csr(rows):
        data = [(u, i, r) for u, row in enumerate(rows) for i, r in row.items()]
        u, i, r = zip(*data) if data else ((), (), ())
        return sp.csr_matrix((r, (u, i)), shape=(len(rows), n_items), dtype=np.float32)

    return EvalTables(np.array([f"U{u}" for u in range(len(inputs))]),
                      np.array([f"I{i}" for i in range(n_items)]), csr(inputs), csr(checks))


def test_evaluate_directions_candidates_and_files(deepcart_registry, tmp_path):
    model = FixedScores([5.0, 1.0, 4.0, 2.0, 3.0])
    t = tables(inputs=[{0: 5.0}, {1: 1.0}], checks=[{1: 1.0, 2: 5.0}, {0: 5.0, 3: 2.0}], n_items=5)
    specs = [parse_metric("precision@1", 10, deepcart_registry) if "precision" in deepcart_registry.names("metric")
             else parse_metric("rmse", 10, deepcart_registry), parse_metric("rmse", 10, deepcart_registry)]
    report = evaluate(model, t, specs, deepcart_registry, save_rankings=tmp_path / "r.parquet",
                      save_predictions=tmp_path / "p.parquet")
    rankings = pq.read_table(tmp_path / "r.parquet").to_pydict()
    best_u0 = [a for u, a, d in zip(rankings["user_id"], rankings["parent_asin"], rankings["direction"])
               if u == "U0" and d == "best"]
    worst_u1 = [a for u, a, d in zip(rankings["user_id"], rankings["parent_asin"], rankings["direction"])
                if u == "U1" and d == "worst"]
    assert best_u0 == ["I2", "I4", "I3", "I1"]  # I0 is U0's input: never a candidate
    assert worst_u1 == ["I3", "I4", "I2", "I0"]
    predictions = pq.read_table(tmp_path / "p.parquet").to_pydict()
    assert sorted(zip(predictions["user_id"], predictions["parent_asin"], predictions["predicted"],
                      predictions["actual"])) == [("U0", "I1", 1.0, 1.0), ("U0", "I2", 4.0, 5.0),
                                                  ("U1", "I0", 5.0, 5.0), ("U1", "I3", 2.0, 2.0)]
    rmse = next(r for r in report.rows if r["metric"] == "rmse")
    assert rmse["value"] == pytest.approx(np.sqrt(1 / 4))


def test_min_engagement_restricts_candidates(deepcart_registry, tmp_path):
    model = FixedScores([5.0, 1.0, 4.0, 2.0, 3.0])
    t = tables(inputs=[{0: 5.0}], checks=[{1: 1.0}], n_items=5)
    evaluate(model, t, [parse_metric("rmse", 3, deepcart_registry)], deepcart_registry,
             min_engagement=10, item_counts=np.array([50, 5, 50, 50, 50]), save_rankings=tmp_path / "r.parquet")
    r = pq.read_table(tmp_path / "r.parquet").to_pydict()
    worst = [a for a, d in zip(r["parent_asin"], r["direction"]) if d == "worst"]
    assert worst == ["I3", "I4", "I2"]  # I1 (5 ratings) is below the engagement bar


def test_parse_metric_errors(deepcart_registry):
    from deepcart.errors import DeepcartError, UnknownComponentError

    with pytest.raises(UnknownComponentError):
        parse_metric("nope@3", 10, deepcart_registry)
    with pytest.raises(DeepcartError, match="takes no @k"):
        parse_metric("rmse@3", 10, deepcart_registry)

"""Evaluating 100,000 users at K=100: deepcart's metrics vs. independent implementations.

Two groups, each timed side by side in the same run (compare within a group, never across runs):

* ``metrics-ranking@100``: MAP, NDCG, recall and precision @100, deepcart vs. ``pytrec_eval``
  (trec_eval's C code; dev dependency) and, when it is installed, ``ranx`` (numba, parallel).
* ``metrics-all@100``: all eight metrics (those four, coverage@100, pearson, rmse, mae), deepcart
  vs. pytrec_eval for the four plus the plain pandas / numpy formulation of the others.

Each side gets its inputs prebuilt in its own format (a :class:`~deepcart.metric_types.Rankings` and
:class:`~deepcart.metric_types.RatingPairs`; trec_eval's qrels loaded into its evaluator and the run
as dicts; ranx's typed lists): the timings are of the evaluation alone. Each test also checks that
its results agree with deepcart's. ``--benchmark-disable`` (CI) runs everything once on 2,000 users.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest

from deepcart.metric_types import RatingPairs, Rankings
from deepcart.plugins.metrics.correlation import Pearson
from deepcart.plugins.metrics.error_metrics import MAE, RMSE
from deepcart.plugins.metrics.ranking import MAP, NDCG, Coverage, Precision, Recall

K = 100
N_USERS = 100_000
N_USERS_SMOKE = 2_000
N_ITEMS = 50_000
ROUNDS = 5
RANKING = {"map": MAP(), "ndcg": NDCG(), "recall": Recall(), "precision": Precision()}
TREC_NAMES = {"map": "map_cut", "ndcg": "ndcg_cut", "recall": "recall", "precision": "P"}


@dataclass
class Workload:
    rankings: Rankings
    pairs: RatingPairs
    covered: np.ndarray  # users with at least one relevant item
    n_relevant: np.ndarray
    expected: dict[str, Any]  # deepcart's per-user results, to check the other side against


def make_workload(n_users: int, seed: int = 0) -> Workload:
    """Distinct random top-100 lists, 0 to ~12 relevant items per user (about half of them listed,
    so that hits land at every rank), and ~10 rated check items per user."""
    rng = np.random.default_rng(seed)
    gaps = rng.integers(1, N_ITEMS // K, (n_users, K))  # increasing, hence distinct, < N_ITEMS
    ranked = np.cumsum(gaps, axis=1) - 1
    ranked = np.take_along_axis(ranked, np.argsort(rng.random((n_users, K)), axis=1), axis=1)
    n_rel = np.where(rng.random(n_users) < 0.05, 0, 1 + rng.poisson(4, n_users))
    rows = np.repeat(np.arange(n_users), n_rel)
    cols = rng.integers(0, N_ITEMS, rows.size)
    listed = rng.random(rows.size) < 0.5
    cols[listed] = ranked[rows[listed], rng.integers(0, K, listed.sum())]
    import scipy.sparse as sp

    relevant = sp.csr_matrix((np.ones(rows.size, bool), (rows, cols)), shape=(n_users, N_ITEMS))
    relevant.sum_duplicates()
    rankings = Rankings(ranked, relevant, N_ITEMS)

    users = np.repeat(np.arange(n_users), rng.integers(1, 20, n_users))
    actual = rng.integers(1, 6, users.size).astype(float)
    predicted = np.clip(actual + rng.normal(0, 1, users.size), 1, 5)
    pairs = RatingPairs(users, predicted, actual, n_users)

    n_relevant = np.diff(relevant.indptr)
    expected = {name: m.compute(rankings, k=K).per_user for name, m in RANKING.items()}
    expected["pearson"] = Pearson().compute(pairs)
    return Workload(rankings, pairs, np.flatnonzero(n_relevant), n_relevant, expected)


@pytest.fixture(scope="module")
def workload(request) -> Workload:
    smoke = request.config.getoption("benchmark_disable")
    return make_workload(N_USERS_SMOKE if smoke else N_USERS)


@pytest.fixture(scope="module")
def trec(workload):
    """pytrec_eval's evaluator (qrels loaded) and the run as trec_eval dicts, covered users only."""
    import pytrec_eval

    data = workload.rankings
    names = [f"d{i}" for i in range(N_ITEMS)]
    scores = [float(K - r) for r in range(K)]  # distinct: trec_eval's tie rule never applies
    indptr, indices = data.relevant.indptr, data.relevant.indices
    qrels = {str(u): {names[i]: 1 for i in indices[indptr[u] : indptr[u + 1]]} for u in workload.covered}
    run = {str(u): dict(zip([names[i] for i in data.ranked[u]], scores)) for u in workload.covered}
    measures = {f"{m}.{K}" for m in TREC_NAMES.values()}
    return pytrec_eval.RelevanceEvaluator(qrels, measures), run


def deepcart_ranking(data: Rankings) -> dict[str, Any]:
    return {name: metric.compute(data, k=K) for name, metric in RANKING.items()}


def deepcart_all(data: Rankings, pairs: RatingPairs) -> dict[str, Any]:
    results = deepcart_ranking(data)
    results["coverage"] = Coverage().compute(data, k=K)
    for name, metric in (("pearson", Pearson()), ("rmse", RMSE()), ("mae", MAE())):
        results[name] = metric.compute(pairs)
    return results


def check_against_deepcart(workload: Workload, per_user: dict[str, np.ndarray]) -> None:
    """``per_user[name]`` holds the other side's values for the covered users, in order."""
    n_rel = workload.n_relevant[workload.covered]
    for name, theirs in per_user.items():
        ours = workload.expected[name][workload.covered]
        if name == "map":  # their AP divides by R, ours by min(K, R)
            theirs = theirs * n_rel / np.minimum(K, n_rel)
        np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-9, err_msg=name)


def trec_baseline(trec) -> dict[str, np.ndarray]:
    evaluator, run = trec
    results = evaluator.evaluate(run)
    return {
        name: np.array([results[u][f"{measure}_{K}"] for u in run]) for name, measure in TREC_NAMES.items()
    }


@pytest.mark.benchmark(group="metrics-ranking@100")
def test_ranking_deepcart(benchmark, workload):
    results = benchmark.pedantic(deepcart_ranking, args=(workload.rankings,), rounds=ROUNDS)
    for name, result in results.items():
        np.testing.assert_array_equal(result.per_user, workload.expected[name])


@pytest.mark.benchmark(group="metrics-ranking@100")
def test_ranking_pytrec_eval(benchmark, workload, trec):
    per_user = benchmark.pedantic(trec_baseline, args=(trec,), rounds=ROUNDS)
    check_against_deepcart(workload, per_user)


@pytest.mark.benchmark(group="metrics-ranking@100")
def test_ranking_ranx(benchmark, workload):
    """ranx is optional (not a dev dependency: it pulls numba, matplotlib, ir_datasets...)."""
    ranx = pytest.importorskip("ranx")
    from numba.typed import List

    data = workload.rankings
    covered = workload.covered
    indptr, indices = data.relevant.indptr, data.relevant.indices.astype(np.float64)
    qrels = List([np.column_stack([indices[indptr[u] : indptr[u + 1]], np.ones(indptr[u + 1] - indptr[u])])
                  for u in covered])
    run = np.empty((len(covered), K, 2))
    run[:, :, 0] = data.ranked[covered]
    run[:, :, 1] = np.arange(K, 0, -1)
    metrics = [f"{name}@{K}" for name in RANKING]

    def evaluate():
        return ranx.evaluate(qrels, run, metrics, return_mean=False)

    evaluate()  # numba compiles on first use; keep that out of the timing
    scores = benchmark.pedantic(evaluate, rounds=ROUNDS)
    check_against_deepcart(workload, {name: scores[f"{name}@{K}"] for name in RANKING})


@pytest.mark.benchmark(group="metrics-all@100")
def test_all_deepcart(benchmark, workload):
    results = benchmark.pedantic(deepcart_all, args=(workload.rankings, workload.pairs), rounds=ROUNDS)
    assert set(results) == {*RANKING, "coverage", "pearson", "rmse", "mae"}


@pytest.mark.benchmark(group="metrics-all@100")
def test_all_baseline(benchmark, workload, trec):
    """pytrec_eval for the ranking metrics; pandas groupby / numpy for the others."""
    import pandas as pd

    data, pairs = workload.rankings, workload.pairs

    def baseline() -> dict[str, Any]:
        results: dict[str, Any] = trec_baseline(trec)
        results["coverage"] = np.unique(data.ranked[:, :K]).size / data.n_items
        frame = pd.DataFrame({"user": pairs.users, "p": pairs.predicted, "a": pairs.actual})
        error = frame["p"] - frame["a"]
        results["rmse"] = np.sqrt((error**2).groupby(frame["user"]).mean())
        results["mae"] = error.abs().groupby(frame["user"]).mean()
        results["pearson"] = frame.groupby("user")[["p", "a"]].corr().xs("p", level=1)["a"]
        results["pearson_global"] = np.corrcoef(frame["p"], frame["a"])[0, 1]
        return results

    results = benchmark.pedantic(baseline, rounds=1)  # pandas groupby().corr() alone takes ~35 s
    check_against_deepcart(workload, {name: results[name] for name in RANKING})
    pearson = workload.expected["pearson"]
    theirs = results["pearson"].reindex(range(pairs.n_users)).to_numpy()
    np.testing.assert_allclose(pearson.per_user, theirs, rtol=0, atol=1e-9)
    assert pearson.extra["global"] == pytest.approx(results["pearson_global"], abs=1e-9)
    assert Coverage().compute(data, k=K).value == results["coverage"]

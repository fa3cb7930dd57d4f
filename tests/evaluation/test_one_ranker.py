"""One ranker: ``evaluate``, ``recommend``, the dashboard and every recommender order equal scores alike.

Every recommender is trained on the same toy ratings and its scores are rounded to whole stars, so
most candidates tie. For one person, the top-10 of the evaluation ranking (what ``--save-rankings``
writes), of :func:`deepcart.pipeline.picks.pick` (what ``deepcart recommend`` prints) and of the
dashboard session must be the same list, and it must be the documented rule of
:mod:`deepcart.pipeline.rank`: score, then more engagement, then catalogue position.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import scipy.sparse as sp

from deepcart.pipeline.evaluate import EvalTables, evaluate
from deepcart.pipeline.picks import Catalogue, CatalogueScorer, pick
from deepcart.plugins.frontends.panel.state import DashboardData, DashboardSession, LoadedModel, SessionScorer
from deepcart.toolkit.testing import make_toy_ratings

K = 10
#: Small options so that every recommender trains in a second or two.
FAST = {"autoencoder": {"epochs": "2"}, "vae": {"epochs": "2"}}


class Tied:
    """A trained model whose stars are rounded to whole stars and whose engagement to powers of e,
    with whole-number stars weights, so that most relevance keys tie."""

    personalised = True
    stars_weights = {"best": 1.0, "worst": 1.0}

    def __init__(self, model):
        self.model, self.item_ids = model, np.asarray(model.item_ids)

    def fold_in(self, history, items=None):
        return np.round(np.asarray(self.model.fold_in(history, items), dtype=np.float64))

    def fold_in_engagement_batch(self, matrix):
        engagement = getattr(self.model, "fold_in_engagement_batch", lambda m: None)(matrix)
        return None if engagement is None else np.exp(np.round(np.log(engagement)))


def catalogue_for(item_ids: np.ndarray) -> Catalogue:
    """A catalogue over ``item_ids`` whose engagement ties too (1, 2 or 3 ratings, repeating)."""
    n = len(item_ids)
    text = np.array(["x"] * n, dtype=object)
    return Catalogue(ids=np.asarray(item_ids), titles=text, stores=text, prices=np.full(n, np.nan),
                     mean_rating=np.full(n, 3.0), n_ratings=np.arange(n) % 3 + 1, review_rating=np.ones(n),
                     review_title=text, review_text=text, review_votes=np.zeros(n, int))


def by_the_rule(scores: np.ndarray, engagement: np.ndarray | None, counts: np.ndarray, blocked: np.ndarray,
                direction: str) -> list[int]:
    """The documented rule, written out: relevance (log engagement +/- stars), then more ratings, then
    lower position."""
    sign = 1.0 if direction == "best" else -1.0
    key = sign * scores if engagement is None else np.log(engagement) + sign * scores
    order = np.lexsort((np.arange(len(scores)), -counts, -key))
    return [int(i) for i in order if not blocked[i] and np.isfinite(scores[i])][:K]


def evaluation_ranking(model, cat: Catalogue, history, direction: str, tmp_path: Path, registry) -> list[str]:
    items = np.asarray(model.item_ids)
    cols = cat.index_of([a for a, _ in history])[0]
    inputs = sp.csr_matrix((np.array([r for _, r in history], np.float32), (np.zeros(len(cols), int), cols)),
                           shape=(1, len(items)))
    tables = EvalTables(np.array(["person"]), items, inputs, sp.csr_matrix((1, len(items)), dtype=np.float32))
    out = tmp_path / f"rankings-{direction}.parquet"
    evaluate(model, tables, [], registry, directions=(direction,), item_counts=cat.n_ratings, save_rankings=out)
    table = pq.read_table(out).to_pandas().sort_values("rank")
    return table["parent_asin"].tolist()[:K]


def dashboard_ranking(model, cat: Catalogue, history, direction: str) -> list[str]:
    loaded = {"m": LoadedModel("m", Path("m"), "m", {"recommender": "m"}, SessionScorer(model, cat))}
    data = DashboardData("toy", cat, loaded, star_counts=np.zeros((len(cat), 5), dtype=np.int64))
    session = DashboardSession(data, min_engagement=0, k=K, direction=direction)
    for asin, stars in history:
        session.rate(asin, int(stars))
    result = session.picks()
    assert result.error is None, result.error
    return [p.parent_asin for p in result.picks]


@pytest.fixture(scope="module")
def toy():
    return make_toy_ratings(n_users=60, n_items=40, seed=3)


@pytest.mark.parametrize("direction", ["best", "worst"])
def test_every_path_ranks_ties_by_the_one_rule(deepcart_registry, toy, direction, tmp_path):
    names = deepcart_registry.names("recommender")
    assert {"naive", "knn", "autoencoder", "vae"} <= set(names)
    for name in names:
        model = deepcart_registry.create("recommender", name, FAST.get(name, {})).fit(toy, seed=0)
        tied = Tied(model)
        cat = catalogue_for(tied.item_ids)
        history = toy.user_history(str(toy.user_ids[0]))
        scores = tied.fold_in(history)
        scored = CatalogueScorer(tied, cat).scores(history)
        engagement = scored.engagement
        if name not in ("random",):
            assert engagement is not None, f"{name} should rank by engagement and stars"
        blocked = np.zeros(len(scores), bool)
        blocked[cat.index_of([a for a, _ in history])[0]] = True
        expected = [str(cat.ids[i]) for i in by_the_rule(scores, engagement, cat.n_ratings, blocked, direction)]
        keys = scored.relevance(direction)[~blocked]
        assert len(set(keys.tolist())) < (~blocked).sum() - K, f"{name}: the test needs ties"

        recommended = [p.parent_asin for p in pick(cat, CatalogueScorer(tied, cat).scores(history), history,
                                                   k=K, direction=direction, min_engagement=0)]
        assert recommended == expected, f"recommend ({name}, {direction})"
        assert evaluation_ranking(tied, cat, history, direction, tmp_path, deepcart_registry) == expected, \
            f"evaluate ({name}, {direction})"
        assert dashboard_ranking(tied, cat, history, direction) == expected, f"dashboard ({name}, {direction})"

"""The ``knn`` recommender: the recommender contract plus checks of its formulas.

The neighbour graph is cross-checked against a dense numpy implementation written from the module's
formulas (and, when it is installed, against implicit's CosineRecommender); hand-made cases pin down
shrinkage, support, top-N and the tie rule; and on ratings with planted tastes kNN must beat the
item mean.
"""

from __future__ import annotations

import numpy as np
import pytest

from deepcart.pipeline.rank import top_k_by_score
from deepcart.toolkit import similarity as knn_similarity  # the blockwise similarities knn is built on
from deepcart.plugins.recommenders.knn import KNNConfig, KNNRecommender
from deepcart.plugins.recommenders.naive import NaiveRecommender
from deepcart.ratings import Ratings
from deepcart.toolkit.id_index import ratings_from_triples
from deepcart.toolkit.testing import RecommenderContract, make_toy_ratings

SMALL = {"neighbours": 10, "block_size": 7}  # several blocks even on the toy data




class TestKNNItem(RecommenderContract):
    recommender = "knn"
    options = SMALL
    bad_option = ("neighbours", 0)


class TestKNNItemCosine(RecommenderContract):
    recommender = "knn"
    options = {**SMALL, "similarity": "cosine", "shrinkage": 0}
    bad_option = ("similarity", "jaccard")


class TestKNNItemPearson(RecommenderContract):
    recommender = "knn"
    options = {**SMALL, "similarity": "pearson", "min_sim": -1}
    bad_option = ("min_sim", 1.5)


class TestKNNUser(RecommenderContract):
    recommender = "knn"
    options = {**SMALL, "kind": "user"}
    bad_option = ("kind", "session")


class TestKNNUserCosine(RecommenderContract):
    recommender = "knn"
    options = {**SMALL, "kind": "user", "similarity": "cosine", "min_support": 2}


class TestKNNUserPearson(RecommenderContract):
    recommender = "knn"
    options = {**SMALL, "kind": "user", "similarity": "pearson", "shrinkage": 0}


# -- helpers -------------------------------------------------------------------------------------


def random_ratings(n_users=40, n_items=25, density=0.3, seed=0, continuous=True) -> Ratings:
    """Random ratings; continuous values make exact similarity ties (and so tie-rule luck) unlikely."""
    rng = np.random.default_rng(seed)
    mask = rng.random((n_users, n_items)) < density
    mask[np.arange(n_users), rng.integers(0, n_items, n_users)] = True
    u, i = np.nonzero(mask)
    values = rng.uniform(1, 5, len(u)) if continuous else rng.integers(1, 6, len(u))
    users = np.array([f"U{x:03d}" for x in range(n_users)])
    items = np.array([f"I{x:03d}" for x in range(n_items)])
    return Ratings(users, items, u.astype(np.int32), i.astype(np.int32), values.astype(np.float32))


def fit(ratings: Ratings, **options) -> KNNRecommender:
    return KNNRecommender(KNNConfig(**options)).fit(ratings)


def dense_graph(ratings: Ratings, similarity: str, shrinkage: float, min_support: int, min_sim: float,
                neighbours: int) -> np.ndarray:
    """The item-based neighbour graph, densely, straight from the module docstring's formulas."""
    r = np.full(ratings.shape, np.nan)
    r[ratings.users, ratings.items] = ratings.values
    rated = ~np.isnan(r)
    if similarity == "adjusted-cosine":
        x = r - np.nanmean(r, axis=1, keepdims=True)
    elif similarity == "pearson":
        x = r - np.nanmean(r, axis=0, keepdims=True)
    else:
        x = r
    x = np.where(rated, x, 0.0)
    norms = np.sqrt((x**2).sum(axis=0))
    with np.errstate(invalid="ignore", divide="ignore"):
        s = np.nan_to_num((x.T @ x) / np.outer(norms, norms))
    support = rated.T.astype(float) @ rated.astype(float)
    with np.errstate(invalid="ignore"):
        s = np.nan_to_num(s * support / (support + shrinkage))
    candidate = (s > min_sim) & (s != 0) & (support >= min_support)
    np.fill_diagonal(candidate, False)
    graph = np.zeros_like(s)
    for i in range(len(s)):
        cols = np.flatnonzero(candidate[i])
        best = cols[np.lexsort((cols, -np.abs(s[i, cols])))][:neighbours]
        graph[i, best] = s[i, best]
    return graph


# -- the neighbour graph -------------------------------------------------------------------------


@pytest.mark.parametrize("similarity", ["cosine", "adjusted-cosine", "pearson"])
@pytest.mark.parametrize(
    ("shrinkage", "min_support", "min_sim"),
    [(0, 1, 0.0), (25, 1, 0.0), (5, 3, -1.0), (0, 1, -0.2), (10, 1, -0.05), (10, 2, 0.05)],
)
def test_graph_matches_dense_reference(similarity, shrinkage, min_support, min_sim):
    ratings = random_ratings(seed=len(similarity) * 31 + int(shrinkage))
    options = dict(similarity=similarity, shrinkage=shrinkage, min_support=min_support, min_sim=min_sim,
                   neighbours=4)
    model = fit(ratings, **options, block_size=5)
    expected = dense_graph(ratings, **options)
    got = model.neighbour_graph.toarray()
    np.testing.assert_array_equal(got != 0, expected != 0)
    np.testing.assert_allclose(got, expected, atol=1e-6)
    counts = np.diff(model.neighbour_graph.indptr)
    assert counts.max() == 4 and (counts <= 4).all()


@pytest.mark.filterwarnings("ignore:Method expects CSR input")
def test_cosine_graph_matches_implicit():
    implicit = pytest.importorskip("implicit.nearest_neighbours")
    ratings = random_ratings(n_users=60, n_items=30, density=0.25, seed=3)
    n = 5
    ours = fit(ratings, similarity="cosine", shrinkage=0, neighbours=n).neighbour_graph.toarray()
    theirs_model = implicit.CosineRecommender(K=n + 1, num_threads=1)  # K counts the item itself
    theirs_model.fit(ratings.csr().astype(np.float64), show_progress=False)
    theirs = theirs_model.similarity.toarray()
    np.fill_diagonal(theirs, 0)
    np.testing.assert_array_equal(ours != 0, theirs != 0)
    np.testing.assert_allclose(ours, theirs, atol=1e-5)


@pytest.mark.parametrize("similarity", ["cosine", "adjusted-cosine"])
def test_blockwise_equals_one_block(similarity, monkeypatch):
    ratings = random_ratings(n_users=80, n_items=60, density=0.2, seed=5, continuous=False)
    whole = fit(ratings, similarity=similarity, block_size=100_000).neighbour_graph
    by_row = fit(ratings, similarity=similarity, block_size=1).neighbour_graph
    monkeypatch.setattr(knn_similarity, "BLOCK_ENTRIES", 50)  # cut blocks by the entry budget instead
    by_budget = fit(ratings, similarity=similarity, block_size=100_000).neighbour_graph
    for graph in (by_row, by_budget):
        np.testing.assert_array_equal(graph.indptr, whole.indptr)
        np.testing.assert_array_equal(graph.indices, whole.indices)
        np.testing.assert_array_equal(graph.data, whole.data)


def test_blocks_respect_both_limits(monkeypatch):
    monkeypatch.setattr(knn_similarity, "BLOCK_ENTRIES", 200)
    ratings = random_ratings(n_users=80, n_items=60, density=0.3, seed=6)
    model = fit(ratings, block_size=16)
    vectors = knn_similarity.unit_rows(model._train.T.tocsr().astype(np.float64))
    pairs = knn_similarity.Pairwise(vectors, model.config)
    blocks = list(pairs.blocks(vectors))
    assert blocks[0][0] == 0 and blocks[-1][1] == 60
    assert all(a[1] == b[0] for a, b in zip(blocks, blocks[1:]))
    for start, stop in blocks:
        assert stop - start <= 16
        entries = (vectors[start:stop] @ vectors.T).nnz
        assert entries <= 200 or stop - start == 1


def three_items(values_a, values_b, values_c) -> Ratings:
    """Items A, B, C over users u0..u(n-1); ``None`` = not rated."""
    triples = [(f"u{u}", item, v) for item, col in zip("ABC", (values_a, values_b, values_c))
               for u, v in enumerate(col) if v is not None]
    users, items, values = zip(*triples)
    return ratings_from_triples(users, items, values)


def test_shrinkage_prefers_well_supported_neighbours():
    # B shares one rater with A (high cosine), C shares four (lower cosine).
    ratings = three_items([5, 1, 1, 1, 1], [5, None, None, None, None], [None, 1, 1, 1, 1])
    s_ab = 25 / (np.sqrt(29) * 5)
    s_ac = 4 / (np.sqrt(29) * 2)
    raw = fit(ratings, similarity="cosine", shrinkage=0, neighbours=1).neighbour_graph.toarray()
    assert raw[0, 1] == pytest.approx(s_ab) and raw[0, 2] == 0
    shrunk = fit(ratings, similarity="cosine", shrinkage=10, neighbours=1).neighbour_graph.toarray()
    assert shrunk[0, 2] == pytest.approx(s_ac * 4 / 14) and shrunk[0, 1] == 0
    both = fit(ratings, similarity="cosine", shrinkage=10, neighbours=2).neighbour_graph.toarray()
    assert both[0, 1] == pytest.approx(s_ab * 1 / 11)


def test_min_support_drops_thin_pairs():
    ratings = three_items([5, 1, 1, 1, 1], [5, None, None, None, None], [None, 1, 1, 1, 1])
    graph = fit(ratings, similarity="cosine", shrinkage=0, min_support=2).neighbour_graph.toarray()
    assert graph[0, 1] == 0 and graph[1, 0] == 0 and graph[0, 2] > 0


def test_ties_go_to_the_lowest_column():
    # B, C and D are rated identically, so A is exactly as similar to each of them.
    same = [4, 2, 5, None]
    triples = [(f"u{u}", item, v) for item, col in
               (("A", [5, 1, 4, 3]), ("B", same), ("C", same), ("D", same)) for u, v in enumerate(col)
               if v is not None]
    ratings = ratings_from_triples(*zip(*triples))
    graph = fit(ratings, similarity="cosine", shrinkage=0, neighbours=2).neighbour_graph
    assert list(graph[0].indices) == [1, 2]


# -- predictions ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("kind", "min_sim", "delta"),
                         [("item", 0.0, 0.0), ("item", -1.0, 0.0), ("item", 0.0, 0.3), ("user", 0.0, 0.0),
                          ("user", 0.0, 0.3)])
def test_prediction_follows_the_documented_formula(kind, min_sim, delta):
    ratings = random_ratings(n_users=30, n_items=20, density=0.35, seed=8)
    model = fit(ratings, kind=kind, neighbours=3, damping=2.0, min_sim=min_sim, neighbour_damping=delta)
    r = np.full(ratings.shape, np.nan)
    r[ratings.users, ratings.items] = ratings.values
    mu = np.nanmean(r)
    rated = ~np.isnan(r)
    b_i = np.nansum(r - mu, axis=0) / (rated.sum(axis=0) + 2.0)
    b_u = np.nansum(r - mu - b_i, axis=1) / (rated.sum(axis=1) + 2.0)
    base = mu + b_u[:, None] + b_i[None, :]
    z = np.where(rated, r - base, 0.0)
    if kind == "item":
        s = model.neighbour_graph.toarray()  # checked against the dense reference above
        num, den = z @ s.T, rated.astype(float) @ np.abs(s).T
    else:
        x = np.where(rated, r - np.nanmean(r, axis=0), 0.0)  # adjusted cosine, user vectors
        norms = np.linalg.norm(x, axis=1, keepdims=True)
        unit = x / np.where(norms > 0, norms, 1.0)
        support = rated.astype(float) @ rated.T.astype(float)
        s = (unit @ unit.T) * support / (support + 25.0)
        s = np.where(s > 0, s, 0.0)
        num, den = np.zeros_like(r), np.zeros_like(r)
        for u in range(r.shape[0]):
            for i in range(r.shape[1]):
                raters = np.flatnonzero(rated[:, i] & (s[u] > 0))
                best = raters[np.lexsort((raters, -s[u, raters]))][:3]
                num[u, i], den[u, i] = s[u, best] @ z[best, i], s[u, best].sum()
    with np.errstate(invalid="ignore", divide="ignore"):
        expected = np.clip(np.where(den > 0, base + num / (den + delta), base), 1, 5)
    np.testing.assert_allclose(model.predict(list(ratings.user_ids)), expected, atol=1e-4)
    if kind == "item":
        assert (den == 0).any(), "the case should include baseline fallbacks"


def test_unknown_and_repeated_items_in_a_history():
    ratings = make_toy_ratings()
    model = fit(ratings, **SMALL)
    history = ratings.user_history(str(ratings.user_ids[0]))
    item, _ = history[0]
    changed = [*history, (item, 1.0)]  # rated again: the last rating counts
    replaced = [(i, 1.0 if i == item else v) for i, v in history]
    np.testing.assert_allclose(model.fold_in(changed), model.fold_in(replaced), atol=1e-6)
    np.testing.assert_allclose(model.fold_in([("NOPE", 5.0)]), model.fold_in([]), atol=1e-6)
    subset = model.fold_in(history, items=[item, "NOPE"])
    assert np.isfinite(subset[0]) and np.isnan(subset[1])


@pytest.mark.parametrize("kind", ["item", "user"])
def test_fold_in_batch_matches_fold_in(kind):
    ratings = make_toy_ratings(seed=1)
    model = fit(ratings, kind=kind, **SMALL)
    people = random_ratings(n_users=6, n_items=40, density=0.15, seed=9)
    matrix = people.csr()
    batch = model.fold_in_batch(matrix)
    assert batch.shape == (6, 40) and batch.dtype == np.float32
    for row in range(6):
        lo, hi = matrix.indptr[row], matrix.indptr[row + 1]
        history = list(zip(model.item_ids[matrix.indices[lo:hi]], matrix.data[lo:hi]))
        np.testing.assert_allclose(batch[row], model.fold_in(history), atol=1e-5)


@pytest.mark.parametrize("kind", ["item", "user"])
@pytest.mark.parametrize("direction", ["best", "worst"])
def test_lists_from_fold_in_equal_lists_from_predict(kind, direction):
    """Ranked by the one ranker, a training user's folded-in ratings give their ``predict`` list.

    The ranking itself is :func:`deepcart.pipeline.rank.top_k_by_score` (its own tests pin the tie
    rule); here the scores it ranks must agree, list for list, between the batch, the one-person and
    the training-user routes, with rated items blocked and ties broken by engagement.
    """
    ratings = make_toy_ratings(n_users=80, n_items=50, seed=2)
    model = fit(ratings, kind=kind, **SMALL)
    rows = ratings.csr()
    rated = rows.toarray() > 0
    engagement = np.bincount(ratings.items, minlength=50)
    predicted = model.predict(list(ratings.user_ids))
    batch = model.fold_in_batch(rows)
    for k in (1, 10, 60):
        expected = top_k_by_score(predicted, k, direction=direction, blocked=rated, engagement=engagement)
        got = top_k_by_score(batch, k, direction=direction, blocked=rated, engagement=engagement)
        np.testing.assert_array_equal(got, expected)
        assert ((expected >= 0).sum(axis=1) == np.minimum(k, (~rated).sum(axis=1))).all()
    for user in (0, 4, 79):
        one = model.fold_in(ratings.user_history(str(ratings.user_ids[user])))
        np.testing.assert_array_equal(
            top_k_by_score(one, 10, direction=direction, blocked=rated[user], engagement=engagement),
            top_k_by_score(predicted[user], 10, direction=direction, blocked=rated[user],
                           engagement=engagement),
        )


@pytest.mark.parametrize("kind", ["item", "user"])
def test_personalisation_beats_the_item_mean(kind):
    """On ratings with planted tastes, neighbours must beat the (damped) item mean on held-out ratings."""
    ratings = make_toy_ratings(n_users=150, n_items=60, seed=4)
    held_out = np.random.default_rng(0).random(len(ratings)) < 0.2
    train = Ratings(ratings.user_ids, ratings.item_ids, ratings.users[~held_out],
                    ratings.items[~held_out], ratings.values[~held_out])
    users, items, actual = ratings.users[held_out], ratings.items[held_out], ratings.values[held_out]

    def rmse(model) -> float:
        predicted = model.predict(list(train.user_ids))[users, items]
        return float(np.sqrt(np.mean((predicted - actual) ** 2)))

    naive = rmse(NaiveRecommender().fit(train))
    neighbours = rmse(fit(train, kind=kind, neighbours=20))
    assert neighbours < 0.7 * naive, (neighbours, naive)


def test_save_keeps_the_graph(tmp_path):
    model = fit(make_toy_ratings(), **SMALL)
    model.save(tmp_path)
    loaded = KNNRecommender.load(tmp_path)
    assert (loaded.neighbour_graph != model.neighbour_graph).nnz == 0
    assert loaded.config == model.config

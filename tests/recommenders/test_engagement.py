"""The engagement models and the one rule that mixes engagement with predicted stars."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from deepcart.pipeline.rank import Scored, rank_scored, relevance
from deepcart.toolkit import engagement as eng
from deepcart.toolkit.engagement import EngagementOptions, ItemRegressionEngagement, PopularityEngagement


def random_matrix(n_users=120, n_items=30, density=0.15, seed=0) -> sp.csr_matrix:
    rng = np.random.default_rng(seed)
    mask = rng.random((n_users, n_items)) < density
    stars = rng.integers(1, 6, (n_users, n_items)).astype(np.float64)
    return sp.csr_matrix(np.where(mask, stars, 0.0))


def test_with_every_item_as_a_neighbour_it_is_exactly_ease():
    """Neighbourhood-restricted EASE is Steck's closed form when every item neighbours every other
    (here every pair of items is co-rated, so each item's neighbours are all the others)."""
    train = random_matrix(n_users=200, n_items=12, density=0.5)
    l2 = 7.0
    fitted = ItemRegressionEngagement.fit(train, EngagementOptions(engagement_neighbours=1000, engagement_l2=l2))
    x = (train.toarray() > 0).astype(np.float64)
    cooccur = x.T @ x > 0
    assert cooccur.all()
    gram = x.T @ x + l2 * np.eye(x.shape[1])
    inverse = np.linalg.inv(gram)
    ease = -inverse / np.diag(inverse)[None, :]
    np.fill_diagonal(ease, 0.0)
    np.testing.assert_allclose(fitted.weights.toarray(), ease, atol=1e-6)


def test_scores_are_positive_and_fall_back_to_popularity():
    train = random_matrix(seed=1)
    model = ItemRegressionEngagement.fit(train, EngagementOptions(engagement_neighbours=10))
    scores = model.scores(train[:20])
    assert scores.shape == (20, 30) and (scores > 0).all() and np.isfinite(scores).all()
    nobody = model.scores(sp.csr_matrix((1, 30)))[0]
    counts = np.bincount(train.indices, minlength=30)
    assert np.array_equal(np.argsort(-nobody, kind="stable"), np.argsort(-counts, kind="stable"))


def test_a_rating_raises_the_engagement_of_the_items_rated_with_it():
    train = random_matrix(seed=2)
    model = ItemRegressionEngagement.fit(train, EngagementOptions(engagement_neighbours=10))
    source = int(np.argmax(np.bincount(train.indices, minlength=30)))
    row = sp.csr_matrix(([5.0], ([0], [source])), shape=(1, 30))
    after = model.scores(row)[0]
    target = int(np.argmax(model.weights[source].toarray()))
    before = model.scores(sp.csr_matrix((1, 30)))[0]
    assert after[target] / after.max() > before[target] / before.max()


def test_stored_weights_are_validated_before_use():
    model = ItemRegressionEngagement.fit(random_matrix(seed=3), EngagementOptions(engagement_neighbours=5))
    arrays = eng.engagement_arrays(model)
    back = eng.engagement_from_arrays(arrays, 30)
    np.testing.assert_array_equal(back.weights.toarray(), model.weights.toarray())
    bad = dict(arrays, engagement_indices=np.where(arrays["engagement_indices"] == 0, 30,
                                                   arrays["engagement_indices"]).astype(np.int32))
    with pytest.raises(ValueError, match="out of range"):
        eng.engagement_from_arrays(bad, 30)
    with pytest.raises(ValueError, match="shape"):
        eng.engagement_from_arrays(arrays, 31)
    with pytest.raises(ValueError, match="unknown engagement model"):
        eng.engagement_from_arrays(dict(arrays, engagement_kind=np.array("clicks")), 30)
    assert eng.engagement_from_arrays({}, 30) is None
    assert eng.fit_engagement(random_matrix(), EngagementOptions(engagement="none")) is None


def test_popularity_engagement_is_the_same_for_everyone():
    train = random_matrix(seed=4)
    model = PopularityEngagement.fit(train, EngagementOptions(engagement="popularity"))
    scores = model.scores(train[:3])
    assert np.all(scores == scores[0]) and (scores > 0).all()
    counts = np.bincount(train.indices, minlength=30)
    assert np.array_equal(np.argsort(-scores[0], kind="stable"), np.argsort(-counts, kind="stable"))


def test_the_relevance_rule_by_hand():
    stars = np.array([5.0, 1.0, 3.0, np.nan], dtype=np.float32)
    engagement = np.array([0.1, 0.1, 1.0, 1.0], dtype=np.float32)
    best = relevance(stars, engagement, 0.5, "best")
    worst = relevance(stars, engagement, 0.5, "worst")
    np.testing.assert_allclose(best[:3], np.log([0.1, 0.1, 1.0]) + 0.5 * stars[:3], rtol=1e-6)
    np.testing.assert_allclose(worst[:3], np.log([0.1, 0.1, 1.0]) - 0.5 * stars[:3], rtol=1e-6)
    assert np.isnan(best[3]) and np.isnan(worst[3])
    # Without engagement: stars alone, in both directions.
    np.testing.assert_array_equal(relevance(stars, None, 0.5, "worst")[:3], -stars[:3])


@pytest.mark.parametrize("weight, best, worst", [
    (0.0, [2, 3, 1], [2, 3, 1]),     # engagement alone: the likely items, whatever their stars
    (100.0, [0, 2, 3], [1, 3, 2]),   # stars alone: 5 > 3 > 2 / 1 < 2 < 3
    (0.5, [2, 3, 0], [3, 1, 2]),     # both: likely and low (item 3) beats likelier but higher (2)
])
def test_the_mix_moves_between_engagement_and_stars(weight, best, worst):
    stars = np.array([5.0, 1.0, 3.0, 2.0], dtype=np.float32)
    engagement = np.array([0.2, 0.5, 1.0, 0.9], dtype=np.float32)
    scored = Scored(stars, engagement, {"best": weight, "worst": weight})
    assert list(rank_scored(scored, 3, direction="best")) == best
    assert list(rank_scored(scored, 3, direction="worst")) == worst


def test_evaluation_ranks_by_the_rule(deepcart_registry, toy_ratings):
    """What evaluate ranks for a person is the top of the relevance, with rated items blocked."""
    from deepcart.pipeline.evaluate import EvalTables, evaluate, parse_metric

    model = deepcart_registry.create("recommender", "knn", {"engagement_neighbours": 5}).fit(toy_ratings)
    matrix = sp.csr_matrix((toy_ratings.values, (toy_ratings.users, toy_ratings.items)), shape=toy_ratings.shape)
    inputs, checks = matrix[:10].copy(), matrix[:10].copy()
    inputs.data[::2] = 0
    inputs.eliminate_zeros()
    checks.data[1::2] = 0
    checks.eliminate_zeros()
    tables = EvalTables(np.asarray(toy_ratings.user_ids[:10]), np.asarray(model.item_ids), inputs, checks)
    report = evaluate(model, tables, [parse_metric("ndcg@5", 5, deepcart_registry)], deepcart_registry)
    stars = model.fold_in_batch(inputs, clip=False)  # ranked before clipping
    engagement = model.fold_in_engagement_batch(inputs)
    for d, sign in (("best", 1), ("worst", -1)):
        key = np.log(engagement) + sign * model.stars_weights[d] * stars
        key[inputs.toarray() > 0] = -np.inf
        expected = np.argsort(-key, axis=1, kind="stable")[:, :5]
        np.testing.assert_array_equal(report.ranked[d][:, :5], expected)


def test_exclusive_lists_never_share_an_item(deepcart_registry, toy_ratings):
    """With exclusive_lists, a person's worst list sits below their median predicted stars and their
    best list above it; without, the same likely items can top both."""
    from deepcart.pipeline.rank import score_people

    matrix = sp.csr_matrix((toy_ratings.values, (toy_ratings.users, toy_ratings.items)), shape=toy_ratings.shape)
    rows = matrix[:12]
    rated = rows.toarray() > 0
    for exclusive in (False, True):
        model = deepcart_registry.create("recommender", "knn", {"engagement_neighbours": 5,
                                                                "exclusive_lists": exclusive}).fit(toy_ratings)
        scored = score_people(model, rows)
        assert scored.exclusive is exclusive
        best = rank_scored(scored, 5, direction="best", blocked=rated)
        worst = rank_scored(scored, 5, direction="worst", blocked=rated)
        shared = sum(len(set(b) & set(w) - {-1}) for b, w in zip(best, worst))
        if exclusive:
            assert shared == 0
            for person in range(len(best)):
                median = np.median(scored.stars[person][~rated[person]])
                assert np.all(scored.stars[person][worst[person]] <= median)
                assert np.all(scored.stars[person][best[person]] > median)
        else:
            assert shared > 0  # engagement dominates: the toy lists overlap


def test_predictions_above_five_are_ranked_by_their_unclipped_value(deepcart_registry, toy_ratings):
    """Best lists of a person the model likes a lot: many predictions clip to 5.0, and the list
    orders them by the model's unclipped score (shown with each pick), not by a tie rule."""
    from deepcart.pipeline.picks import Catalogue, CatalogueScorer, pick
    from deepcart.pipeline.rank import score_people

    model = deepcart_registry.create("recommender", "knn", {"engagement": "none", "neighbour_damping": 0,
                                                            "damping": 0}).fit(toy_ratings)
    items = np.asarray(model.item_ids)
    history = [(str(i), 5.0) for i in items[:12]]
    scored = score_people(model, sp.csr_matrix((np.full(12, 5.0), (np.zeros(12, int), np.arange(12))),
                                               shape=(1, len(items))))
    assert scored.raw is not None and np.array_equal(scored.stars, np.clip(scored.raw, 1, 5))
    above = scored.raw[0, 12:] > 5
    assert above.sum() >= 3, "the test needs several predictions above 5"
    n = len(items)
    text = np.array(["x"] * n, dtype=object)
    cat = Catalogue(ids=items, titles=text, stores=text, prices=np.full(n, np.nan), mean_rating=np.full(n, 3.0),
                    n_ratings=np.arange(n)[::-1] + 30, review_rating=np.ones(n), review_title=text,
                    review_text=text, review_votes=np.zeros(n, int))
    picks = pick(cat, CatalogueScorer(model, cat).scores(history), history, k=int(above.sum()), direction="best",
                 min_engagement=0)
    assert all(p.predicted == 5.0 and p.model_score > 5.0 for p in picks)
    scores = [p.model_score for p in picks]
    assert scores == sorted(scores, reverse=True)  # by the unclipped score, not by engagement
    assert scores != [p.model_score for p in sorted(picks, key=lambda p: -p.n_ratings)]

"""Built-in components pass the reusable contract tests of deepcart.toolkit.testing."""

import numpy as np
import pytest

from deepcart.toolkit.testing import MetricContract, RecommenderContract


class TestNaive(RecommenderContract):
    recommender = "naive"
    bad_option = ("damping", -1)

    def test_damping_shrinks_towards_global_mean(self, deepcart_registry, toy_ratings):
        raw = self.make(deepcart_registry, damping=0).fit(toy_ratings)
        damped = self.make(deepcart_registry, damping=1000).fit(toy_ratings)
        mu = toy_ratings.values.mean()
        user = [toy_ratings.user_ids[0]]
        assert np.abs(damped.predict(user) - mu).max() < np.abs(raw.predict(user) - mu).max()
        # damping 0 is the plain item mean
        item0 = toy_ratings.values[toy_ratings.items == 0].mean()
        assert raw.predict(user)[0, 0] == pytest.approx(item0, abs=1e-5)


class TestNaiveItemRegression(RecommenderContract):
    """naive with a personal engagement model: the ranking moves, the stars do not."""

    recommender = "naive"
    options = {"engagement": "item-regression", "engagement_neighbours": 5}
    bad_option = ("engagement", "clicks")


class TestPopularity(RecommenderContract):
    recommender = "popularity"

    def test_ranks_most_rated_first(self, fitted, toy_ratings):
        import scipy.sparse as sp

        from deepcart.pipeline.rank import rank_scored, score_people

        counts = np.bincount(toy_ratings.items, minlength=len(toy_ratings.item_ids))
        scored = score_people(fitted, sp.csr_matrix((1, len(fitted.item_ids))))
        for direction in ("best", "worst"):
            top = rank_scored(scored, 10, direction=direction, counts=counts)[0]
            assert list(counts[top]) == sorted(counts, reverse=True)[:10]


class TestRandom(RecommenderContract):
    recommender = "random"
    seed_matters = True

    def test_people_get_independent_lists(self, fitted, toy_ratings):
        a, b = fitted.predict(list(toy_ratings.user_ids[:2]))
        assert 1 <= a.min() and a.max() <= 5 and abs(np.corrcoef(a, b)[0, 1]) < 0.5


class TestRMSE(MetricContract):
    metric = "rmse"

    def test_hand_computed(self, instance):
        from deepcart.metric_types import RatingPairs

        data = RatingPairs(np.array([0, 0, 1]), np.array([4.0, 2.0, np.nan]), np.array([5.0, 4.0, 3.0]), 2)
        result = instance.compute(data)
        assert result.value == pytest.approx(np.sqrt((1 + 4) / 2))
        assert result.per_user[0] == pytest.approx(np.sqrt(2.5)) and np.isnan(result.per_user[1])
        assert result.extra["missing"] == 1


class TestMAE(MetricContract):
    metric = "mae"



def test_contract_catches_a_broken_metric(deepcart_registry):
    """A contract that cannot fail proves nothing: feed it a metric with the wrong direction."""
    from deepcart.plugins.metrics.error_metrics import RMSE

    class WrongDirection(RMSE):
        higher_is_better = True

    contract = MetricContract()
    with pytest.raises(AssertionError):
        contract.test_perfect_beats_imperfect(WrongDirection())


def test_contract_catches_a_recommender_that_ignores_unknown_users(deepcart_registry, toy_ratings):
    from deepcart.plugins.recommenders.naive import NaiveRecommender

    class Leaky(NaiveRecommender):
        def predict(self, users, items=None):
            return np.tile(self._row(items), (len(users), 1))

    fitted = Leaky().fit(toy_ratings)
    with pytest.raises(AssertionError):
        RecommenderContract().test_unknown_users_and_items_get_nan(fitted, toy_ratings)

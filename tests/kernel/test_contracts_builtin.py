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

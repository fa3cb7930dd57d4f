"""The ``als`` recommender: contract, the implicit calls it relies on, accuracy, model files."""

import numpy as np

from deepcart.toolkit.testing import RecommenderContract


class TestAls(RecommenderContract):
    recommender = "als"
    options = {"factors": 8}
    bad_option = ("factors", 0)
    seed_matters = True


def test_wraps_implicits_cpu_model(deepcart_registry, toy_ratings):
    from implicit.cpu.als import AlternatingLeastSquares

    model = deepcart_registry.create("recommender", "als", {"factors": 8}).fit(toy_ratings, seed=3)
    assert type(model.model) is AlternatingLeastSquares
    assert model.model.user_factors.shape == (60, 8) and model.model.item_factors.shape == (40, 8)
    assert model.model.random_state == 3 and model.model.num_threads == 1


def test_fold_in_is_implicits_recalculate_user(deepcart_registry, toy_ratings, monkeypatch):
    model = deepcart_registry.create("recommender", "als", {"factors": 8}).fit(toy_ratings)
    calls = []
    original = type(model.model).recalculate_user

    def spy(self, userid, user_items):
        calls.append(user_items.copy())
        return original(self, userid, user_items)

    monkeypatch.setattr(type(model.model), "recalculate_user", spy)
    history = toy_ratings.user_history(str(toy_ratings.user_ids[5]))
    model.fold_in(history)
    assert len(calls) == 1 and calls[0].shape == (1, 40) and calls[0].nnz == len(history)
    # Signed confidences: at least as good as expected -> positive, worse -> negative.
    assert (calls[0].data > 0).any() and (calls[0].data < 0).any()


def test_training_users_are_the_exact_solution_for_the_final_items(deepcart_registry, toy_ratings):
    """After fit, every user's factors are recalculate_user's, not ALS's last (CG) half-step."""
    model = deepcart_registry.create("recommender", "als", {"factors": 8}).fit(toy_ratings)
    for user in toy_ratings.user_ids[:3]:
        np.testing.assert_allclose(model.fold_in(toy_ratings.user_history(str(user))),
                                   model.predict([str(user)])[0], atol=1e-5)


def test_calibration_maps_higher_scores_to_more_stars(deepcart_registry, toy_ratings):
    model = deepcart_registry.create("recommender", "als").fit(toy_ratings)
    assert model.calibration[1] > 0


def test_beats_the_item_mean_on_held_out_ratings(held_out_rmse):
    naive, model = held_out_rmse("naive"), held_out_rmse("als")
    assert model < naive, (model, naive)


def test_implicits_own_file_loads_without_pickle(deepcart_registry, toy_ratings, tmp_path):
    from implicit.cpu.als import AlternatingLeastSquares

    model = deepcart_registry.create("recommender", "als", {"factors": 8}).fit(toy_ratings)
    model.save(tmp_path / "m")
    for name in ("als.npz", "weights.npz"):
        with np.load(tmp_path / "m" / name, allow_pickle=False) as data:
            assert len(data.files)
    again = AlternatingLeastSquares.load(str(tmp_path / "m" / "als.npz"))
    np.testing.assert_array_equal(again.item_factors, model.model.item_factors)
    assert again.regularization == model.config.regularization


def test_a_person_with_no_known_ratings_gets_the_baseline(deepcart_registry, toy_ratings):
    model = deepcart_registry.create("recommender", "als", {"factors": 8}).fit(toy_ratings)
    scores = model.fold_in([("NO-SUCH-ITEM", 5.0)])
    assert np.isfinite(scores).all() and scores.shape == (40,)


def test_results_do_not_depend_on_the_thread_count(deepcart_registry, toy_ratings):
    users = list(toy_ratings.user_ids)
    one = deepcart_registry.create("recommender", "als", {"threads": 1}).fit(toy_ratings, seed=2)
    two = deepcart_registry.create("recommender", "als", {"threads": 2}).fit(toy_ratings, seed=2)
    np.testing.assert_array_equal(one.predict(users), two.predict(users))

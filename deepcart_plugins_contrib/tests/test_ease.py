"""The ``ease`` recommender: contract, Steck's closed form, accuracy, the memory guard, the item cap."""

import numpy as np
import pytest

from deepcart.toolkit.testing import RecommenderContract
from deepcart_plugins_contrib import ease


class TestEase(RecommenderContract):
    recommender = "ease"
    bad_option = ("l2", 0)


class TestEaseWithItemCap(RecommenderContract):
    """Capped: the items outside ``B`` must still meet every promise (finite, fold-in, save/load)."""

    recommender = "ease"
    options = {"max_items": 25}
    bad_option = ("max_items", 0)


def test_weights_are_steck_closed_form_on_residuals(deepcart_registry, toy_ratings):
    """B = I - P / diag(P), P = (X^T X + l2 I)^-1, X = residuals of the damped baseline."""
    model = deepcart_registry.create("recommender", "ease", {"l2": 7.0, "damping": 5.0}).fit(toy_ratings)
    r = toy_ratings.csr().toarray().astype(np.float64)
    observed = r > 0
    mu = r[observed].mean()
    b_i = np.where(observed, r - mu, 0).sum(0) / (observed.sum(0) + 5.0)
    b_u = np.where(observed, r - mu - b_i, 0).sum(1) / (observed.sum(1) + 5.0)
    x = np.where(observed, r - mu - b_i[None, :] - b_u[:, None], 0.0)
    p = np.linalg.inv(x.T @ x + 7.0 * np.eye(r.shape[1]))
    b = np.eye(r.shape[1]) - p / np.diag(p)[None, :]
    np.testing.assert_allclose(model.weights, b, atol=1e-5)
    assert np.all(np.diag(model.weights) == 0)
    expected = np.clip(mu + b_u[:, None] + b_i[None, :] + x @ b, 1, 5)
    np.testing.assert_allclose(model.predict(list(toy_ratings.user_ids)), expected, atol=1e-4)


def test_beats_the_item_mean_on_held_out_ratings(held_out_rmse):
    naive, model = held_out_rmse("naive"), held_out_rmse("ease")
    assert model < naive, (model, naive)


def test_a_user_who_loves_an_items_neighbours_gets_it_above_its_baseline(deepcart_registry, toy_ratings):
    model = deepcart_registry.create("recommender", "ease").fit(toy_ratings)
    weights = model.weights
    target = int(np.argmax(weights.max(axis=0)))  # the item with the strongest positive neighbour
    source = int(np.argmax(weights[:, target]))
    items = [str(i) for i in model.item_ids]
    neutral = model.fold_in([(items[source], 3.0)], [items[target]])[0]
    fan = model.fold_in([(items[source], 5.0)], [items[target]])[0]
    assert fan > neutral


def test_a_catalogue_too_big_for_memory_is_refused_with_the_way_out(deepcart_registry, toy_ratings,
                                                                    monkeypatch):
    monkeypatch.setattr(ease, "available_memory", lambda: 10_000)  # 40 items need 44,800 bytes
    model = deepcart_registry.create("recommender", "ease")
    with pytest.raises(ease.CatalogueTooLargeError) as caught:
        model.fit(toy_ratings)
    message = caught.value.message
    assert "40 items" in message and "43.8 KB" in message and "9.8 KB" in message
    assert "-o max_items=N" in message and "N = 17 fits" in message
    # Following the advice works.
    capped = deepcart_registry.create("recommender", "ease", {"max_items": 17}).fit(toy_ratings)
    assert len(capped.kept_items) == 17


def test_the_memory_plan_is_the_real_peak():
    """The check plans what fitting really allocates: not less (a crash), not twice as much (a refusal
    of what would fit, as the old 24-bytes-a-cell plan did)."""
    import tracemalloc

    from deepcart.toolkit.id_index import ratings_from_triples

    rng = np.random.default_rng(0)
    n_users, n_items, n = 3000, 1500, 60_000
    ratings = ratings_from_triples(rng.integers(0, n_users, n).astype(str), rng.integers(0, n_items, n).astype(str),
                                   rng.integers(1, 6, n).astype(float))
    model = ease.EaseRecommender(ease.EaseConfig(engagement="none"))
    tracemalloc.start()
    try:
        model.fit(ratings)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    planned = ease.planned_bytes(len(model.kept_items))
    assert 0.8 * planned <= peak <= 1.15 * planned, (peak, planned)


def test_the_inverse_is_computed_in_place_and_exact():
    rng = np.random.default_rng(1)
    for n in (1, 7, 600, 1300):  # 1300 > two mirror blocks
        a = rng.standard_normal((n, 40))
        gram = a @ a.T + 3.0 * np.eye(n)
        expected = np.linalg.inv(gram)
        inverse = ease.spd_inverse_in_place(gram)
        assert np.shares_memory(inverse, gram)
        np.testing.assert_allclose(inverse, expected, atol=1e-9)
        np.testing.assert_array_equal(inverse, inverse.T)


def test_the_refusal_is_a_clean_command_line_error(monkeypatch):
    """A DeepcartError: `deepcart run` prints `Error: ...` and exits 1, no traceback."""
    import click
    from click.testing import CliRunner

    from deepcart.toolkit.testing import make_toy_ratings

    monkeypatch.setattr(ease, "available_memory", lambda: 1)

    @click.command()
    def fit():
        ease.EaseRecommender().fit(make_toy_ratings())

    result = CliRunner().invoke(fit, [])
    assert result.exit_code == 1 and "Error: ease: a catalogue of 40 items" in result.output
    assert "Traceback" not in result.output


def test_item_cap_keeps_the_most_rated_and_predicts_the_rest_by_baseline(deepcart_registry, toy_ratings):
    model = deepcart_registry.create("recommender", "ease", {"max_items": 10}).fit(toy_ratings)
    counts = np.bincount(toy_ratings.items, minlength=len(toy_ratings.item_ids))
    kept = np.isin(model.item_ids, model.kept_items)
    assert kept.sum() == 10 and counts[kept].min() >= counts[~kept].max()
    full = deepcart_registry.create("recommender", "ease", {"max_items": 10, "l2": 1e9}).fit(toy_ratings)
    # With an enormous l2, B ~ 0: everything is the baseline; outside the cap it is exactly that.
    users = list(toy_ratings.user_ids[:5])
    np.testing.assert_allclose(model.predict(users)[:, ~kept], full.predict(users)[:, ~kept], atol=1e-5)


def test_model_files_load_without_pickle(deepcart_registry, toy_ratings, tmp_path):
    model = deepcart_registry.create("recommender", "ease").fit(toy_ratings)
    model.save(tmp_path / "m")
    with np.load(tmp_path / "m" / "weights.npz", allow_pickle=False) as data:
        assert data["weights"].dtype == np.float32 and data["weights"].shape == (40, 40)

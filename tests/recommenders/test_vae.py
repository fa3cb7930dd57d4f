"""The ``vae`` recommender (Mult-VAE with a rating head)."""

from __future__ import annotations

import numpy as np
import pytest

from deepcart.toolkit.testing import RecommenderContract, heldout_rmse, hold_out, make_toy_ratings

FAST = {"encoder": [32, 8], "epochs": 15, "batch_size": 16, "lr": 1e-2, "progress": False,
        "device": "cpu"}


pytestmark = pytest.mark.usefixtures("one_thread")


class TestVAE(RecommenderContract):
    recommender = "vae"
    options = FAST
    bad_option = ("anneal_cap", -0.1)
    seed_matters = True

    @pytest.mark.parametrize("seed", [0, 3])
    def test_beats_the_item_mean_on_planted_tastes(self, deepcart_registry, seed):
        # The toy people pick items uniformly at random, so the multinomial head has nothing to
        # say about engagement: the rating head alone is judged with the gate off, and the gate
        # (which then shrinks every personal residual) must still keep a clear win.
        train, test = hold_out(make_toy_ratings(seed=seed))
        naive = heldout_rmse(deepcart_registry.create("recommender", "naive").fit(train), train, test)
        ungated = heldout_rmse(self.make(deepcart_registry, engagement_gate=0).fit(train, seed=0), train, test)
        gated = heldout_rmse(self.make(deepcart_registry).fit(train, seed=0), train, test)
        assert ungated < 0.8 * naive, (ungated, naive)
        assert gated < 0.9 * naive, (gated, naive)

    def test_engagement_gate_follows_the_documented_formula(self, deepcart_registry, toy_ratings):
        """r^ = clip(b_i + min(1, n_items * pi_i / gate) * (h . v_i + e_i), 1, 5), per cell."""
        import torch

        fitted = self.make(deepcart_registry, engagement_gate=1.0).fit(toy_ratings, seed=0)

        from deepcart.plugins.recommenders.neural.bags import make_bags

        assert list(fitted.item_ids) == list(toy_ratings.item_ids) and (fitted._row_of == np.arange(len(fitted._row_of))).all()
        people = toy_ratings.csr()[:5]
        net = fitted._net.eval()
        with torch.inference_mode():
            h = fitted._hidden(net, make_bags(people, fitted._device))
            pi = torch.softmax(net.logits(h), dim=1).numpy()
            full = net.rating_rows.matrix(h, None).numpy()
        base = net.rating_rows.baseline.numpy()
        weight = np.minimum(1.0, pi * pi.shape[1] / fitted.config.engagement_gate)
        expected = np.clip(base + weight * (full - base), 1, 5)
        got = fitted.fold_in_batch(people)
        np.testing.assert_allclose(got, expected, atol=1e-5)
        assert 0 < (weight < 1).mean() < 1  # the case has gated and ungated cells

    def test_architecture_follows_the_paper(self, deepcart_registry, toy_ratings):
        """Encoder items -> 32 -> (mu, logvar) of 8; decoder 8 -> 32 -> items (both heads)."""
        import torch

        net = self.make(deepcart_registry, epochs=1).fit(toy_ratings)._net
        n = len(toy_ratings.item_ids)
        assert net.input.bag.weight.shape == (2 * n, 32)  # channels "rated" and "how"
        shapes = [(m.in_features, m.out_features) for m in net.modules() if isinstance(m, torch.nn.Linear)]
        assert shapes == [(32, 16), (8, 32), (32, n)]
        assert net.rating_rows.weight.weight.shape == (n, 32)

    def test_ratings_steer_the_prediction(self, fitted, toy_ratings):
        """Same items, opposite ratings: the predictions must differ (the input carries ratings)."""
        history = toy_ratings.user_history(str(toy_ratings.user_ids[0]))
        flipped = [(item, 6.0 - rating) for item, rating in history]
        assert np.abs(fitted.fold_in(history) - fitted.fold_in(flipped)).max() > 0.1


def test_kl_weight_is_annealed():
    """beta rises by 1 / total_anneal_steps per update and stops at anneal_cap; 0 steps: the cap."""
    from deepcart.plugins.recommenders.neural.vae import kl_weight

    assert [kl_weight(t, 0.3, 10) for t in (1, 2, 3, 50)] == pytest.approx([0.1, 0.2, 0.3, 0.3])
    assert kl_weight(1, 0.2, 0) == 0.2

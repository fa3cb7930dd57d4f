"""The ``autoencoder`` recommender and the torch machinery it shares with ``vae``."""

from __future__ import annotations

import csv
import subprocess
import sys

import numpy as np
import pytest

from deepcart.ratings import Ratings
from deepcart.toolkit.testing import RecommenderContract, heldout_rmse, hold_out, make_toy_ratings

FAST = {"hidden": [16], "epochs": 15, "batch_size": 16, "lr": 1e-2, "progress": False, "device": "cpu"}


pytestmark = pytest.mark.usefixtures("one_thread")


def validation_split(ratings: Ratings, seed: int = 2):
    """A quarter of the users held out, each with half their ratings as input, half as check."""
    rng = np.random.default_rng(seed)
    held = (rng.random(len(ratings.user_ids)) < 0.25)[ratings.users]
    half = rng.random(len(ratings)) < 0.5

    def part(mask):
        return Ratings(ratings.user_ids, ratings.item_ids, ratings.users[mask], ratings.items[mask],
                       ratings.values[mask])

    return part(~held), part(held & half), part(held & ~half)


class TestAutoencoder(RecommenderContract):
    recommender = "autoencoder"
    options = FAST
    bad_option = ("dropout", 1.5)
    seed_matters = True

    def test_beats_the_item_mean_on_planted_tastes(self, deepcart_registry):
        train, test = hold_out(make_toy_ratings())
        naive = heldout_rmse(deepcart_registry.create("recommender", "naive").fit(train), train, test)
        ours = heldout_rmse(self.make(deepcart_registry).fit(train, seed=0), train, test)
        assert ours < 0.8 * naive, (ours, naive)

    def test_fold_in_batch_matches_predict(self, fitted, toy_ratings):
        np.testing.assert_allclose(fitted.fold_in_batch(toy_ratings.csr()[:6]),
                                   fitted.predict(list(toy_ratings.user_ids[:6])), atol=1e-5)

    @pytest.mark.parametrize("kappa", [0.0, 5.0])
    def test_support_damping_follows_the_documented_formula(self, deepcart_registry, kappa):
        """r^ = clip(b_i + n_i / (n_i + kappa) * (h . v_i + e_i), 1, 5), n_i = train ratings of i."""
        import torch

        from deepcart.plugins.recommenders.neural.bags import make_bags

        ratings = make_toy_ratings(seed=5)
        fitted = self.make(deepcart_registry, support_damping=kappa).fit(ratings, seed=0)
        assert (fitted._row_of == np.arange(len(fitted._row_of))).all()
        people = ratings.csr()[:6]
        net = fitted._net.eval()
        with torch.inference_mode():
            raw = net.rating_rows.matrix(fitted._hidden(net, make_bags(people, fitted._device)), None).numpy()
        base = net.rating_rows.baseline.numpy()
        n = np.bincount(ratings.items, minlength=len(ratings.item_ids)).astype(float)
        expected = np.clip(base + n / (n + kappa) * (raw - base), 1, 5)
        np.testing.assert_allclose(fitted.fold_in_batch(people), expected, atol=1e-5)
        if kappa:  # the shrinkage really bites on this data
            assert np.abs(fitted.fold_in_batch(people) - np.clip(raw, 1, 5)).max() > 0.01
        reloaded_shape = fitted._net.support.shape  # rebuilt from the training matrix, not saved
        assert reloaded_shape == (len(ratings.item_ids),) and "support" not in fitted._net.state_dict()

    def test_hidden_layers_are_mirrored(self, deepcart_registry, toy_ratings):
        import torch

        model = self.make(deepcart_registry, hidden="12,5", epochs=1).fit(toy_ratings)
        linears = [m for m in model._net.middle if isinstance(m, torch.nn.Linear)]
        assert [(m.in_features, m.out_features) for m in linears] == [(12, 5), (5, 12)]
        assert model._net.input.bag.weight.shape == (len(toy_ratings.item_ids), 12)
        assert model._net.rating_rows.weight.weight.shape == (len(toy_ratings.item_ids), 12)

    def test_early_stopping_restores_the_best_epoch(self, deepcart_registry):
        train, inputs, checks = validation_split(make_toy_ratings(seed=5))
        model = self.make(deepcart_registry, epochs=300, patience=2, lr=0.05, hidden=[32])
        model.fit(train, seed=0, validation=(inputs, checks))
        rmses = [row.val_rmse for row in model.history]
        assert len(rmses) < 300, "never stopped"
        best = int(np.argmin(rmses))
        assert len(rmses) == best + 1 + 2  # stopped after `patience` epochs without improvement
        # The fitted model is the best epoch's: recompute its validation RMSE from scratch.
        rows = np.searchsorted(inputs.user_ids, checks.user_ids[checks.users])
        scores = model.fold_in_batch(inputs.csr())
        rmse = np.sqrt(np.mean((scores[rows, checks.items] - checks.values) ** 2))
        assert rmse == pytest.approx(rmses[best], abs=1e-5)

    def test_csv_log(self, deepcart_registry, tmp_path):
        train, inputs, checks = validation_split(make_toy_ratings())
        path = tmp_path / "logs" / "train.csv"
        model = self.make(deepcart_registry, epochs=3, log_csv=str(path))
        model.fit(train, validation=(inputs, checks))
        with path.open() as f:
            rows = list(csv.DictReader(f))
        assert list(rows[0]) == ["epoch", "train_loss", "val_loss", "val_rmse", "seconds"]
        assert [int(r["epoch"]) for r in rows] == [1, 2, 3]
        assert all(float(r["val_rmse"]) > 0 and float(r["seconds"]) >= 0 for r in rows)

    def test_unrated_catalogue_items_get_the_global_mean(self, deepcart_registry, toy_ratings):
        # The same ratings over a catalogue with two more items that nobody rated.
        items = np.concatenate([toy_ratings.item_ids, ["B999999998", "B999999999"]])
        ratings = Ratings(toy_ratings.user_ids, items, toy_ratings.users, toy_ratings.items,
                          toy_ratings.values)
        model = self.make(deepcart_registry, epochs=2).fit(ratings)
        scores = model.predict([toy_ratings.user_ids[0]])[0]
        assert scores.shape == (len(items),)
        assert scores[-2:] == pytest.approx([toy_ratings.values.mean()] * 2, abs=1e-5)
        history = toy_ratings.user_history(str(toy_ratings.user_ids[0]))
        np.testing.assert_allclose(model.fold_in([*history, ("B999999999", 1.0)]), scores, atol=1e-6)

    def test_load_refuses_a_pickle_payload(self, fitted, deepcart_registry, tmp_path):
        import pickle

        import torch

        class Payload:
            def __init__(self, path):
                self.path = str(path)

            def __reduce__(self):
                return (open, (self.path, "w"))

        # The payload is real: an unrestricted torch.load runs it.
        torch.save({"x": Payload(tmp_path / "proof")}, tmp_path / "proof.pt")
        torch.load(tmp_path / "proof.pt", weights_only=False)
        assert (tmp_path / "proof").exists()

        fitted.save(tmp_path / "model")
        torch.save({"x": Payload(tmp_path / "pwned")}, tmp_path / "model" / "model.pt")
        cls = deepcart_registry.get("recommender", self.recommender).obj
        with pytest.raises(pickle.UnpicklingError):
            cls.load(tmp_path / "model")
        assert not (tmp_path / "pwned").exists()

    def test_load_refuses_object_arrays(self, fitted, deepcart_registry, tmp_path):
        fitted.save(tmp_path / "model")
        path = tmp_path / "model" / "data.npz"
        with np.load(path) as data:
            arrays = dict(data)
        arrays["items"] = arrays["items"].astype(object)
        np.savez(path, **arrays)
        cls = deepcart_registry.get("recommender", self.recommender).obj
        with pytest.raises(ValueError, match="pickle"):
            cls.load(tmp_path / "model")


def test_sparse_first_layer_equals_dense_matmul():
    import scipy.sparse as sp
    import torch

    from deepcart.plugins.recommenders.neural.bags import make_bags
    from deepcart.plugins.recommenders.neural.nets import ItemRows, SparseInput

    torch.manual_seed(0)
    n_items, width = 30, 7
    matrix = sp.random(6, n_items, density=0.2, format="csr", random_state=0, dtype=np.float32)
    matrix = sp.csr_matrix(matrix.multiply(np.array([[1], [1], [1], [0], [1], [1]])))  # an empty bag
    matrix.eliminate_zeros()
    assert matrix[3].nnz == 0 and matrix.nnz > 10
    bags = make_bags(matrix, torch.device("cpu"))
    layer = SparseInput(n_items, width, fan_in=4.0, channels=2)
    second = bags.values * 2 - 1
    sparse_out = layer(bags, bags.values, second)
    sparse_out.sum().backward()
    sparse_grad = layer.bag.weight.grad.to_dense()

    dense_x = torch.zeros(6, 2 * n_items)
    dense_x[bags.rows, bags.indices] = bags.values
    dense_x[bags.rows, bags.indices + n_items] = second
    weight = layer.bag.weight.detach().clone().requires_grad_()
    dense_out = dense_x @ weight + layer.bias.detach()
    dense_out.sum().backward()
    torch.testing.assert_close(sparse_out, dense_out)
    torch.testing.assert_close(sparse_grad, weight.grad)

    # Gathered outputs equal the dense output layer at the same (person, item) pairs.
    rows = ItemRows(n_items, width, torch.rand(n_items))
    h = torch.randn(6, width)
    torch.testing.assert_close(rows.pairs(h, bags.rows, bags.indices),
                               rows.matrix(h)[bags.rows, bags.indices])


def test_lazy_adam_is_adamw_and_lazy():
    """Dense gradients: torch's AdamW exactly. Sparse ones: AdamW on the rows present, others untouched."""
    import torch

    from deepcart.plugins.recommenders.neural.training import LazyAdam

    torch.manual_seed(0)
    ours = torch.nn.Embedding(20, 4, sparse=True)
    dense = torch.nn.Linear(4, 3)
    ref_table, ref_dense = torch.nn.Embedding(20, 4), torch.nn.Linear(4, 3)
    ref_table.load_state_dict(ours.state_dict())
    ref_dense.load_state_dict(dense.state_dict())
    opt = LazyAdam([*ours.parameters(), *dense.parameters()], lr=0.05, weight_decay=0.1)
    ref = torch.optim.AdamW([*ref_table.parameters(), *ref_dense.parameters()], lr=0.05, weight_decay=0.1)
    for _ in range(5):  # every row in every batch: lazy and eager agree
        idx = torch.cat([torch.arange(20), torch.randint(0, 20, (10,))])
        for table, lin, o in ((ours, dense, opt), (ref_table, ref_dense, ref)):
            o.zero_grad()
            lin(table(idx)).pow(2).sum().backward()
            o.step()
    torch.testing.assert_close(ours.weight, ref_table.weight)
    torch.testing.assert_close(dense.weight, ref_dense.weight)
    before = ours.weight.detach().clone()
    opt.zero_grad()
    dense(ours(torch.tensor([3, 7, 3]))).sum().backward()
    opt.step()
    moved = (ours.weight != before).any(1)
    assert moved.nonzero().flatten().tolist() == [3, 7]


def test_fit_loop_stops_after_patience_and_restores_best_weights():
    import torch

    from deepcart.plugins.recommenders.neural.bags import Bags
    from deepcart.plugins.recommenders.neural.config import TorchConfig
    from deepcart.plugins.recommenders.neural.training import fit_loop

    torch.manual_seed(0)
    module = torch.nn.Linear(3, 1)
    x = torch.randn(8, 3)
    bags = Bags(torch.zeros(0), torch.zeros(0), torch.zeros(0), torch.zeros(0), n=8)
    script = iter([3.0, 2.0, 1.0, 1.5, 1.0, 4.0, 0.5])  # best at epoch 3; 1.0 again is no gain
    snapshots = []

    def validate():
        snapshots.append(module.weight.detach().clone())
        return 0.0, next(script)

    config = TorchConfig(epochs=7, patience=3, lr=0.1, progress=False)
    history = fit_loop(module, lambda: iter([bags]), 1, lambda b: (module(x) ** 2).mean(), config,
                       validate=validate)
    assert [row.epoch for row in history] == [1, 2, 3, 4, 5, 6]
    torch.testing.assert_close(module.weight, snapshots[2])
    assert not torch.equal(module.weight, snapshots[-1])


def test_module_import_stays_light():
    code = ("import sys; import deepcart.plugins.recommenders.neural.autoencoder, "
            "deepcart.plugins.recommenders.neural.vae; assert 'torch' not in sys.modules, 'torch imported'")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_hidden_sizes_from_the_command_line(deepcart_registry):
    from deepcart.config import parse_options
    from deepcart.errors import ConfigError

    model = deepcart_registry.create("recommender", "autoencoder", parse_options(["hidden=64,32"]))
    assert model.config.hidden == [64, 32]
    with pytest.raises(ConfigError, match="hidden"):
        deepcart_registry.create("recommender", "autoencoder", {"hidden": "0"})

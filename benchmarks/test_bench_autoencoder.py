"""The ``autoencoder``'s sparse-aware training vs. the same model fed densified batches.

Shape: the seed project's 'small' dataset, 10,000 users x 260,000 catalogue items, ~200,000 ratings,
drawn with power-law user activity and item popularity (so, as in real data, most catalogue items
have no rating and a few have many), hidden layer 500, batch 256.

* ``test_epoch_sparse_vs_dense``: one training epoch of deepcart's model as ``fit`` runs it, setup
  included (EmbeddingBag first layer, outputs gathered at the observed ratings, lazy Adam on the
  item tables) vs. one epoch of the very same parameters computed the seed project's way: each
  batch densified to ``(batch, n_items)``, ``x @ W`` in, a dense ``(batch, n_items)`` output, the
  MSE masked to the observed entries, Adam. Same run, ratio of wall times (goal: sparse >= 3x).
* ``test_training_peak_rss``: a whole training run (fit with validation + early stopping, then
  ``predict`` and ``fold_in_batch`` on a block of people, sized as evaluation sizes them, ~200 MB of
  dense scores) in a child process; goal: peak RSS < 3 GB.

``--benchmark-disable`` (CI) runs both once on a tiny matrix and checks nothing but that they run.
"""

from __future__ import annotations

import time

import numpy as np
import pytest

FULL = {"n_users": 10_000, "n_items": 260_000, "n_ratings": 200_000, "hidden": 500}
SMOKE = {"n_users": 300, "n_items": 3_000, "n_ratings": 3_000, "hidden": 32}
BATCH = 256

#: Source of the data generator, run here and in the peak-RSS child alike.
GENERATOR = """
import numpy as np
from deepcart.ratings import Ratings

def power_law_ratings(n_users, n_items, n_ratings, seed=0):
    '''Power-law user activity and item popularity (exponent 0.8), every user >= 1 rating,
    J-shaped stars; the catalogue is all n_items columns, rated or not.'''
    rng = np.random.default_rng(seed)
    def weights(n):
        w = 1.0 / np.arange(1, n + 1) ** 0.8
        return rng.permutation(w / w.sum())
    counts = 1 + rng.multinomial(n_ratings - n_users, weights(n_users))
    users = np.repeat(np.arange(n_users), counts)
    items = rng.choice(n_items, len(users), p=weights(n_items))
    keep = np.unique(users.astype(np.int64) * n_items + items, return_index=True)[1]
    users, items = users[keep], items[keep]
    stars = rng.choice(np.arange(1, 6), len(users), p=[0.1, 0.06, 0.08, 0.16, 0.6])
    return Ratings(np.array([f"U{u:06d}" for u in range(n_users)]),
                   np.array([f"B{i:09d}" for i in range(n_items)]),
                   users.astype(np.int32), items.astype(np.int32), stars.astype(np.float32))
"""

TRAIN_RUN = GENERATOR + """
import sys, json
import numpy as np
from deepcart.ratings import Ratings
from deepcart.plugins.recommenders.neural.autoencoder import AutoencoderRecommender, AutoencoderConfig

n_users, n_items, n_ratings, hidden, epochs = map(int, sys.argv[1:6])
data = power_law_ratings(n_users, n_items, n_ratings)
# Validation: 10% of the users' ratings split in half, input / check.
rng = np.random.default_rng(1)
val_user = rng.random(n_users) < 0.1
held = val_user[data.users]
half = rng.random(len(data)) < 0.5
def part(mask):
    return Ratings(data.user_ids, data.item_ids, data.users[mask], data.items[mask], data.values[mask])
train, inputs, checks = part(~held), part(held & half), part(held & ~half)
model = AutoencoderRecommender(AutoencoderConfig(hidden=[hidden], epochs=epochs, batch_size=256,
                                                 patience=epochs, progress=False, device="cpu"))
model.fit(train, seed=0, validation=(inputs, checks))
# Scoring as evaluation does it: blocks of people sized to ~200 MB of dense scores.
block = max(1, 200 * 2**20 // (4 * n_items))
scores = model.predict(list(train.user_ids[:block]))
folded = model.fold_in_batch(inputs.csr()[:block])
# VmHWM: this program's own peak (ru_maxrss also keeps the parent's high-water mark across exec).
vm_hwm = next((int(line.split()[1]) / 1024 for line in open("/proc/self/status")
               if line.startswith("VmHWM")), float("nan"))
print(json.dumps({"active_items": int(len(model._active)), "epochs": len(model.history),
                  "vm_hwm_mb": round(vm_hwm),
                  "finite": bool(np.isfinite(scores[~val_user[:block]]).all() and np.isfinite(folded).all())}))
"""


@pytest.fixture(scope="module")
def shape(request) -> dict[str, int]:
    return SMOKE if request.config.getoption("benchmark_disable") else FULL


@pytest.fixture(scope="module")
def ratings(shape):
    namespace: dict = {}
    exec(GENERATOR, namespace)
    return namespace["power_law_ratings"](shape["n_users"], shape["n_items"], shape["n_ratings"])


def sparse_epoch(ratings, hidden: int):
    """One epoch of deepcart's autoencoder, as ``fit`` runs it (setup included)."""
    from deepcart.plugins.recommenders.neural.autoencoder import AutoencoderConfig, AutoencoderRecommender

    config = AutoencoderConfig(hidden=[hidden], epochs=1, batch_size=BATCH, progress=False, device="cpu")
    return AutoencoderRecommender(config).fit(ratings, seed=0)


def dense_epoch(model, ratings):
    """One epoch of the same net, fed densified batches: dense in, dense out, masked MSE, Adam."""
    import torch
    import torch.nn.functional as F

    net, train = model._net, model._train
    net.train()
    n_items = train.shape[1]
    table, rows = net.input.bag.weight, net.rating_rows
    optimizer = torch.optim.Adam(net.parameters(), lr=model.config.lr)  # dense gradients throughout
    p = model.config.input_dropout
    rng = np.random.default_rng(0)
    order = rng.permutation(train.shape[0])
    for start in range(0, len(order), BATCH):
        batch = train[order[start : start + BATCH]].tocoo()
        r = torch.from_numpy(batch.row.astype(np.int64))
        c = torch.from_numpy(batch.col.astype(np.int64))
        values = torch.from_numpy(batch.data.astype(np.float32))
        residual = torch.zeros(batch.shape[0], n_items)
        residual[r, c] = F.dropout(values - rows.baseline[c], p, training=True)
        target = torch.zeros(batch.shape[0], n_items)
        target[r, c] = values
        mask = torch.zeros(batch.shape[0], n_items, dtype=torch.bool)
        mask[r, c] = True
        h = net.middle(residual @ table + net.input.bias)
        out = torch.addmm(rows.baseline + rows.bias.weight[:, 0], h, rows.weight.weight.T)
        loss = ((out - target) ** 2)[mask].mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()


@pytest.mark.benchmark(group="autoencoder-rss")
def test_training_peak_rss(benchmark, shape, child_peak_rss, request):
    """First in the file: the child's ``ru_maxrss`` starts at the parent's peak (Linux keeps the
    high-water mark across fork + exec), so it must run before the dense epoch inflates pytest."""
    import json

    epochs = 1 if request.config.getoption("benchmark_disable") else 3
    args = [str(shape[k]) for k in ("n_users", "n_items", "n_ratings", "hidden")] + [str(epochs)]
    rss, out = benchmark.pedantic(child_peak_rss, args=(TRAIN_RUN, args), rounds=1, iterations=1)
    info = json.loads(out.strip().splitlines()[-1])
    benchmark.extra_info.update({"peak_rss_mb": round(rss), **info, **shape})
    print(f"\nautoencoder training run ({epochs} epochs, validation, predictions): peak RSS {rss:.0f} MiB "
          f"(VmHWM {info['vm_hwm_mb']} MiB), {info['active_items']:,} rated items")
    assert info["finite"]
    if not request.config.getoption("benchmark_disable"):
        assert rss < 3 * 1024, f"peak RSS {rss:.0f} MiB"


@pytest.mark.benchmark(group="autoencoder-epoch")
def test_epoch_sparse_vs_dense(benchmark, shape, ratings, request):
    import torch

    model = benchmark.pedantic(sparse_epoch, args=(ratings, shape["hidden"]), rounds=1, iterations=1)
    sparse_s = benchmark.stats.stats.mean if benchmark.stats else None
    if sparse_s is None:  # --benchmark-disable: time it ourselves
        start = time.perf_counter()
        sparse_epoch(ratings, shape["hidden"])
        sparse_s = time.perf_counter() - start
    torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))])  # its one-time imports: not the epoch's
    torch.manual_seed(0)
    start = time.perf_counter()
    dense_epoch(model, ratings)
    dense_s = time.perf_counter() - start
    ratio = dense_s / sparse_s
    benchmark.extra_info.update({
        "users": shape["n_users"], "items": shape["n_items"], "ratings": len(ratings),
        "active_items": int(len(model._active)), "hidden": shape["hidden"],
        "sparse_epoch_s": round(sparse_s, 2), "dense_epoch_s": round(dense_s, 2), "ratio": round(ratio, 1),
        "torch_threads": torch.get_num_threads(),
    })
    print(f"\nautoencoder epoch, {len(ratings):,} ratings, {len(model._active):,} rated of "
          f"{shape['n_items']:,} items: sparse {sparse_s:.1f} s, dense {dense_s:.1f} s, ratio {ratio:.1f}x")
    if not request.config.getoption("benchmark_disable"):
        assert ratio >= 3, f"sparse epoch only {ratio:.1f}x faster than dense"

"""Dashboard latency on a 260,000-item catalogue: from a rating to the updated picks list.

Everything the server does when a person clicks a star, without the network: the dashboard view's
``rate`` (store the rating, fold all the person's ratings into the model, rank the catalogue,
render the picks list, then the chart and the ratings table). Each round rates a new product, so
the history grows to ~200 ratings. The catalogue (titles, stores, prices, engagement, reviews) and
~1M training ratings are synthetic, built in memory; the goal is p95 < 100 ms.

Groups, each timed side by side in the same run:

* ``dashboard-rating``: the whole callback with ``knn`` (when registered) and ``naive``; the time
  to the updated picks list alone goes into ``extra_info`` (``picks_p50_ms``, ``picks_p95_ms``).
  Baseline: what ``deepcart recommend`` does per request (a fresh
  :class:`~deepcart.pipeline.picks.CatalogueScorer` + :func:`~deepcart.pipeline.picks.pick`), which re-sorts the
  model's item index on every call.
* ``dashboard-search``: type-as-you-search queries of 1-3 words against the title index.

``--benchmark-disable`` (CI) runs each once on a 3,000-item catalogue.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from deepcart.pipeline.picks import Catalogue, CatalogueScorer, pick
from deepcart.plugins.frontends.panel.state import (
    DashboardData,
    DashboardSession,
    LoadedModel,
    SessionScorer,
)
from deepcart.ratings import Ratings

N_ITEMS, N_ITEMS_SMOKE = 260_000, 3_000
N_RATINGS, N_RATINGS_SMOKE = 1_000_000, 30_000
ROUNDS = 200
BRANDS = ["Voltix", "Nexora", "Quantix", "Zentech", "Aurix", "Kelvar", "Orbix", "Wavely", "BlueCrest",
          "SoundPeak", "Brightline", "Lumio", "Corvan", "Tekra", "Halden"]
NOUNS = ["Headphones", "Earbuds", "Cable", "Charger", "Hub", "Mouse", "Keyboard", "Webcam", "Speaker",
         "Microphone", "Case", "Stand", "Adapter", "Router", "Monitor", "Drive", "Card", "Remote", "Light",
         "Tripod", "Battery", "Dock", "Switch", "Tablet", "Watch Band", "Screen Protector", "Sound Bar"]
WORDS = ["Wireless", "USB C", "Bluetooth", "Fast Charging", "Noise Cancelling", "Ultra Slim", "Waterproof",
         "Portable", "Braided", "4K", "Ergonomic", "Magnetic", "Gaming", "Mini", "Pro", "2-Pack", "Heavy Duty",
         "for iPhone", "for Laptop", "Travel", "Upgraded 2023 Version", "Long Battery Life", "Low Latency"]
COLOURS = ["Black", "White", "Red", "Blue", "Space Gray", "Rose Gold", "Green"]


def make_catalogue(n_items: int, seed: int = 0) -> tuple[Catalogue, np.ndarray]:
    """A synthetic catalogue shaped like Amazon's: long-tailed engagement, J-shaped stars."""
    rng = np.random.default_rng(seed)
    ids = np.array([f"B{i:09d}" for i in range(n_items)])
    brand, noun = rng.integers(0, len(BRANDS), n_items), rng.integers(0, len(NOUNS), n_items)
    extra = rng.integers(0, len(WORDS), (n_items, 3))
    n_extra, colour = rng.integers(0, 4, n_items), rng.integers(-3, len(COLOURS), n_items)
    titles = np.array([
        f"{BRANDS[b]} {' '.join(WORDS[w] for w in e[:k])} {NOUNS[n]}"
        + (f" ({COLOURS[c]})" if c >= 0 else "") + f" {i % 997}"
        for i, (b, n, e, k, c) in enumerate(zip(brand, noun, extra, n_extra, colour))], dtype=object)
    n_ratings = np.minimum((rng.pareto(1.1, n_items) + 1) * 3, 50_000).astype(np.int64)
    quality = rng.beta(5, 1.6, n_items)  # most items are good, a few are bad
    probs = np.stack([(1 - quality) ** 2, (1 - quality) * 0.3, 0.15 * np.ones(n_items), quality * 0.5,
                      quality ** 2], axis=1)
    probs /= probs.sum(axis=1, keepdims=True)
    stars = np.rint(probs * n_ratings[:, None]).astype(np.int64)
    stars[:, 4] += n_ratings - stars.sum(axis=1)
    stars = np.maximum(stars, 0)
    n_ratings = stars.sum(axis=1)
    mean = (stars * np.arange(1, 6)).sum(axis=1) / np.maximum(n_ratings, 1)
    catalogue = Catalogue(
        ids=ids, titles=titles, stores=np.array([BRANDS[b] for b in brand], dtype=object),
        prices=np.where(rng.random(n_items) < 0.3, np.nan, np.round(rng.lognormal(3, 0.8, n_items), 2)),
        mean_rating=mean, n_ratings=n_ratings, review_rating=np.ones(n_items),
        review_title=np.full(n_items, "Stopped working", dtype=object),
        review_text=np.full(n_items, "It worked for a week. " * 20, dtype=object),
        review_votes=rng.integers(0, 50, n_items),
        categories=_object_array([["Electronics", NOUNS[n]] for n in noun]))
    return catalogue, stars


def _object_array(values: list) -> np.ndarray:
    """A 1-D object array of lists (``np.array`` would make a 2-D array of equal-length lists)."""
    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out


def make_ratings(catalogue: Catalogue, n_ratings: int, seed: int = 0) -> Ratings:
    """Training ratings: items drawn by popularity, stars around each item's mean plus a user taste."""
    rng = np.random.default_rng(seed)
    n_users = n_ratings // 8
    p = catalogue.n_ratings / catalogue.n_ratings.sum()
    items = rng.choice(len(catalogue), n_ratings, p=p)
    users = rng.integers(0, n_users, n_ratings)
    key = np.unique(users.astype(np.int64) * len(catalogue) + items)
    users, items = (key // len(catalogue)).astype(np.int32), (key % len(catalogue)).astype(np.int32)
    taste = rng.normal(0, 0.7, n_users)
    values = np.clip(np.rint(catalogue.mean_rating[items] + taste[users] + rng.normal(0, 0.8, len(items))), 1, 5)
    return Ratings(np.array([f"U{u:08d}" for u in range(n_users)]), catalogue.ids, users, items,
                   values.astype(np.float32))


def registry():
    """Built-ins plus ``knn`` when its module exists (it may not be registered yet)."""
    from deepcart.plugin_manager import load_plugins
    from deepcart.plugins import BUILTIN_PLUGINS

    try:
        return load_plugins(builtins=tuple(dict.fromkeys((*BUILTIN_PLUGINS, "deepcart.plugins.recommenders.knn"))),
                            entry_points=False).registry
    except Exception:
        return load_plugins(entry_points=False).registry


@pytest.fixture(scope="module")
def world(request):
    """(data, fitted models by name) on the full or the smoke-sized catalogue."""
    smoke = request.config.getoption("benchmark_disable")
    catalogue, stars = make_catalogue(N_ITEMS_SMOKE if smoke else N_ITEMS)
    train = make_ratings(catalogue, N_RATINGS_SMOKE if smoke else N_RATINGS)
    reg = registry()
    models = {name: reg.create("recommender", name).fit(train, seed=0)
              for name in ("knn", "naive") if name in reg.names("recommender")}
    loaded = {name: LoadedModel(name, Path(name), name, {"recommender": name}, SessionScorer(m, catalogue))
              for name, m in models.items()}
    return DashboardData("bench", catalogue, loaded, star_counts=stars), models


def _percentiles(values_ms) -> dict[str, float]:
    values = np.asarray(values_ms, float)
    return {"p50_ms": round(float(np.percentile(values, 50)), 2), "p95_ms": round(float(np.percentile(values, 95)), 2)}


def _products(data: DashboardData, seed: int = 1) -> list[str]:
    """Products people would find and rate: drawn by popularity."""
    rng = np.random.default_rng(seed)
    cat = data.catalogue
    rows = rng.choice(len(cat), ROUNDS + 10, replace=False, p=cat.n_ratings / cat.n_ratings.sum())
    return [str(cat.ids[r]) for r in rows]


@pytest.mark.benchmark(group="dashboard-rating")
@pytest.mark.parametrize("model", ["knn", "naive"])
def test_rating_to_picks(benchmark, world, model, request):
    pytest.importorskip("panel")
    from deepcart.plugins.frontends.panel.view import DashboardView

    data, _ = world
    if model not in data.models:
        pytest.skip(f"recommender {model!r} is not registered")
    view = DashboardView(DashboardSession(data, model=model))
    products = iter(_products(data))
    picks_ms: list[float] = []
    rng = np.random.default_rng(2)

    def setup():
        view.select(next(products))
        return (int(rng.integers(1, 6)),), {}

    def rate(stars):
        picks_ms.append(view.rate(stars))

    benchmark.pedantic(rate, setup=setup, rounds=ROUNDS, iterations=1, warmup_rounds=3)
    assert view.session.ratings and "dc-pick" in view.picks_pane.object
    if not request.config.getoption("benchmark_disable"):
        whole = _percentiles(np.asarray(benchmark.stats.stats.data) * 1000)
        picks = _percentiles(picks_ms[3:])
        benchmark.extra_info.update({"items": len(data.catalogue), "callback_p50_ms": whole["p50_ms"],
                                     "callback_p95_ms": whole["p95_ms"], "picks_p50_ms": picks["p50_ms"],
                                     "picks_p95_ms": picks["p95_ms"]})
        print(f"\n{model} on {len(data.catalogue):,} items: rating -> picks p50 {picks['p50_ms']} ms, "
              f"p95 {picks['p95_ms']} ms; whole callback p50 {whole['p50_ms']} ms, p95 {whole['p95_ms']} ms")


@pytest.mark.benchmark(group="dashboard-rating")
def test_rating_to_picks_baseline_recommend(benchmark, world, request):
    """What `deepcart recommend` does per request: a fresh CatalogueScorer and pick()."""
    data, models = world
    name = "knn" if "knn" in models else "naive"
    model, catalogue = models[name], data.catalogue
    products = iter(_products(data))
    history: list[tuple[str, float]] = []

    def setup():
        history.append((next(products), 1.0))
        return (), {}

    def recommend():
        return pick(catalogue, CatalogueScorer(model, catalogue).scores(history), history, k=10, direction="worst", min_engagement=20)

    benchmark.pedantic(recommend, setup=setup, rounds=ROUNDS // 4, iterations=1, warmup_rounds=1)
    if not request.config.getoption("benchmark_disable"):
        stats = _percentiles(np.asarray(benchmark.stats.stats.data) * 1000)
        benchmark.extra_info.update({"model": name, **stats})
        print(f"\nbaseline ({name}, `deepcart recommend` per request): p50 {stats['p50_ms']} ms, "
              f"p95 {stats['p95_ms']} ms")


@pytest.mark.benchmark(group="dashboard-search")
def test_search(benchmark, world, request):
    data, _ = world
    session = DashboardSession(data)
    rng = np.random.default_rng(3)
    vocab = [w.lower() for w in BRANDS + NOUNS + WORDS + COLOURS]
    queries = iter([" ".join(rng.choice(vocab, rng.integers(1, 4)))[: rng.integers(3, 30)]
                    for _ in range(2 * ROUNDS + 20)])

    def setup():
        return (next(queries),), {}

    benchmark.pedantic(session.search, setup=setup, rounds=2 * ROUNDS, iterations=1, warmup_rounds=3)
    found, total = session.search("wireless headphones")
    assert total > 0 and all("wireless" in p["title"].lower() for p in found)
    if not request.config.getoption("benchmark_disable"):
        stats = _percentiles(np.asarray(benchmark.stats.stats.data) * 1000)
        benchmark.extra_info.update({"items": len(data.catalogue), **stats})
        print(f"\nsearch on {len(data.catalogue):,} items: p50 {stats['p50_ms']} ms, p95 {stats['p95_ms']} ms")

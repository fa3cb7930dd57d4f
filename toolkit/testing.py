"""Test support for deepcart and for plugin authors.

Use the fixtures by adding ``pytest_plugins = ["deepcart.toolkit.testing"]`` to a ``conftest.py``:

* ``deepcart_plugins``: a fresh :class:`deepcart.plugin_manager.Plugins` per test (built-ins and
  installed entry points), so registrations never leak between tests;
* ``deepcart_registry``: its registry;
* ``toy_ratings``: a small :class:`deepcart.ratings.Ratings` with planted user/item structure.

:func:`hold_out` and :func:`heldout_rmse` measure a recommender on ratings it did not see.
:func:`running_server` runs ``deepcart serve`` in a child process for browser and HTTP tests;
:data:`CHROMIUM` and :data:`CHROMIUM_ARGS` launch the browser that drives it.

Subclass the contract classes to check a component against its contract; set the class attribute
naming the component (and ``options`` for its config)::

    from deepcart.toolkit.testing import RecommenderContract

    class TestMyModel(RecommenderContract):
        recommender = "my-model"
        options = {"factors": 8}

Every test there is a promise the kernel and the frontends rely on.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest

from deepcart.contracts import Metric, Recommender
from deepcart.errors import ConfigError
from deepcart.metric_types import MetricResult, RatingPairs, Rankings
from deepcart.plugin_manager import Plugins, load_plugins
from deepcart.ratings import Ratings


def make_toy_ratings(
    n_users: int = 60, n_items: int = 40, density: float = 0.25, seed: int = 0
) -> Ratings:
    """Ratings with a planted low-rank structure plus item quality, deterministic per ``seed``.

    Two user "tastes" and two item "styles" make some items good for some users and bad for others,
    so a personalised model has something to learn; every user rates at least 4 items and every item
    is rated at least twice.
    """
    rng = np.random.default_rng(seed)
    taste = rng.choice([-1.0, 1.0], n_users)
    style = rng.choice([-1.0, 1.0], n_items)
    quality = rng.normal(0, 0.5, n_items)
    mask = rng.random((n_users, n_items)) < density
    for u in range(n_users):  # guarantee a little history per user
        mask[u, rng.choice(n_items, 4, replace=False)] = True
    for i in range(n_items):
        mask[rng.choice(n_users, 2, replace=False), i] = True
    u_idx, i_idx = np.nonzero(mask)
    latent = 3.5 + 1.2 * taste[u_idx] * style[i_idx] + quality[i_idx] + rng.normal(0, 0.3, len(u_idx))
    values = np.clip(np.rint(latent), 1, 5).astype(np.float32)
    users = np.array([f"U{u:04d}" for u in range(n_users)])
    items = np.array([f"B{i:09d}" for i in range(n_items)])
    return Ratings(users, items, u_idx.astype(np.int32), i_idx.astype(np.int32), values)


#: Held-out ratings as parallel arrays: ``(users, items, values)`` in a ratings' index space.
Heldout = tuple[np.ndarray, np.ndarray, np.ndarray]


def hold_out(ratings: Ratings, share: float = 0.2, seed: int = 1) -> tuple[Ratings, Heldout]:
    """Hide about ``share`` of the ratings of users with at least 3: ``(train, held_out)``.

    ``train`` keeps the full user and item index, so a model fitted on it predicts the held-out
    cells directly (see :func:`heldout_rmse`).
    """
    rng = np.random.default_rng(seed)
    counts = np.bincount(ratings.users)
    test = (rng.random(len(ratings)) < share) & (counts[ratings.users] >= 3)
    train = Ratings(ratings.user_ids, ratings.item_ids, ratings.users[~test], ratings.items[~test],
                    ratings.values[~test])
    return train, (ratings.users[test], ratings.items[test], ratings.values[test])


def heldout_rmse(model: Recommender, train: Ratings, held_out: Heldout) -> float:
    """RMSE of ``model`` (fitted on ``train``) on the ratings :func:`hold_out` hid."""
    users, items, values = held_out
    predicted = model.predict(list(train.user_ids))[users, items]
    return float(np.sqrt(np.mean((predicted - values) ** 2)))


@pytest.fixture
def deepcart_plugins() -> Plugins:
    """A fresh plugin manager and registry for one test."""
    return load_plugins()


@pytest.fixture
def deepcart_registry(deepcart_plugins: Plugins):
    """The registry of :func:`deepcart_plugins`."""
    return deepcart_plugins.registry


@pytest.fixture
def toy_ratings() -> Ratings:
    """A small deterministic ratings matrix (see :func:`make_toy_ratings`)."""
    return make_toy_ratings()


class RecommenderContract:
    """Reusable tests of :class:`deepcart.contracts.Recommender`.

    Set :attr:`recommender` to the registered name; optionally :attr:`options` (config used for
    every test; keep it small so the tests stay fast), :attr:`bad_option` (a field name and a
    value its Config must reject) and :attr:`seed_matters` (for a model whose fit is random).
    """

    recommender: ClassVar[str]
    options: ClassVar[dict[str, Any]] = {}
    bad_option: ClassVar[tuple[str, Any] | None] = None
    #: Tolerance for "identical" predictions (save/load, fold-in vs. predict).
    atol: ClassVar[float] = 1e-4
    #: The fit is random (initial weights, shuffling): the same seed must give exactly the same
    #: model and another seed a different one (which proves the seed reaches the randomness).
    seed_matters: ClassVar[bool] = False

    def make(self, registry, **overrides: Any) -> Recommender:
        return registry.create("recommender", self.recommender, {**self.options, **overrides})

    @pytest.fixture
    def fitted(self, deepcart_registry, toy_ratings) -> Recommender:
        return self.make(deepcart_registry).fit(toy_ratings, seed=0)

    def test_meets_protocol(self, deepcart_registry) -> None:
        assert isinstance(self.make(deepcart_registry), Recommender)

    def test_predicts_every_known_pair(self, fitted, toy_ratings) -> None:
        users = list(toy_ratings.user_ids[:5])
        scores = fitted.predict(users)
        assert scores.shape == (5, len(fitted.item_ids))
        assert np.isfinite(scores).all(), "known users and items must get a prediction"
        assert sorted(map(str, fitted.item_ids)) == sorted(map(str, toy_ratings.item_ids))

    def test_unknown_users_and_items_get_nan(self, fitted, toy_ratings) -> None:
        known_user, known_item = str(toy_ratings.user_ids[0]), str(toy_ratings.item_ids[0])
        scores = fitted.predict([known_user, "NO-SUCH-USER"], [known_item, "NO-SUCH-ITEM"])
        assert scores.shape == (2, 2)
        assert np.isfinite(scores[0, 0])
        assert np.isnan(scores[1]).all() and np.isnan(scores[:, 1]).all()

    def test_save_load_round_trip(self, fitted, toy_ratings, deepcart_registry, tmp_path: Path) -> None:
        fitted.save(tmp_path / "model")
        cls = deepcart_registry.get("recommender", self.recommender).obj
        loaded = cls.load(tmp_path / "model")
        users = list(toy_ratings.user_ids[:10])
        np.testing.assert_allclose(loaded.predict(users), fitted.predict(users), atol=self.atol)
        assert list(map(str, loaded.item_ids)) == list(map(str, fitted.item_ids))

    def test_fold_in_matches_predict(self, fitted, toy_ratings) -> None:
        user = str(toy_ratings.user_ids[3])
        folded = fitted.fold_in(toy_ratings.user_history(user))
        np.testing.assert_allclose(folded, fitted.predict([user])[0], atol=self.atol)

    def test_fold_in_ignores_unknown_items(self, fitted, toy_ratings) -> None:
        history = toy_ratings.user_history(str(toy_ratings.user_ids[3]))
        with_unknown = fitted.fold_in([*history, ("NO-SUCH-ITEM", 1.0)])
        np.testing.assert_allclose(with_unknown, fitted.fold_in(history), atol=self.atol)

    def test_seeded_fit_is_deterministic(self, deepcart_registry, toy_ratings) -> None:
        a = self.make(deepcart_registry).fit(toy_ratings, seed=7).predict(list(toy_ratings.user_ids[:5]))
        b = self.make(deepcart_registry).fit(toy_ratings, seed=7).predict(list(toy_ratings.user_ids[:5]))
        np.testing.assert_allclose(a, b, atol=self.atol)
        if self.seed_matters:
            np.testing.assert_array_equal(a, b)
            c = self.make(deepcart_registry).fit(toy_ratings, seed=8).predict(list(toy_ratings.user_ids[:5]))
            assert not np.array_equal(a, c), "another seed gave the same model: is the seed used?"

    def test_engagement_when_ranked_by_it(self, fitted, toy_ratings, deepcart_registry, tmp_path: Path) -> None:
        """A model that ranks by engagement scores every item > 0, folds people in like its stars,
        keeps it through save/load, and says how it mixes it with the stars."""
        import scipy.sparse as sp

        if not hasattr(fitted, "fold_in_engagement_batch"):
            pytest.skip(f"{self.recommender} ranks by stars alone")
        rows = sp.csr_matrix((toy_ratings.values, (toy_ratings.users, toy_ratings.items)),
                             shape=toy_ratings.shape)[:8]
        engagement = fitted.fold_in_engagement_batch(rows)
        if engagement is None:
            pytest.skip(f"{self.recommender} runs without engagement in this configuration")
        assert engagement.shape == (8, len(fitted.item_ids))
        assert np.isfinite(engagement).all() and (engagement > 0).all()
        weights = fitted.stars_weights
        assert set(weights) == {"best", "worst"} and all(w >= 0 for w in weights.values())
        fitted.save(tmp_path / "model")
        loaded = deepcart_registry.get("recommender", self.recommender).obj.load(tmp_path / "model")
        np.testing.assert_allclose(loaded.fold_in_engagement_batch(rows), engagement, rtol=1e-5)
        assert loaded.stars_weights == weights

    def test_bad_config_names_the_field(self, deepcart_registry) -> None:
        with pytest.raises(ConfigError, match="no_such_option"):
            self.make(deepcart_registry, no_such_option=1)
        if self.bad_option is not None:
            field, value = self.bad_option
            with pytest.raises(ConfigError, match=field):
                self.make(deepcart_registry, **{field: value})


class MetricContract:
    """Reusable tests of :class:`deepcart.contracts.Metric`.

    Set :attr:`metric` to the registered name and, for ranking metrics, :attr:`k`.
    """

    metric: ClassVar[str]
    options: ClassVar[dict[str, Any]] = {}
    k: ClassVar[int | None] = 5

    @pytest.fixture
    def instance(self, deepcart_registry) -> Metric:
        return deepcart_registry.create("metric", self.metric, self.options)

    @staticmethod
    def rating_pairs(perfect: bool, seed: int = 0, n_users: int = 30) -> RatingPairs:
        rng = np.random.default_rng(seed)
        users = np.repeat(np.arange(n_users), 6)
        actual = rng.integers(1, 6, len(users)).astype(float)
        predicted = actual.copy() if perfect else np.clip(actual + rng.normal(0, 1.5, len(users)), 1, 5)
        return RatingPairs(users, predicted, actual, n_users)

    @staticmethod
    def rankings(perfect: bool, seed: int = 0, n_users: int = 30, n_items: int = 50, k: int = 5) -> Rankings:
        import scipy.sparse as sp

        rng = np.random.default_rng(seed)
        relevant = np.zeros((n_users, n_items), bool)
        ranked = np.empty((n_users, k), dtype=np.int64)
        for u in range(n_users):
            rel = rng.choice(n_items, 3, replace=False)
            relevant[u, rel] = True
            others = np.setdiff1d(np.arange(n_items), rel)
            order = np.concatenate([rel, rng.permutation(others)]) if perfect else rng.permutation(others)
            ranked[u] = order[:k]
        return Rankings(ranked, sp.csr_matrix(relevant), n_items)

    def data(self, instance: Metric, perfect: bool, seed: int = 0) -> Any:
        if instance.needs == "ratings":
            return self.rating_pairs(perfect, seed)
        return self.rankings(perfect, seed, k=self.k or 5)

    def test_meets_protocol(self, instance) -> None:
        assert isinstance(instance, Metric)
        assert instance.needs in ("ratings", "rankings")

    def test_returns_value_and_per_user(self, instance) -> None:
        result = instance.compute(self.data(instance, perfect=False), k=self.k)
        assert isinstance(result, MetricResult)
        assert np.isfinite(result.value)
        assert result.per_user is not None and len(result.per_user) == 30

    def test_perfect_beats_imperfect(self, instance) -> None:
        good = instance.compute(self.data(instance, perfect=True), k=self.k).value
        bad = instance.compute(self.data(instance, perfect=False), k=self.k).value
        assert (good > bad) if instance.higher_is_better else (good < bad)

    def test_deterministic(self, instance) -> None:
        a = instance.compute(self.data(instance, perfect=False, seed=3), k=self.k)
        b = instance.compute(self.data(instance, perfect=False, seed=3), k=self.k)
        assert a.value == b.value
        np.testing.assert_array_equal(a.per_user, b.per_user)

    def test_aggregate_is_consistent_with_per_user(self, instance) -> None:
        result = instance.compute(self.data(instance, perfect=False, seed=5), k=self.k)
        covered = result.per_user[~np.isnan(result.per_user)]
        assert covered.size > 0
        lo, hi = covered.min(), covered.max()
        assert lo - 1e-9 <= result.value <= hi + 1e-9


#: Debian's Chromium (``apt-get install chromium``; never ``playwright install``, which downloads) and
#: the flags it runs with here: headless, no sandbox (root in a container), no network of its own.
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def running_server(args: list[str], *, log: Path | None = None, env: dict[str, str] | None = None,
                   timeout: float = 120) -> Iterator[tuple[int, subprocess.Popen]]:
    """``deepcart serve ARGS --port P`` in a child process, once it listens: yields ``(P, process)``;
    terminated on exit. Its output goes to ``log`` (else nowhere); ``env`` is its whole environment
    (default: this one, built-in plugins only)."""
    port = free_port()
    out = open(log, "w") if log is not None else subprocess.DEVNULL  # noqa: SIM115 - closed below
    proc = subprocess.Popen([sys.executable, "-m", "deepcart.cli", "serve", *args, "--port", str(port)],
                            stdout=out, stderr=subprocess.STDOUT,
                            env=env if env is not None else {**os.environ, "DEEPCART_LOAD_PLUGINS": ""})
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    told = log.read_text()[-3000:] if log is not None else ""
                    raise RuntimeError(f"deepcart serve did not start listening: {told}") from None
                time.sleep(0.25)
        yield port, proc
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if log is not None:
            out.close()

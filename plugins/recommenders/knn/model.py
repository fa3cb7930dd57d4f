"""The ``knn`` recommender object: fit, predict, fold-in and model files (formulas: the package docs)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

import numpy as np

from deepcart.plugins.recommenders.knn import item_based, user_based
from deepcart.plugins.recommenders.knn.config import KNNConfig
from deepcart.plugins.recommenders.knn.similarity import item_mean_ratings
from deepcart.ratings import Ratings
from deepcart.toolkit.baseline import (
    Baseline,
    history_row,
    rating_rows,
    score_training_users,
    select_columns,
)
from deepcart.toolkit.engagement import (
    EngagementRanking,
    engagement_arrays,
    engagement_from_arrays,
    fit_engagement,
)
from deepcart.toolkit.id_index import IdIndex
from deepcart.toolkit.model_files import csr_arrays, csr_from_arrays, load_model_files, save_model_files

if TYPE_CHECKING:
    import scipy.sparse as sp

FORMAT_VERSION = 2


class KNNRecommender(EngagementRanking):
    """Item-based (or user-based) k-nearest-neighbour collaborative filtering on sparse matrices."""

    Config: ClassVar[type] = KNNConfig
    #: What ``deepcart tune`` searches (besides the engagement options and the stars weights).
    tune_space: ClassVar[dict[str, list]] = {"neighbours": [20, 50, 100], "shrinkage": [10.0, 25.0, 100.0]}
    #: A person's own ratings move the predictions (see the Recommender contract).
    personalised: ClassVar[bool] = True

    def __init__(self, config: KNNConfig | None = None):
        self.config = config or KNNConfig()
        self._items = IdIndex([])
        self._users = IdIndex([])
        self._baseline = Baseline(3.0, np.zeros(0), self.config.damping)
        self._train = None  # users x items CSR of the training ratings (float32)
        self._graph = None  # item-based: items x items CSR, row i = the neighbours of i
        self._item_sums = None  # item-based: item_based.NeighbourSums of the graph
        self._user_sums = None  # user-based: user_based.NeighbourSums, built on first use
        self._means = None  # plain item means (similarity centring), computed on first use

    @property
    def item_ids(self) -> np.ndarray:
        return self._items.ids

    @property
    def neighbour_graph(self) -> sp.csr_matrix | None:
        """Item-based: the items x items CSR of shrunk similarities (row ``i``: ``N(i)``)."""
        return self._graph

    def fit(self, train: Ratings, *, seed: int = 0, validation=None) -> KNNRecommender:
        """Compute the baselines and, item-based, the neighbour graph (deterministic; no seed used)."""
        import scipy.sparse as sp

        self._items, self._users = IdIndex(train.item_ids), IdIndex(train.user_ids)
        # Canonical rows (sorted, duplicates summed): fold-in rows are built the same way.
        self._train = sp.csr_matrix(rating_rows(train.csr(), len(self._items)), dtype=np.float32)
        self._baseline = Baseline.fit(self._train, self.config.damping)
        if self.config.kind == "item":
            self._graph = item_based.neighbour_graph(self._train, self.config, self._item_means())
        self._engagement = fit_engagement(self._train, self.config)
        self._prepare()
        return self

    def _prepare(self) -> None:
        """Derive the scoring state from the fitted (or loaded) arrays."""
        self._user_sums = None
        self._means = None
        self._item_bias32 = self._baseline.item_bias.astype(np.float32)
        if self.config.kind == "item":
            self._item_sums = item_based.NeighbourSums(self._graph, self.config.min_sim)

    def _item_means(self) -> np.ndarray:
        if self._means is None:
            self._means = item_mean_ratings(self._train)
        return self._means

    def _dense_scores(self, rows: sp.csr_matrix, clip: bool = True) -> np.ndarray:
        """Predictions for every catalogue item, one row per ratings row (float32), clipped to 1-5
        unless ``clip`` is false."""
        bias = self._baseline.user_bias(rows)
        out = (self._baseline.mu + bias).astype(np.float32)[:, None] + self._item_bias32[None, :]
        damping = self.config.neighbour_damping
        if self.config.kind == "item":
            indptr, cols, num, den = self._item_sums(rows, self._baseline.residuals(rows, bias))
            owner = np.repeat(np.arange(rows.shape[0]), np.diff(indptr))
            out[owner, cols] += num / (den + damping)
        else:
            if self._user_sums is None:
                train = self._train
                residual = self._baseline.residuals(train, self._baseline.user_bias(train))
                self._user_sums = user_based.NeighbourSums(train, residual, self.config,
                                                           self._item_means())
            for person, num, den in self._user_sums(rows):
                hit = den > 0
                out[person, hit] += (num[hit] / (den[hit] + damping)).astype(np.float32)
        if clip:
            np.clip(out, 1.0, 5.0, out=out)
        return out

    # -- the Recommender contract -----------------------------------------------------------------

    def predict(self, users: Sequence[str], items: Sequence[str] | None = None) -> np.ndarray:
        """Predicted ratings of training users (their training ratings folded in); NaN if unknown."""
        scores = score_training_users(self._users, users, len(self._items),
                                      lambda rows: self._dense_scores(self._train[rows]))
        return select_columns(scores, self._items, items)

    def fold_in(
        self, history: Sequence[tuple[str, float]], items: Sequence[str] | None = None
    ) -> np.ndarray:
        """Predicted ratings of a new person from ``(parent_asin, rating)`` pairs (unknown items ignored)."""
        scores = self._dense_scores(history_row(history, self._items))
        return select_columns(scores, self._items, items)[0]

    def fold_in_batch(self, matrix, *, clip: bool = True) -> np.ndarray:
        """Predictions for many new people at once: CSR rows = people, columns in ``item_ids`` order
        (``clip=False``: before clipping to 1-5, which rankings use to order the 5-star predictions)."""
        return self._dense_scores(rating_rows(matrix, len(self._items)), clip)

    def save(self, folder: Path) -> None:
        """Write ``weights.npz`` (plain arrays) and ``config.json`` into ``folder``."""
        arrays = {"items": self._items.ids, "users": self._users.ids, "mu": np.array(self._baseline.mu),
                  "item_bias": self._baseline.item_bias, **csr_arrays("train", self._train)}
        if self._graph is not None:
            arrays |= csr_arrays("graph", self._graph)
        arrays |= engagement_arrays(self._engagement)
        save_model_files(folder, self.config, arrays, kind="knn", format_version=FORMAT_VERSION)

    @classmethod
    def load(cls, folder: Path) -> KNNRecommender:
        """Read a model written by :meth:`save` (no pickle)."""
        config, data = load_model_files(folder, KNNConfig, kind="knn", format_version=FORMAT_VERSION)
        model = cls(config)
        model._items, model._users = IdIndex(data["items"]), IdIndex(data["users"])
        n_users, n_items = len(model._users), len(model._items)
        if np.shape(data["item_bias"]) != (n_items,) or np.ndim(data["mu"]) != 0:
            raise ValueError(f"{folder}: the baseline does not fit the {n_items} items")
        model._baseline = Baseline(float(data["mu"]), data["item_bias"], config.damping)
        model._train = csr_from_arrays(data, "train", (n_users, n_items))
        if "graph_data" in data:
            model._graph = csr_from_arrays(data, "graph", (n_items, n_items))
        model._engagement = engagement_from_arrays(data, n_items)
        model._prepare()
        return model

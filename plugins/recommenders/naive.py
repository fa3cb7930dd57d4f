"""The ``naive`` recommender: each item's mean rating, damped towards the global mean.

prediction(user, item) = (sum of the item's ratings + damping * global mean) / (count + damping)

which is ``mu + b_i`` of the shared damped baseline (:mod:`deepcart.toolkit.baseline`).

It ignores who is asking, which makes it the baseline every personalised model must beat. Users and
items never seen in training get NaN, as the recommender contract requires.

Its lists rank by engagement and stars together like every deepcart recommender's
(:mod:`deepcart.toolkit.engagement`); its default engagement is ``popularity``, which keeps it the
same for everyone: "popular, and rated low" for worst lists. The ``popularity`` recommender is the
same model with both stars weights at 0: the classic "most rated first" list.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar, Literal

import numpy as np
import pydantic

from deepcart import hookimpl
from deepcart.ratings import Ratings
from deepcart.toolkit.id_index import lookup
from deepcart.toolkit.baseline import Baseline
from deepcart.toolkit.engagement import (
    EngagementOptions,
    EngagementRanking,
    engagement_arrays,
    engagement_from_arrays,
    fit_engagement,
    stars_weight_field,
)
from deepcart.toolkit.model_files import load_model_files, save_model_files

FORMAT_VERSION = 2


class NaiveConfig(EngagementOptions):
    """Options of the ``naive`` recommender."""

    # Defaults tuned on the real sets: scripts/tune_defaults.py, benchmarks/tuning.json.
    damping: float = pydantic.Field(20.0, ge=0, description="pseudo-ratings at the global mean per item")
    engagement: Literal["item-regression", "popularity", "none"] = pydantic.Field(
        "popularity", description="popularity keeps the model the same for everyone (see docs)")
    best_stars_weight: float = stars_weight_field(0.25, "best")
    worst_stars_weight: float = stars_weight_field(1.0, "worst")


class PopularityConfig(NaiveConfig):
    """Options of the ``popularity`` recommender: ``naive`` ranking by engagement alone."""

    best_stars_weight: float = stars_weight_field(0.0, "best")  # 0: most rated first
    worst_stars_weight: float = stars_weight_field(0.0, "worst")


class NaiveRecommender(EngagementRanking):
    """Item mean rating shrunk towards the global mean (Bayesian damping)."""

    Config: ClassVar[type] = NaiveConfig
    #: What ``deepcart tune`` searches (besides the stars weights).
    tune_space: ClassVar[dict[str, list]] = {"damping": [1.0, 5.0, 20.0]}
    #: Everyone gets the same scores: a person's ratings do not move them (with ``popularity``
    #: engagement; ``item-regression`` makes the ranking personal).
    personalised: ClassVar[bool] = False

    def __init__(self, config: NaiveConfig | None = None):
        self.config = config or self.Config()
        self._items = np.array([], dtype=str)
        self._users = np.array([], dtype=str)
        self._scores = np.array([], dtype=np.float32)

    @property
    def item_ids(self) -> np.ndarray:
        return self._items

    def fit(self, train: Ratings, *, seed: int = 0, validation=None) -> NaiveRecommender:
        csr = train.csr()
        baseline = Baseline.fit(csr, self.config.damping)
        self._engagement = fit_engagement(csr, self.config)
        self._scores = (baseline.mu + baseline.item_bias).astype(np.float32)
        self._items = np.asarray(train.item_ids).astype(str)
        self._users = np.asarray(train.user_ids).astype(str)
        return self

    def _columns(self, items: Sequence[str] | None) -> tuple[np.ndarray, np.ndarray]:
        if items is None:
            return np.arange(len(self._items)), np.ones(len(self._items), bool)
        return lookup(self._items, items)

    def _row(self, items: Sequence[str] | None) -> np.ndarray:
        cols, known = self._columns(items)
        row = np.full(len(cols), np.nan, dtype=np.float32)
        row[known] = self._scores[cols[known]]
        return row

    def predict(self, users: Sequence[str], items: Sequence[str] | None = None) -> np.ndarray:
        row = self._row(items)
        _, known_users = lookup(self._users, users)
        out = np.tile(row, (len(users), 1))
        out[~known_users] = np.nan
        return out

    def fold_in(
        self, history: Sequence[tuple[str, float]], items: Sequence[str] | None = None
    ) -> np.ndarray:
        # The item mean does not depend on the person: history changes nothing but is accepted so
        # that every recommender can be asked the same question.
        return self._row(items)

    def fold_in_batch(self, matrix) -> np.ndarray:
        """Every row gets the item means (see :meth:`fold_in`)."""
        return np.tile(self._scores, (matrix.shape[0], 1))

    def save(self, folder: Path) -> None:
        """Write ``weights.npz`` (ids and item means) and ``config.json`` into ``folder``."""
        save_model_files(folder, self.config, {"items": self._items, "users": self._users, "scores": self._scores,
                                               **engagement_arrays(self._engagement)},
                         kind="naive", format_version=FORMAT_VERSION)

    @classmethod
    def load(cls, folder: Path) -> NaiveRecommender:
        """Read a model written by :meth:`save` (no pickle)."""
        config, data = load_model_files(folder, cls.Config, kind="naive", format_version=FORMAT_VERSION)
        model = cls(config)
        model._items, model._users, model._scores = data["items"], data["users"], data["scores"]
        if model._scores.shape != model._items.shape:
            raise ValueError(f"{folder}: {len(model._scores)} item means for {len(model._items)} items")
        model._engagement = engagement_from_arrays(data, len(model._items))
        return model


class PopularityRecommender(NaiveRecommender):
    """Most rated first: the popularity list, in both directions (a baseline for comparisons)."""

    Config: ClassVar[type] = PopularityConfig


@hookimpl
def register_recommenders(register) -> None:
    """Register ``naive`` and ``popularity``."""
    register("naive", NaiveRecommender)
    register("popularity", PopularityRecommender)

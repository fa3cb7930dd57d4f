"""The ``naive`` recommender: each item's mean rating, damped towards the global mean.

prediction(user, item) = (sum of the item's ratings + damping * global mean) / (count + damping)

It ignores who is asking, which makes it the baseline every personalised model must beat. Users and
items never seen in training get NaN, as the recommender contract requires.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar

import numpy as np
import pydantic

from deepcart import hookimpl
from deepcart.ratings import Ratings, lookup


class NaiveConfig(pydantic.BaseModel):
    """Options of the ``naive`` recommender."""

    model_config = pydantic.ConfigDict(extra="forbid")
    damping: float = pydantic.Field(5.0, ge=0, description="pseudo-ratings at the global mean per item")


class NaiveRecommender:
    """Item mean rating shrunk towards the global mean (Bayesian damping)."""

    Config: ClassVar[type] = NaiveConfig

    def __init__(self, config: NaiveConfig | None = None):
        self.config = config or NaiveConfig()
        self._items = np.array([], dtype=str)
        self._users = np.array([], dtype=str)
        self._scores = np.array([], dtype=np.float32)

    @property
    def item_ids(self) -> np.ndarray:
        return self._items

    def fit(self, train: Ratings, *, seed: int = 0, validation=None) -> NaiveRecommender:
        n_items = len(train.item_ids)
        sums = np.bincount(train.items, weights=train.values, minlength=n_items)
        counts = np.bincount(train.items, minlength=n_items)
        mu = float(train.values.mean()) if len(train) else 3.0
        d = self.config.damping
        with np.errstate(invalid="ignore", divide="ignore"):
            scores = (sums + d * mu) / (counts + d)
        self._scores = scores.astype(np.float32)
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
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        np.savez(folder / "weights.npz", items=self._items, users=self._users, scores=self._scores)
        (folder / "config.json").write_text(self.config.model_dump_json())

    @classmethod
    def load(cls, folder: Path) -> NaiveRecommender:
        folder = Path(folder)
        config = NaiveConfig.model_validate_json((folder / "config.json").read_text())
        model = cls(config)
        with np.load(folder / "weights.npz", allow_pickle=False) as data:
            model._items, model._users = data["items"], data["users"]
            model._scores = data["scores"]
        return model


@hookimpl
def register_recommenders(register) -> None:
    """Register ``naive``."""
    register("naive", NaiveRecommender)

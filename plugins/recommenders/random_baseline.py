"""The ``random`` recommender: random stars, a different random order for every person.

The floor of every comparison (``deepcart compare`` lists it as a baseline): a model must beat it
by more than chance to have learnt anything. Each person's stars are uniform on [1, 5], drawn from a
generator seeded by the fit's seed and the items the person rated, so the same person always gets
the same list (fold-in reproduces ``predict``, as the contract asks) and two people get independent
lists. It has no engagement: lists rank by the random stars alone.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar

import numpy as np
import pydantic

from deepcart import hookimpl
from deepcart.ratings import Ratings
from deepcart.toolkit.baseline import history_row, rating_rows, score_training_users, select_columns
from deepcart.toolkit.id_index import IdIndex
from deepcart.toolkit.model_files import csr_arrays, csr_from_arrays, load_model_files, save_model_files

FORMAT_VERSION = 1


class RandomConfig(pydantic.BaseModel):
    """Options of the ``random`` recommender (it has none)."""

    model_config = pydantic.ConfigDict(extra="forbid")


class RandomRecommender:
    """Uniformly random stars per person and item (a baseline for comparisons)."""

    Config: ClassVar[type] = RandomConfig
    #: The list depends on who is asking (through the seed), though not on what they like.
    personalised: ClassVar[bool] = True

    def __init__(self, config: RandomConfig | None = None):
        self.config = config or RandomConfig()
        self._items = IdIndex([])
        self._users = IdIndex([])
        self._train = None
        self._seed = 0

    @property
    def item_ids(self) -> np.ndarray:
        return self._items.ids

    def fit(self, train: Ratings, *, seed: int = 0, validation=None) -> RandomRecommender:
        """Remember the catalogue, the training users' rows and the seed."""
        self._items, self._users = IdIndex(train.item_ids), IdIndex(train.user_ids)
        self._train = rating_rows(train.csr(), len(self._items))
        self._seed = int(seed)
        return self

    def _stars(self, rows) -> np.ndarray:
        out = np.empty(rows.shape, dtype=np.float32)
        for r in range(rows.shape[0]):
            rated = rows.indices[rows.indptr[r]:rows.indptr[r + 1]].astype(np.int64)
            person = zlib.crc32(np.sort(rated).tobytes())
            out[r] = np.random.default_rng([self._seed, person]).uniform(1.0, 5.0, rows.shape[1])
        return out

    def predict(self, users: Sequence[str], items: Sequence[str] | None = None) -> np.ndarray:
        """Random stars of training users; NaN for unknown users or items."""
        scores = score_training_users(self._users, users, len(self._items), lambda rows: self._stars(self._train[rows]))
        return select_columns(scores, self._items, items)

    def fold_in(self, history: Sequence[tuple[str, float]], items: Sequence[str] | None = None) -> np.ndarray:
        """Random stars of a new person (their rated items seed the draw)."""
        return select_columns(self._stars(history_row(history, self._items)), self._items, items)[0]

    def fold_in_batch(self, matrix) -> np.ndarray:
        """Random stars of many people at once (CSR rows over ``item_ids``)."""
        return self._stars(rating_rows(matrix, len(self._items)))

    def save(self, folder: Path) -> None:
        """Write the catalogue, the training rows and the seed (plain arrays)."""
        save_model_files(folder, self.config, {"items": self._items.ids, "users": self._users.ids,
                                               "seed": np.array(self._seed), **csr_arrays("train", self._train)},
                         kind="random", format_version=FORMAT_VERSION)

    @classmethod
    def load(cls, folder: Path) -> RandomRecommender:
        """Read a model written by :meth:`save` (no pickle)."""
        config, data = load_model_files(folder, RandomConfig, kind="random", format_version=FORMAT_VERSION)
        model = cls(config)
        model._items, model._users = IdIndex(data["items"]), IdIndex(data["users"])
        model._train = csr_from_arrays(data, "train", (len(model._users), len(model._items)))
        model._seed = int(data["seed"])
        return model


@hookimpl
def register_recommenders(register) -> None:
    """Register ``random``."""
    register("random", RandomRecommender)

"""The in-memory ratings matrix that recommenders train on.

One rating per (user, item) pair in coordinate form, with the ids of the rows and columns; it
converts to a scipy CSR matrix without densifying (the Electronics 5-core would be 2.36 TB dense).
:func:`deepcart.toolkit.id_index.ratings_from_triples` builds one from (user, item, stars) ids.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import scipy.sparse as sp


@dataclass(frozen=True)
class Ratings:
    """Ratings in coordinate form.

    :ivar user_ids: unique user ids; row ``u`` of the matrix is ``user_ids[u]``.
    :ivar item_ids: unique item ids (``parent_asin``); column ``i`` is ``item_ids[i]``.
    :ivar users: row index of each rating (int32).
    :ivar items: column index of each rating (int32).
    :ivar values: the star ratings (float32, 1..5).
    """

    user_ids: np.ndarray
    item_ids: np.ndarray
    users: np.ndarray
    items: np.ndarray
    values: np.ndarray

    def __post_init__(self) -> None:
        n = len(self.values)
        if not (len(self.users) == len(self.items) == n):
            raise ValueError("users, items and values must have the same length")
        if n and (self.users.max() >= len(self.user_ids) or self.items.max() >= len(self.item_ids)):
            raise ValueError("a user or item index is out of range of the id arrays")

    @property
    def shape(self) -> tuple[int, int]:
        """``(n_users, n_items)``."""
        return len(self.user_ids), len(self.item_ids)

    def __len__(self) -> int:
        return len(self.values)

    def csr(self) -> sp.csr_matrix:
        """The users x items CSR matrix of ratings (duplicates are summed; callers dedupe first)."""
        import scipy.sparse as sp

        return sp.csr_matrix((self.values, (self.users, self.items)), shape=self.shape, dtype=np.float32)

    def user_history(self, user: str) -> list[tuple[str, float]]:
        """The ``(parent_asin, rating)`` pairs of one user, for fold-in."""
        hits = np.flatnonzero(self.user_ids == user)
        if not len(hits):
            raise KeyError(user)
        mask = self.users == hits[0]
        return [(str(self.item_ids[i]), float(r)) for i, r in zip(self.items[mask], self.values[mask])]

"""String id -> position lookup, vectorised: a catalogue's ``parent_asin`` column, the training users.

Every recommender and the engine look ids up through :class:`IdIndex` (or the one-off :func:`lookup`),
so an unknown id is always reported the same way: a ``found`` mask beside the positions, never an
exception and never a silent wrong position.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from deepcart.ratings import Ratings


class IdIndex:
    """Vectorised lookup of string ids in a fixed id array (a catalogue, the training users).

    The id -> position lookup of every recommender and of the engine: built once per id array
    (one sort), then each :meth:`positions` call is one ``searchsorted``.
    """

    def __init__(self, ids: Sequence[str] | np.ndarray):
        self.ids = np.asarray(ids).astype(str)
        self._order = np.argsort(self.ids, kind="stable")
        self._sorted = self.ids[self._order]

    def __len__(self) -> int:
        return len(self.ids)

    def positions(self, ids: Sequence[str] | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Positions of ``ids`` in the index and a mask of which were found."""
        ids = np.asarray(ids).astype(str)
        if not len(self.ids):
            return np.zeros(len(ids), dtype=np.int64), np.zeros(len(ids), dtype=bool)
        pos = np.clip(np.searchsorted(self._sorted, ids), 0, len(self.ids) - 1)
        return self._order[pos], self._sorted[pos] == ids


def lookup(index: Sequence[str] | np.ndarray, ids: Sequence[str] | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Positions of ``ids`` in ``index`` and a found mask: a one-off :class:`IdIndex` lookup."""
    return IdIndex(index).positions(ids)


def ratings_from_triples(user_ids: Sequence[str] | np.ndarray, item_ids: Sequence[str] | np.ndarray,
                         values: Sequence[float] | np.ndarray, *,
                         items: Sequence[str] | np.ndarray | None = None) -> Ratings:
    """A :class:`deepcart.ratings.Ratings` from parallel arrays of user id, item id and rating.

    :param items: the item catalogue (column order) to use; by default the sorted unique items
        of ``item_ids``. Ratings of items outside a given catalogue raise ``ValueError``.
    """
    from deepcart.ratings import Ratings

    u_ids, u_idx = np.unique(np.asarray(user_ids, dtype=object).astype(str), return_inverse=True)
    it = np.asarray(item_ids, dtype=object).astype(str)
    if items is None:
        i_ids, i_idx = np.unique(it, return_inverse=True)
    else:
        i_ids = np.asarray(items).astype(str)
        i_idx, found = IdIndex(i_ids).positions(it)
        if not found.all():
            raise ValueError("some rated items are not in the given catalogue")
    return Ratings(u_ids, i_ids, u_idx.astype(np.int32), np.asarray(i_idx, dtype=np.int32),
                   np.asarray(values, dtype=np.float32))

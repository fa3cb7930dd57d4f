"""String id -> position lookup, vectorised: a catalogue's ``parent_asin`` column, the training users.

Every recommender and the engine look ids up through :class:`IdIndex` (or the one-off :func:`lookup`),
so an unknown id is always reported the same way: a ``found`` mask beside the positions, never an
exception and never a silent wrong position.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


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

"""User-based kNN: for each person, the most similar training users who rated each item."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import numpy as np

from deepcart.plugins.recommenders.knn.config import KNNConfig
from deepcart.plugins.recommenders.knn.similarity import similarity_vectors
from deepcart.toolkit.similarity import Pairwise

if TYPE_CHECKING:
    import scipy.sparse as sp


class NeighbourSums:
    """``num = Σ s'_uv z_vi`` and ``den = Σ |s'_uv|`` over the ``N`` most similar raters ``v`` of each item.

    Built once (lazily, by the model) from the training users' residuals and similarity vectors.
    """

    def __init__(self, train: sp.csr_matrix, residual: np.ndarray, config: KNNConfig,
                 item_means: np.ndarray):
        import scipy.sparse as sp

        self.config, self.item_means = config, item_means
        self.residuals = sp.csr_matrix(
            (residual.astype(np.float32), train.indices, train.indptr), shape=train.shape
        )
        self.pairs = Pairwise(similarity_vectors(train, config, item_means), config)

    def __call__(self, rows: sp.csr_matrix) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
        """``(row, num, den)`` over all items, one person (row of ``rows``) at a time."""
        pairs, residuals = self.pairs, self.residuals
        people = similarity_vectors(rows, self.config, self.item_means)
        n_items, n_neighbours = rows.shape[1], self.config.neighbours
        for start, stop in pairs.blocks(people):
            bounds, users, sims = pairs.similarities(people[start:stop])
            for local in range(stop - start):
                lo, hi = bounds[local], bounds[local + 1]
                if lo == hi:
                    continue
                v, s = users[lo:hi], sims[lo:hi]
                order = np.lexsort((v, -np.abs(s)))  # most similar first, ties to the lowest row
                v, s = v[order], s[order]
                lengths = np.diff(residuals.indptr)[v]
                positions = _ranges(residuals.indptr[v], lengths)
                items = residuals.indices[positions]
                weight = np.repeat(s, lengths)
                z = residuals.data[positions]
                by_item = np.argsort(items, kind="stable")  # keeps the similarity order per item
                items, weight, z = items[by_item], weight[by_item], z[by_item]
                first = np.r_[True, items[1:] != items[:-1]]
                index = np.arange(len(items))
                rank = index - np.maximum.accumulate(np.where(first, index, 0))
                keep = rank < n_neighbours
                items, weight, z = items[keep], weight[keep], z[keep]
                num = np.bincount(items, weights=weight * z, minlength=n_items)
                den = np.bincount(items, weights=np.abs(weight), minlength=n_items)
                yield start + local, num, den


def _ranges(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Concatenation of ``arange(s, s + n)`` for each start and length."""
    total = int(lengths.sum())
    if not total:
        return np.zeros(0, dtype=np.int64)
    offsets = np.cumsum(lengths) - lengths
    return np.arange(total) + np.repeat(starts.astype(np.int64) - offsets, lengths)

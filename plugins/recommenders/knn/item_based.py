"""Item-based kNN: the neighbour graph of items, and each person's sums over their rated neighbours."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from deepcart.plugins.recommenders.knn.config import KNNConfig
from deepcart.plugins.recommenders.knn.similarity import centring
from deepcart.toolkit.similarity import Pairwise, centred, top_per_row, unit_rows

if TYPE_CHECKING:
    import scipy.sparse as sp


def neighbour_graph(train: sp.csr_matrix, config: KNNConfig, item_means: np.ndarray) -> sp.csr_matrix:
    """Top-N item neighbours as an items x items CSR (row ``i``: ``N(i)``), block of items by block."""
    import scipy.sparse as sp

    vectors = unit_rows(centred(train, *centring(config), item_means).T.tocsr())  # items x users
    pairs = Pairwise(vectors, config)
    counts, cols, sims = [], [], []
    for start, stop in pairs.blocks(vectors):
        indptr, c, s = pairs.similarities(vectors[start:stop], diagonal=start)
        key = s if config.min_sim >= 0 else np.abs(s)
        keep = top_per_row(indptr, c, key, config.neighbours)
        kept = np.concatenate([[0], np.cumsum(keep)])
        counts.append(np.diff(kept[indptr]))
        cols.append(c[keep])
        sims.append(s[keep])
    n = train.shape[1]
    indptr = np.concatenate([[0], np.cumsum(np.concatenate(counts))]) if counts else np.zeros(n + 1)
    graph = sp.csr_matrix(
        (np.concatenate(sims) if sims else np.zeros(0, np.float32),
         np.concatenate(cols) if cols else np.zeros(0, np.int32), indptr.astype(np.int64)),
        shape=(n, n),
    )
    graph.sort_indices()
    return graph


class NeighbourSums:
    """``num = Σ s'_ij z_uj`` and ``den = Σ |s'_ij|`` over the rated neighbours ``j`` of each item ``i``.

    Built once from the graph: its transpose (row ``j``: the items that have ``j`` as a neighbour),
    complex-valued when every ``s' > 0`` so that one product gives both sums.
    """

    def __init__(self, graph: sp.csr_matrix, min_sim: float):
        transposed = graph.T.tocsr()
        transposed.sort_indices()
        self.positive = min_sim >= 0
        if self.positive:
            self.complex_graph = transposed.astype(np.complex64)
        else:  # a negative s' would spoil Σ s as Σ |s|: two real products instead
            self.graph = transposed
            self.absolute = transposed.copy()
            self.absolute.data = np.abs(self.absolute.data)

    def __call__(self, rows: sp.csr_matrix, residual: np.ndarray):
        """``(indptr, cols, num, den)`` on one pattern; entries exist exactly where ``den > 0``.

        :param residual: ``r_uj - b_uj`` of every stored entry of ``rows``.
        """
        import scipy.sparse as sp

        if self.positive:
            # s' > 0: one complex product gives both sums, Σ (z + i) s = Σ z s + i Σ s.
            z = sp.csr_matrix(
                ((residual + 1j).astype(np.complex64), rows.indices, rows.indptr), shape=rows.shape
            )
            sums = z @ self.complex_graph  # Σ s > 0 at every entry
            return sums.indptr, sums.indices, sums.data.real, sums.data.imag
        z = sp.csr_matrix((residual.astype(np.float32), rows.indices, rows.indptr), shape=rows.shape)
        rated = sp.csr_matrix(
            (np.ones(rows.nnz, np.float32), rows.indices, rows.indptr), shape=rows.shape
        )
        num = z @ self.graph
        den = rated @ self.absolute  # sums of |s| > 0: no entry dropped
        return den.indptr, den.indices, _align(num, den), den.data


def _align(part: sp.csr_matrix, full: sp.csr_matrix) -> np.ndarray:
    """Values of ``part`` on the pattern of ``full`` (0 where ``part`` has no entry).

    Both come from scipy products with identically patterned operands, which list each row's columns
    in the same order; ``part`` only lacks the entries whose sum was exactly 0. So the patterns are
    usually identical and this is free.
    """
    if part.nnz == full.nnz and np.array_equal(part.indices, full.indices):
        return part.data
    n_cols = full.shape[1]
    full_keys = np.repeat(np.arange(full.shape[0], dtype=np.int64), np.diff(full.indptr)) * n_cols
    full_keys += full.indices
    part_keys = np.repeat(np.arange(part.shape[0], dtype=np.int64), np.diff(part.indptr)) * n_cols
    part_keys += part.indices
    order = np.argsort(full_keys, kind="stable")
    out = np.zeros(full.nnz, dtype=part.data.dtype)
    out[order[np.searchsorted(full_keys[order], part_keys)]] = part.data
    return out

"""Similarities between sparse vectors, blockwise and shrunk, and the per-row top-N selection.

For plugin authors who compare rows of a sparse matrix (items by their raters, people by their
items) without ever building a dense pairs matrix: :class:`Pairwise` computes the similarities of a
block of rows with every row of another matrix as one scipy sparse product, optionally shrunk by
their support (``s' = s * n / (n + shrinkage)``, ``n`` = shared non-zero dimensions), and
:func:`top_per_row` keeps each row's ``N`` largest. deepcart's ``knn`` recommender and the
engagement model of :mod:`deepcart.toolkit.engagement` are built on them. Every function is
vectorised (no Python loop per row).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Protocol

import numpy as np

if TYPE_CHECKING:
    import scipy.sparse as sp

#: Similarity entries per block (a block also stops at ``block_size`` rows).
BLOCK_ENTRIES = 1 << 22
#: Cells of one padded array in the per-row top-N selection.
PAD_CELLS = 1 << 21
#: Weight of the support counts in the packed product (must exceed 2 * max |s| = 2).
SUPPORT_SCALE = 4.0


class SimilarityOptions(Protocol):
    """What :class:`Pairwise` reads from its options (a recommender's config usually has them)."""

    shrinkage: float  # s' = s * n / (n + shrinkage); 0 = no shrinking
    min_support: int  # fewest shared dimensions for a pair
    min_sim: float  # keep pairs with s' above this (and s' != 0)
    block_size: int  # most rows per block


class Pairwise:
    """Shrunk, filtered similarities between the rows of a matrix and the rows of ``right``, blockwise.

    Rows are unit vectors, so a dot product is a similarity. When support counts are needed, one
    float64 product of ``[X | 4B]`` (``B``: the pattern of ``X`` as ones) with ``[Xr; Br]`` yields
    ``s + 4n`` per pair: ``n = rint(v / 4)`` and ``s = v - 4n`` because ``|s| <= 1``. That is one
    sparse product instead of two, with no need to match two result patterns.
    """

    def __init__(self, right: sp.csr_matrix, config: SimilarityOptions):
        import scipy.sparse as sp

        self.config = config
        self.support = config.shrinkage > 0 or config.min_support > 1
        self.n_right = right.shape[0]
        transposed = right.T.tocsr()  # dims x right rows
        self.dim_counts = np.diff(transposed.indptr)
        if self.support:
            ones = pattern(transposed, 1.0, np.float64)
            self.operand = sp.vstack([transposed.astype(np.float64), ones], format="csr")
        else:
            self.operand = transposed.astype(np.float32)

    def blocks(self, left: sp.csr_matrix) -> Iterator[tuple[int, int]]:
        """Consecutive row ranges, each under ``block_size`` rows and about BLOCK_ENTRIES entries."""
        owner = np.repeat(np.arange(left.shape[0]), np.diff(left.indptr))
        estimate = np.bincount(owner, weights=self.dim_counts[left.indices], minlength=left.shape[0])
        total = np.cumsum(np.minimum(estimate, self.n_right))
        start, n = 0, left.shape[0]
        while start < n:
            limit = (total[start - 1] if start else 0.0) + BLOCK_ENTRIES
            stop = int(np.searchsorted(total, limit, side="right"))
            stop = min(max(stop, start + 1), start + self.config.block_size, n)
            yield start, stop
            start = stop

    def similarities(self, block: sp.csr_matrix, diagonal: int | None = None):
        """``(indptr, columns, s')`` of a block's candidate pairs, as CSR arrays.

        ``diagonal``: drop the pairs of a row with itself, row ``r`` of the block being column
        ``r + diagonal`` (the item-based graph has no self-neighbours).
        """
        import scipy.sparse as sp

        cfg = self.config
        if self.support:
            left = sp.hstack([block.astype(np.float64), pattern(block, SUPPORT_SCALE, np.float64)],
                             format="csr")
            product = left @ self.operand
            sims = product.data  # s + 4n, unpacked in place
            support = sims * (1.0 / SUPPORT_SCALE)
            np.rint(support, out=support)
            support *= SUPPORT_SCALE
            sims -= support
            support *= 1.0 / SUPPORT_SCALE
        else:
            product = block.astype(np.float32) @ self.operand
            sims, support = product.data, None
        # Shrinking never flips a sign and only pulls towards 0, so s' > min_sim >= 0 needs
        # s > min_sim: filter on s first, shrink the survivors only (a negative min_sim is tested
        # after shrinking, which raises negative similarities).
        if cfg.min_sim >= 0:
            keep = sims > cfg.min_sim
        else:
            keep = sims != 0
            if cfg.shrinkage == 0:
                keep &= sims > cfg.min_sim
        if cfg.min_support > 1:
            keep &= support >= cfg.min_support
        if diagonal is not None:
            owner = np.repeat(np.arange(diagonal, diagonal + block.shape[0], dtype=product.indices.dtype),
                              np.diff(product.indptr))
            keep &= product.indices != owner
        flat = np.flatnonzero(keep)
        cols, sims = product.indices[flat], sims[flat]
        if cfg.shrinkage > 0:
            support = support[flat]
            sims *= support / (support + cfg.shrinkage)
            if cfg.min_sim != 0:
                again = np.flatnonzero(sims > cfg.min_sim)
                flat, cols, sims = flat[again], cols[again], sims[again]
        return np.searchsorted(flat, product.indptr), cols, sims.astype(np.float32)

def safe_divide(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """``numerator / denominator`` with 0 where the denominator is 0."""
    out = np.zeros(len(numerator), dtype=np.float64)
    np.divide(numerator, denominator, out=out, where=denominator > 0)
    return out

def per_entry(rows: sp.csr_matrix, per_row: np.ndarray) -> np.ndarray:
    """Broadcast one value per row to the row's stored entries."""
    return np.repeat(per_row, np.diff(rows.indptr))

def pattern(matrix: sp.csr_matrix, value: float, dtype) -> sp.csr_matrix:
    """The same sparsity pattern (explicit zeros included) with every entry set to ``value``."""
    import scipy.sparse as sp

    return sp.csr_matrix(
        (np.full(matrix.nnz, value, dtype=dtype), matrix.indices, matrix.indptr), shape=matrix.shape
    )

def centred(rows: sp.csr_matrix, row_mean: bool, column_mean: bool, item_means: np.ndarray):
    """Ratings minus the row mean and/or the column (item) mean; the pattern is kept as is."""
    import scipy.sparse as sp

    data = rows.data.astype(np.float64)
    if row_mean:
        counts = np.diff(rows.indptr)
        owner = np.repeat(np.arange(rows.shape[0]), counts)
        data = data - per_entry(rows, safe_divide(np.bincount(owner, data, rows.shape[0]), counts))
    if column_mean:
        data = data - item_means[rows.indices]
    return sp.csr_matrix((data, rows.indices, rows.indptr), shape=rows.shape)

def unit_rows(matrix: sp.csr_matrix) -> sp.csr_matrix:
    """Rows scaled to unit length (all-zero rows stay zero, explicit entries kept)."""
    import scipy.sparse as sp

    owner = np.repeat(np.arange(matrix.shape[0]), np.diff(matrix.indptr))
    norms = np.sqrt(np.bincount(owner, weights=matrix.data**2, minlength=matrix.shape[0]))
    scale = safe_divide(np.ones(len(norms)), norms)
    return sp.csr_matrix((matrix.data * scale[owner], matrix.indices, matrix.indptr), shape=matrix.shape)

def top_per_row(indptr: np.ndarray, cols: np.ndarray, key: np.ndarray, n: int) -> np.ndarray:
    """Mask of each CSR row's ``n`` largest ``key`` entries, ties to the lowest column.

    The n-th largest key of each longer row comes from ``np.partition`` on rows padded to a common
    width; grouping rows by power-of-two length keeps the padding under 2x the real entries, so the
    cost is linear in the entries, not in rows x columns.
    """
    lengths = np.diff(indptr)
    big = np.flatnonzero(lengths > n)
    if not big.size:
        return np.ones(len(key), dtype=bool)
    kth = np.full(len(lengths), -np.inf, dtype=key.dtype)  # shorter rows keep everything
    group = np.ceil(np.log2(lengths[big])).astype(np.int64)
    for g in np.unique(group):
        members = big[group == g]
        width = int(lengths[members].max())
        step = max(1, PAD_CELLS // width)
        offsets = np.arange(width)
        for lo in range(0, len(members), step):
            rows = members[lo : lo + step]
            size = lengths[rows][:, None]
            pos = indptr[rows][:, None] + np.minimum(offsets, size - 1)
            values = np.where(offsets < size, key[pos], -np.inf)
            kth[rows] = np.partition(values, width - n, axis=1)[:, width - n]
    owner = np.repeat(np.arange(len(lengths)), lengths)
    cut = kth[owner]
    keep = key >= cut
    tied = key == cut
    n_kept = np.bincount(owner, weights=keep, minlength=len(lengths))
    over = n_kept > n  # ties at the cut: keep only the lowest columns among the tied entries
    if over.any():
        n_above = n_kept - np.bincount(owner, weights=tied, minlength=len(lengths))
        candidates = np.flatnonzero(tied & over[owner])
        candidates = candidates[np.lexsort((cols[candidates], owner[candidates]))]
        rows = owner[candidates]
        rank = np.arange(len(candidates)) - np.searchsorted(rows, rows)
        keep[candidates[rank >= n - n_above[rows]]] = False
    return keep


def keep_top_per_row(matrix: sp.csr_matrix, n: int) -> sp.csr_matrix:
    """``matrix`` with only each row's ``n`` largest entries kept (:func:`top_per_row`'s choice)."""
    import scipy.sparse as sp

    keep = top_per_row(matrix.indptr, matrix.indices, matrix.data, n)
    indptr = np.concatenate([[0], np.cumsum(keep)])[matrix.indptr]
    return sp.csr_matrix((matrix.data[keep], matrix.indices[keep], indptr), shape=matrix.shape)

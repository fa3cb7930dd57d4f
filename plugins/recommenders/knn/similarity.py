"""The ``knn`` similarity vectors: which centring each kind and similarity uses (see the package docs).

The blockwise, shrunk similarities and the per-row top-N come from :mod:`deepcart.toolkit.similarity`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from deepcart.plugins.recommenders.knn.config import KNNConfig
from deepcart.toolkit.similarity import centred, safe_divide, unit_rows

if TYPE_CHECKING:
    import scipy.sparse as sp


def centring(config: KNNConfig) -> tuple[bool, bool]:
    """Whether similarity vectors subtract the row (person's) mean and the item's mean."""
    pair = (config.kind, config.similarity)
    return (pair in {("item", "adjusted-cosine"), ("user", "pearson")},
            pair in {("item", "pearson"), ("user", "adjusted-cosine")})

def similarity_vectors(rows: sp.csr_matrix, config: KNNConfig, item_means: np.ndarray) -> sp.csr_matrix:
    """Rows of centred ratings scaled to unit length: one row per person (transpose for items)."""
    row_mean, column_mean = centring(config)
    return unit_rows(centred(rows.astype(np.float64), row_mean, column_mean, item_means))

def item_mean_ratings(train: sp.csr_matrix) -> np.ndarray:
    """Plain (undamped) mean rating of each item, 0 for an unrated one."""
    counts = np.bincount(train.indices, minlength=train.shape[1])
    sums = np.bincount(train.indices, weights=train.data, minlength=train.shape[1])
    return safe_divide(sums, counts)

"""The damped rating baseline and canonical rating rows, for recommenders that predict stars.

A model that predicts a star rating as a baseline plus a learned deviation (deepcart's ``knn``, the
contrib ``ease`` and ``als``) uses this one baseline::

    mu   = mean of all training ratings
    b_i  = sum_{u rated i} (r_ui - mu) / (n_i + damping)
    b_u  = sum_{j rated by u} (r_uj - mu - b_j) / (n_u + damping)
    b_ui = mu + b_u + b_i

``b_u`` of a folded-in person comes from their own ratings with the same formula, which is what
makes fold-in reproduce ``predict`` for a training user. :func:`rating_rows` and
:func:`history_row` build the training matrix and a fold-in row the same way, bit for bit.

Only numpy is imported at module level; scipy comes in with the functions that build matrices.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from deepcart.toolkit.id_index import IdIndex

if TYPE_CHECKING:
    import scipy.sparse as sp


@dataclass
class Baseline:
    """The damped baseline ``b_ui = mu + b_u + b_i`` (see the module docstring)."""

    mu: float
    item_bias: np.ndarray  # float64, one per catalogue item
    damping: float

    @classmethod
    def fit(cls, ratings: sp.csr_matrix, damping: float) -> Baseline:
        """``mu`` and ``b_i`` from a users x items CSR of training ratings."""
        values = ratings.data.astype(np.float64)
        mu = float(values.mean()) if len(values) else 3.0
        n_items = ratings.shape[1]
        sums = np.bincount(ratings.indices, weights=values - mu, minlength=n_items)
        counts = np.bincount(ratings.indices, minlength=n_items)
        return cls(mu, _divide(sums, counts + damping), float(damping))

    def user_bias(self, rows: sp.csr_matrix) -> np.ndarray:
        """``b_u`` of each row of a ratings CSR (training users and folded-in people alike)."""
        deviation = rows.data.astype(np.float64) - self.mu - self.item_bias[rows.indices]
        owner = np.repeat(np.arange(rows.shape[0]), np.diff(rows.indptr))
        sums = np.bincount(owner, weights=deviation, minlength=rows.shape[0])
        return _divide(sums, np.diff(rows.indptr) + self.damping)

    def residuals(self, rows: sp.csr_matrix, user_bias: np.ndarray) -> np.ndarray:
        """``r_ui - b_ui`` for every stored entry of ``rows`` (aligned with ``rows.data``)."""
        owner = np.repeat(np.arange(rows.shape[0]), np.diff(rows.indptr))
        return (rows.data.astype(np.float64) - self.mu - self.item_bias[rows.indices]
                - user_bias[owner])

    def dense(self, user_bias: np.ndarray) -> np.ndarray:
        """``b_ui`` for each row's ``b_u`` and every item, float64 ``(rows, items)``."""
        return (self.mu + user_bias)[:, None] + self.item_bias[None, :]


def rating_rows(matrix, n_items: int) -> sp.csr_matrix:
    """A ratings CSR (rows = people, columns in catalogue order) in canonical form.

    float64, duplicates summed, indices sorted: the training matrix and fold-in rows go through
    this one function, so a training user's row is bit-for-bit the row their history builds.
    """
    import scipy.sparse as sp

    rows = sp.csr_matrix(matrix, dtype=np.float64, copy=True)
    if rows.shape[1] != n_items:
        raise ValueError(f"expected {n_items} item columns, got {rows.shape[1]}")
    rows.sum_duplicates()
    rows.sort_indices()
    rows.eliminate_zeros()  # an explicit 0 is no rating (ratings are 1..5)
    return rows


def history_row(history: Sequence[tuple[str, float]], items: IdIndex) -> sp.csr_matrix:
    """One person's ``(parent_asin, rating)`` pairs as a 1-row ratings CSR.

    Items outside the catalogue and non-finite ratings are ignored; an item rated twice keeps the
    last rating.
    """
    import scipy.sparse as sp

    ids = [str(h[0]) for h in history]
    values = np.asarray([float(h[1]) for h in history], dtype=np.float64)
    cols, known = items.positions(ids)
    known &= np.isfinite(values)
    cols, values = cols[known], values[known]
    last = {int(c): v for c, v in zip(cols, values, strict=True)}  # later pairs overwrite earlier ones
    keys = np.fromiter(last.keys(), dtype=np.int64, count=len(last))
    vals = np.fromiter(last.values(), dtype=np.float64, count=len(last))
    row = sp.csr_matrix((vals, (np.zeros(len(keys), dtype=np.int64), keys)), shape=(1, len(items)))
    return rating_rows(row, len(items))


#: Dense score cells per batch when scoring many training users (float32: 64 MB).
SCORE_CELLS = 1 << 24


def score_training_users(users: IdIndex, wanted: Sequence[str], n_items: int,
                         score_rows: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """``(len(wanted), n_items)`` float32 scores of training users, NaN rows for unknown ids.

    The ``predict`` of a model that scores its training users from stored state: ``score_rows``
    gets an array of training-user row indices and returns their ``(rows, n_items)`` scores; it is
    called in batches of at most :data:`SCORE_CELLS` cells, so memory stays bounded.
    """
    rows, known = users.positions(wanted)
    out = np.full((len(rows), n_items), np.nan, dtype=np.float32)
    where = np.flatnonzero(known)
    step = max(1, SCORE_CELLS // max(n_items, 1))
    for lo in range(0, len(where), step):
        chunk = where[lo : lo + step]
        out[chunk] = score_rows(rows[chunk])
    return out


def select_columns(scores: np.ndarray, items: IdIndex, wanted: Sequence[str] | None) -> np.ndarray:
    """Columns ``wanted`` of a ``(rows, catalogue)`` score array; NaN for unknown items."""
    if wanted is None:
        return scores
    cols, known = items.positions(wanted)
    out = np.full((scores.shape[0], len(cols)), np.nan, dtype=np.float32)
    out[:, known] = scores[:, cols[known]]
    return out


def _divide(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(den > 0, num / np.where(den > 0, den, 1), 0.0)
    return out.astype(np.float64)

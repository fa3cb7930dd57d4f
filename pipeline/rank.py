"""The one ranker: every top-k list deepcart shows or evaluates comes from here.

Evaluation (``deepcart evaluate``, ``deepcart run``), the picks of ``deepcart recommend`` and the
dashboard all rank a person's candidates with :func:`top_k_by_score`, so they agree on every list.

**Direction.** ``best`` ranks by descending score, ``worst`` by ascending score.

**Tie rule.** Equal scores are ordered by engagement, most first (an item's number of train
ratings, where the caller knows it: evaluation and the picks do), then by catalogue position,
lowest first, in both directions. A catalogue (a model's ``item_ids``, a dataset's item table) is
sorted by ``parent_asin``, so position order is also item-id order. Items that are blocked or that
have no finite score are never ranked; a list with fewer candidates than ``k`` is padded with ``-1``.
"""

from __future__ import annotations

import numpy as np

DIRECTIONS = ("best", "worst")


def top_k(keys: np.ndarray, k: int) -> np.ndarray:
    """Column indices of the ``k`` smallest keys per row, ties by lowest column; -1 where ``inf``.

    Exact for ties at the cut-off without sorting whole rows: ``np.partition`` finds each row's k-th
    smallest key; every key below it is taken, then the lowest columns among the keys equal to it
    fill the row, and only those (at most ``k`` a row) are sorted.
    """
    n_rows, n_cols = keys.shape
    k_eff = min(k, n_cols)
    out = np.full((n_rows, k), -1, dtype=np.int64)
    if k_eff == 0 or n_rows == 0:
        return out
    kth = np.partition(keys, k_eff - 1, axis=1)[:, k_eff - 1 : k_eff]
    below_rows, below_cols = np.nonzero(keys < kth)
    room = k_eff - np.bincount(below_rows, minlength=n_rows)
    tie_rows, tie_cols = np.nonzero((keys == kth) & (kth < np.inf))  # row-major: lowest columns first
    keep = np.arange(len(tie_rows)) - np.searchsorted(tie_rows, tie_rows) < room[tie_rows]
    rows = np.concatenate([below_rows, tie_rows[keep]])
    cols = np.concatenate([below_cols, tie_cols[keep]])
    order = np.lexsort((cols, keys[rows, cols], rows))
    rows, cols = rows[order], cols[order]
    out[rows, np.arange(len(rows)) - np.searchsorted(rows, rows)] = cols
    return out


def top_k_by_score(scores: np.ndarray, k: int, *, direction: str, blocked: np.ndarray | None = None,
                   engagement: np.ndarray | None = None) -> np.ndarray:
    """Columns of the ``k`` best (or worst) scores per row under the tie rule; ``-1`` pads.

    :param scores: ``(n_rows, n_items)`` or ``(n_items,)`` predicted scores; NaN is never ranked.
    :param direction: ``"best"`` (highest first) or ``"worst"`` (lowest first).
    :param blocked: a boolean mask of the same shape: items that are not candidates.
    :param engagement: ``(n_items,)`` train rating counts; equal scores rank the more engaged first.
    :returns: ``(n_rows, k)`` int64 column indices (``(k,)`` for a 1-d ``scores``).
    """
    if direction not in DIRECTIONS:
        raise ValueError(f"direction must be 'best' or 'worst', not {direction!r}")
    scores = np.asarray(scores)
    one_row = scores.ndim == 1
    # Keys keep a float score's own precision (a float32 model's scores are ranked as float32).
    dtype = scores.dtype if np.issubdtype(scores.dtype, np.floating) else np.float64
    keys = (-scores if direction == "best" else scores).astype(dtype, copy=True).reshape(-1, scores.shape[-1])
    keys[~np.isfinite(keys)] = np.inf
    if blocked is not None:
        keys[np.asarray(blocked).reshape(keys.shape)] = np.inf
    if engagement is None:
        ranked = top_k(keys, k)
    else:
        # top_k breaks ties by lowest column, so rank in engagement order (stable: position next)
        # and map the columns back.
        order = np.argsort(-np.asarray(engagement, dtype=np.int64), kind="stable")
        ranked = top_k(keys[:, order], k)
        ranked = np.where(ranked >= 0, order[np.maximum(ranked, 0)], -1)
    return ranked[0] if one_row else ranked

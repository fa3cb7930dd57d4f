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

    Exact for ties at the cut-off without sorting whole rows: take everything strictly below the
    k-th smallest key, then fill with the lowest-column items equal to it.
    """
    n_rows, n_cols = keys.shape
    k_eff = min(k, n_cols)
    out = np.full((n_rows, k), -1, dtype=np.int64)
    if k_eff == 0 or n_rows == 0:
        return out
    kth = np.partition(keys, k_eff - 1, axis=1)[:, k_eff - 1 : k_eff]
    below = keys < kth
    equal = keys == kth
    room = k_eff - below.sum(axis=1, keepdims=True)
    chosen = below | (equal & (np.cumsum(equal, axis=1) <= room))
    rows, cols = np.nonzero(chosen)  # row-major: columns ascending within each row
    picked = cols.reshape(n_rows, k_eff)
    picked_keys = np.take_along_axis(keys, picked, axis=1)
    ranked = np.take_along_axis(picked, np.argsort(picked_keys, axis=1, kind="stable"), axis=1)
    ranked_keys = np.take_along_axis(keys, ranked, axis=1)
    ranked[np.isinf(ranked_keys)] = -1
    out[:, :k_eff] = ranked
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
    keys = (-scores if direction == "best" else scores).astype(np.float64, copy=True).reshape(-1, scores.shape[-1])
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

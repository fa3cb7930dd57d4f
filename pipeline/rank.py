"""The one ranker: every top-k list deepcart shows or evaluates comes from here.

Evaluation (``deepcart evaluate``, ``deepcart run``), the picks of ``deepcart recommend`` and the
dashboard all rank a person's candidates with :func:`top_k_by_score`, so they agree on every list.

**Direction.** ``best`` ranks by descending score, ``worst`` by ascending score.

**Relevance: engagement and stars together.** A recommender scores a person twice: the stars it
predicts for each item, ``r``, and, where it models it, how likely the person is to rate the item
at all, ``e > 0`` (:mod:`deepcart.toolkit.engagement`). A list ranks by the relevance::

    best:   log(e) + w_best  * r          (descending)
    worst:  log(e) - w_worst * r          (descending: likely to be met AND rated low first)

``w`` is the recommender's ``stars_weights[direction]`` (its ``best_stars_weight`` /
``worst_stars_weight`` options): how many units of log-engagement one predicted star is worth.
``w = 0`` ranks by engagement alone; a very large ``w`` by stars alone, which is also the rule for
a recommender without engagement (relevance ``r`` for best, ``-r`` for worst). The product form
reads as ``P(rated) x exp(w r)``: on real data the held-out ratings are items a person did engage
with, so a list of low predicted stars among items nobody like them buys confirms nothing
(``README.md``, "Quality on real data"). :class:`Scored` holds both halves and
:func:`rank_scored` ranks them; evaluation, picks and the dashboard all go through it.

**Tie rule.** Equal scores are ordered by engagement, most first (an item's number of train
ratings, where the caller knows it: evaluation and the picks do), then by catalogue position,
lowest first, in both directions. A catalogue (a model's ``item_ids``, a dataset's item table) is
sorted by ``parent_asin``, so position order is also item-id order. Items that are blocked or that
have no finite score are never ranked; a list with fewer candidates than ``k`` is padded with ``-1``.
"""

from __future__ import annotations

import inspect
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field

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


def relevance(stars: np.ndarray, engagement: np.ndarray | None, stars_weight: float, direction: str) -> np.ndarray:
    """The ranking key of the module docs: higher ranks first, in either direction; NaN stars stay NaN."""
    if direction not in DIRECTIONS:
        raise ValueError(f"direction must be 'best' or 'worst', not {direction!r}")
    sign = 1.0 if direction == "best" else -1.0
    stars = np.asarray(stars, dtype=np.float32)
    if engagement is None:
        return sign * stars
    with np.errstate(divide="ignore"):
        key = np.log(np.maximum(np.asarray(engagement, dtype=np.float32), np.float32(1e-30)))
    key += np.float32(sign * stars_weight) * stars
    return key


@dataclass
class Scored:
    """A model's scores of some people: predicted stars and, where it has one, engagement.

    :ivar stars: ``(people, items)`` or ``(items,)`` predicted stars, NaN where it cannot score.
    :ivar engagement: the same shape, > 0, or None when the model ranks by stars alone.
    :ivar stars_weights: ``{"best": w, "worst": w}``, the mix of :func:`relevance`.
    :ivar exclusive: split each person's candidates at their median predicted stars: worst lists
        below, best above.
    :ivar raw: the model's predictions before clipping to 1-5, where it gives them (rankings use
        them, so that many predictions above 5 do not tie at "5.0"); None: ``stars``.
    """

    stars: np.ndarray
    engagement: np.ndarray | None = None
    stars_weights: Mapping[str, float] = field(default_factory=dict)
    exclusive: bool = False
    raw: np.ndarray | None = None

    def relevance(self, direction: str) -> np.ndarray:
        """The ranking key for ``direction`` (higher first), from the unclipped predictions."""
        stars = self.stars if self.raw is None else self.raw
        return relevance(stars, self.engagement, self.stars_weights.get(direction, 0.0), direction)


def score_people(model, rows) -> Scored:
    """Fold-in scores of each row of a CSR ratings matrix (columns in ``model.item_ids`` order).

    Stars come from the model's vectorised ``fold_in_batch`` when it has one (else ``fold_in`` per
    person), unclipped when it takes ``clip=False``; engagement from its optional
    ``fold_in_engagement_batch``.
    """
    raw = None
    batch = getattr(model, "fold_in_batch", None)
    if batch is not None and "clip" in inspect.signature(batch).parameters:
        raw = np.asarray(batch(rows, clip=False), dtype=np.float32)
        stars = np.clip(raw, 1.0, 5.0)
    elif batch is not None:
        stars = np.asarray(batch(rows), dtype=np.float32)
    else:
        items = np.asarray(model.item_ids)
        stars = np.empty(rows.shape, dtype=np.float32)
        for r in range(rows.shape[0]):
            lo, hi = rows.indptr[r], rows.indptr[r + 1]
            stars[r] = model.fold_in(list(zip(items[rows.indices[lo:hi]].tolist(), rows.data[lo:hi].tolist())))
    engagement = None
    if hasattr(model, "fold_in_engagement_batch"):
        engagement = model.fold_in_engagement_batch(rows)
    if engagement is not None:
        engagement = np.asarray(engagement, dtype=np.float32)
        if engagement.shape != stars.shape:
            raise ValueError(f"engagement has shape {engagement.shape}, stars {stars.shape}")
    return Scored(stars, engagement, dict(getattr(model, "stars_weights", {}) or {}),
                  bool(getattr(model, "exclusive_lists", False)), raw)


def rank_scored(scored: Scored, k: int, *, direction: str, blocked: np.ndarray | None = None,
                counts: np.ndarray | None = None) -> np.ndarray:
    """Columns of the ``k`` most relevant items per row for ``direction``.

    :param counts: ``(n_items,)`` train rating counts for the tie rule (equal relevance: more first).

    With ``scored.exclusive``, a worst list holds only candidates with predicted stars at or below
    the person's median over their candidates, a best list only those above it, so no item is in
    both (when both lists have the same candidates).
    """
    key = scored.relevance(direction)
    if scored.exclusive:
        stars = np.asarray(scored.stars, dtype=np.float64).reshape(key.shape[0] if key.ndim > 1 else 1, -1)
        pool = ~np.isfinite(stars)
        if blocked is not None:
            pool |= np.asarray(blocked).reshape(stars.shape)
        with np.errstate(invalid="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # a person without candidates: NaN median
            median = np.nanmedian(np.where(pool, np.nan, stars), axis=1, keepdims=True)
        other_side = stars > median if direction == "worst" else stars <= median
        other_side = other_side.reshape(np.shape(key))
        blocked = other_side if blocked is None else (np.asarray(blocked) | other_side)
    return top_k_by_score(key, k, direction="best", blocked=blocked, engagement=counts)

"""Top-K ranking metrics: ``map``, ``ndcg``, ``recall``, ``precision`` and ``coverage``.

Each is registered under its bare name and takes its cut-off through ``compute(data, k=K)``; users
write ``map@10``. They read a :class:`deepcart.metric_types.Rankings`:

* ``ranked[u]`` is user ``u``'s list, best first *in the direction being evaluated*. The metrics do
  not know about directions: for "worst products" the caller ranks worst first and marks the
  items that really were bad as relevant, and the same formulas apply.
* ``-1`` pads a list that had fewer than K candidates. A padded slot is never a hit, and the
  cut-off ``k`` is not shortened: precision@k still divides by ``k`` and MAP@k / NDCG@k still
  allow ``min(k, |relevant|)`` hits, so a short list is penalised, never rewarded.
* **Ties.** The metrics see a strict order; breaking ties in scores is the caller's job, with one
  rule: among items of equal score, the lower item index ranks first (a stable sort by score,
  e.g. ``np.argsort(-scores, kind="stable")``, or ``np.lexsort((items, -scores))``). Tied items
  are never averaged. The rule makes results reproducible, independent of partition order.
* Items within one list are distinct (a ranking, not a bag).

Notation, per user: ``rel_i`` is 1 when the item at rank ``i`` (1-based) is relevant, ``R`` the
number of relevant items, ``hits@k = sum_{i<=k} rel_i`` and ``P@i = hits@i / i``.

* ``precision@k = hits@k / k``.
* ``recall@k = hits@k / R`` (the standard definition, as in trec_eval, ranx and torchmetrics; it
  cannot reach 1 when ``R > k``).
* ``map@k``: ``AP@k = (1 / min(k, R)) * sum_{i<=k} P@i * rel_i``, the mean over users. The
  ``min(k, R)`` denominator (as in RecBole) lets a perfect list score 1 even when ``R > k``;
  trec_eval and ranx divide by ``R`` instead, which is the same whenever ``R <= k``.
* ``ndcg@k = DCG@k / IDCG@k`` with binary gains: ``DCG@k = sum_{i<=k} rel_i / log2(i + 1)`` and
  ``IDCG@k`` the DCG of ``min(k, R)`` hits in the first ranks.
* ``coverage@k``: the share of the catalogue (``n_items``) that appears in at least one user's
  top-k, a property of the set of lists (see :class:`Coverage` for its per-user values).

Users with no relevant item (``R = 0``) are not covered by precision, recall, MAP and NDCG: their
per-user value is NaN and the aggregate is the mean over the other users, so all four average over
the same users. ``extra["users"]`` says how many users were covered.

Everything is vectorised over users: the hits come from one sparse element-wise product between
the relevant matrix and a sparse matrix holding each listed item's rank, so the work is linear in
``n_users * K`` with no Python loop per user.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

import numpy as np
import pydantic

from deepcart import hookimpl
from deepcart.metric_types import MetricResult, Rankings


class _NoOptions(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")


@dataclass(frozen=True)
class Hits:
    """The hits of every user's top-k, as flat arrays sorted by (user, rank).

    :ivar user: the user of each hit.
    :ivar rank: its 0-based rank in that user's list (``< k``).
    :ivar n_relevant: ``R`` for every user, shape ``(n_users,)``.
    :ivar k: the cut-off.
    """

    user: np.ndarray
    rank: np.ndarray
    n_relevant: np.ndarray
    k: int

    @property
    def n_users(self) -> int:
        """Number of users (rows of per-user results)."""
        return len(self.n_relevant)

    def per_user_count(self) -> np.ndarray:
        """``hits@k`` per user."""
        return np.bincount(self.user, minlength=self.n_users)

    def per_user_sum(self, weights: np.ndarray) -> np.ndarray:
        """Sum of ``weights`` (one per hit) per user."""
        return np.bincount(self.user, weights=weights, minlength=self.n_users)


def _cutoff(data: Rankings, k: int | None) -> int:
    if k is None:
        return int(np.shape(data.ranked)[1])
    if int(k) != k or k < 1:
        raise ValueError(f"the cut-off k must be a positive integer, got {k!r}")
    return int(k)


def _checked_ranked(data: Rankings, k: int, n_cols: int) -> tuple[np.ndarray, bool]:
    """``data.ranked`` cut to ``k`` columns, and whether it holds any ``-1`` padding."""
    ranked = np.asarray(data.ranked)
    if ranked.ndim != 2 or not np.issubdtype(ranked.dtype, np.integer):
        raise ValueError(f"Rankings.ranked must be a 2-D integer array, got {ranked.dtype} {ranked.shape}")
    ranked = ranked[:, :k]
    if not ranked.size:
        return ranked, False
    lowest = ranked.min()
    # Out-of-range indices would otherwise reach scipy's C++ kernels unchecked.
    if lowest < -1 or ranked.max() >= n_cols:
        raise ValueError(f"Rankings.ranked holds item indices outside -1..{n_cols - 1}")
    return ranked, bool(lowest == -1)


def find_hits(data: Rankings, k: int | None = None) -> Hits:
    """Locate the relevant items in every user's top-``k``, vectorised over users.

    ``k=None`` means the full width of ``data.ranked``. A ``k`` wider than the lists is allowed (the
    missing ranks are empty slots).
    """
    import scipy.sparse as sp

    k = _cutoff(data, k)
    relevant = sp.csr_array(data.relevant)
    if not relevant.has_canonical_format or not relevant.data.all():
        relevant = relevant.copy()  # never alter the caller's matrix
        relevant.sum_duplicates()
        relevant.eliminate_zeros()
    n_users, n_cols = relevant.shape
    ranked, padded = _checked_ranked(data, k, n_cols)
    if ranked.shape[0] != n_users:
        raise ValueError(f"Rankings.ranked has {ranked.shape[0]} rows but relevant has {n_users}")
    width = ranked.shape[1]

    # A sparse matrix holding rank + 1 (0 would be dropped as a structural zero) at every listed
    # item; its element-wise product with `relevant` keeps exactly the hits, with their ranks.
    rank_type = np.int16 if width < np.iinfo(np.int16).max else np.int32  # less memory traffic
    if width and not padded:
        items = ranked.ravel()
        ranks = np.tile(np.arange(1, width + 1, dtype=rank_type), n_users)
        indptr = np.arange(0, n_users * width + 1, width, dtype=np.int64)
    else:
        valid = ranked >= 0
        items = ranked[valid]
        ranks = np.broadcast_to(np.arange(1, width + 1, dtype=rank_type), ranked.shape)[valid]
        indptr = np.concatenate([[0], np.cumsum(valid.sum(axis=1), dtype=np.int64)])
    listed = sp.csr_array((ranks, items, indptr), shape=(n_users, n_cols))
    product = sp.csr_array(listed.multiply(relevant))
    product.eliminate_zeros()

    users = np.repeat(np.arange(n_users, dtype=np.int64), np.diff(product.indptr))
    # Sort the hits by (user, rank): MAP needs each hit's order among the user's hits.
    key = np.sort(users * (width + 1) + product.data.astype(np.int64))
    return Hits(key // (width + 1), key % (width + 1) - 1, np.diff(relevant.indptr), k)


class _RankingMetric:
    Config: ClassVar[type] = _NoOptions
    needs: ClassVar[Literal["rankings"]] = "rankings"
    higher_is_better: ClassVar[bool] = True

    def __init__(self, config: _NoOptions | None = None):
        self.config = config or _NoOptions()

    def compute(self, data: Rankings, *, k: int | None = None) -> MetricResult:
        """Evaluate the top-``k`` of ``data`` (``k=None``: the full list width)."""
        hits = find_hits(data, k)
        covered = hits.n_relevant > 0
        with np.errstate(invalid="ignore", divide="ignore"):
            per_user = self._per_user(hits).astype(np.float64)
        per_user[~covered] = np.nan
        value = float(per_user[covered].mean()) if covered.any() else float("nan")
        return MetricResult(value, per_user, {"users": float(covered.sum())})

    def _per_user(self, hits: Hits) -> np.ndarray:
        raise NotImplementedError


class Precision(_RankingMetric):
    """Precision@k: hits in the top-k / k (short lists still divide by k)."""

    def _per_user(self, hits: Hits) -> np.ndarray:
        return hits.per_user_count() / hits.k


class Recall(_RankingMetric):
    """Recall@k: hits in the top-k / number of relevant items."""

    def _per_user(self, hits: Hits) -> np.ndarray:
        return hits.per_user_count() / hits.n_relevant


class MAP(_RankingMetric):
    """Mean average precision@k: AP@k = sum of P@i over hits at ranks i <= k, / min(k, |relevant|)."""

    def _per_user(self, hits: Hits) -> np.ndarray:
        counts = hits.per_user_count()
        first = np.cumsum(counts) - counts  # where each user's hits start in the sorted arrays
        nth_hit = np.arange(1, len(hits.user) + 1) - first[hits.user]
        precision_at_hit = nth_hit / (hits.rank + 1)
        return hits.per_user_sum(precision_at_hit) / np.minimum(hits.k, hits.n_relevant)


class NDCG(_RankingMetric):
    """Normalised DCG@k, binary gains, 1/log2(rank + 1) discount, ideal of min(k, |relevant|) hits."""

    def _per_user(self, hits: Hits) -> np.ndarray:
        discount = 1.0 / np.log2(np.arange(2, hits.k + 2, dtype=np.float64))
        ideal = np.concatenate([[0.0], np.cumsum(discount)])
        dcg = hits.per_user_sum(discount[hits.rank])
        return dcg / ideal[np.minimum(hits.k, hits.n_relevant)]


class Coverage:
    """Catalogue coverage@k: share of all items that appear in at least one user's top-k.

    It measures the set of lists, not one user's list, so it has no per-user breakdown of its own:
    ``per_user`` repeats the catalogue share for every user (its mean is the value, as for the other
    metrics). ``extra["items"]`` is the number of distinct items recommended and
    ``extra["mean_list_share"]`` the mean over users of (distinct items in the user's top-k /
    ``n_items``). Relevance plays no part.
    """

    Config: ClassVar[type] = _NoOptions
    needs: ClassVar[Literal["rankings"]] = "rankings"
    higher_is_better: ClassVar[bool] = True

    def __init__(self, config: _NoOptions | None = None):
        self.config = config or _NoOptions()

    def compute(self, data: Rankings, *, k: int | None = None) -> MetricResult:
        """Evaluate the top-``k`` of ``data`` (``k=None``: the full list width)."""
        n_items = int(data.n_items)
        if n_items < 1:
            raise ValueError(f"coverage needs a catalogue of at least one item, got n_items={n_items}")
        ranked, _ = _checked_ranked(data, _cutoff(data, k), n_items)
        # Shifted by one so that the -1 padding lands in bin 0, which is then dropped.
        items = int(np.count_nonzero(np.bincount(ranked.ravel() + 1, minlength=n_items + 1)[1:]))
        value = items / n_items
        list_share = (ranked >= 0).sum(axis=1) / n_items
        extra = {"items": float(items), "mean_list_share": float(list_share.mean()) if len(ranked) else 0.0}
        return MetricResult(value, np.full(len(ranked), value), extra)


@hookimpl
def register_metrics(register) -> None:
    """Register ``map``, ``ndcg``, ``recall``, ``precision`` and ``coverage`` (``name@k``)."""
    register("map", MAP)
    register("ndcg", NDCG)
    register("recall", Recall)
    register("precision", Precision)
    register("coverage", Coverage)

"""Engagement: how likely a person is to rate an item at all, for rankings that model it with the stars.

On real Amazon data a held-out rating is first of all an item the person *engaged with*: ranked by
predicted stars alone, a best (or worst) list fills with items nobody like them ever buys, and a
plain "most rated first" list beats it. deepcart therefore ranks by engagement and stars together
(the rule is :func:`deepcart.pipeline.rank.relevance`); this module gives recommenders the
engagement half and the options that set the mix, so every recommender ranks the same way.

**Engagement models** (option ``engagement``):

* ``item-regression`` (default): a sparse, neighbourhood-restricted EASE on the 0/1 matrix ``X``
  of who rated what. For each item ``j`` its ``engagement_neighbours`` most similar items ``N(j)``
  (cosine of the 0/1 columns) predict whether ``j`` is rated, by ridge regression::

      w_j = (X_N^T X_N + l2 I)^-1 X_N^T x_j        e_uj = sum_{i in N(j)} x_ui w_ij

  With ``N(j)`` = every other item this is exactly Steck's EASE (WWW 2019); restricted to
  neighbours (feature selection as in Ning & Karypis' fsSLIM, 2012) it needs no dense items x items
  matrix: the weights are a sparse matrix with at most ``engagement_neighbours`` entries per
  column, and fitting solves one small system per item. On the real sets in ``shared/data`` it
  matched full EASE (Electronics 2014: NDCG@10 0.183 vs 0.182; MovieLens: 0.297 vs 0.267) and beat
  implicit's item-cosine and ALS.
* ``popularity``: the item's number of training ratings (the same for everyone).
* ``none``: no engagement; the ranking is by predicted stars alone.

Scores are strictly positive: ``max(e_uj, 0)`` plus a floor of ``FLOOR`` times the person's largest
score, spread by popularity, so items without any evidence still rank (most rated first) and a
person with no ratings gets the popularity order.

**The mix** (options ``best_stars_weight`` and ``worst_stars_weight``, one per direction): how many
units of log-engagement one predicted star is worth; see :func:`deepcart.pipeline.rank.relevance`.

**Exclusive lists** (option ``exclusive_lists``, off by default). On sparse Amazon data engagement
dominates both lists, so a person's best and worst top-10 share most items (60-80% with the tuned
weights on the real Amazon sets, 8-40% on MovieLens and Toys): the models cannot tell well which of
the products a person will meet are the ones that will disappoint, and the metrics reward listing
likely products either way. ``exclusive_lists=true`` splits each person's candidates at their
median predicted stars (worst lists below, best lists above), at a measured cost in NDCG@10
(``README.md``, "Quality on real data").
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, Literal

import numpy as np
import pydantic

from deepcart.toolkit.similarity import Pairwise, top_per_row, unit_rows

if TYPE_CHECKING:
    import scipy.sparse as sp

#: A person's weakest engagement relative to their strongest (keeps ``log`` finite, orders the
#: items without evidence by popularity).
FLOOR = 1e-3
#: Item regressions solved at once.
SOLVE_BATCH = 256
#: Options that only change how a fitted model ranks: no refit is needed to try other values.
RANKING_ONLY = ("best_stars_weight", "worst_stars_weight")
ENGAGEMENT_KINDS = ("item-regression", "popularity", "none")


def stars_weight_field(default: float, direction: str) -> Any:
    """The pydantic field of ``best_stars_weight`` / ``worst_stars_weight`` with another default.

    ``best_stars_weight: float = stars_weight_field(0.25, "best")`` in a subclass of
    :class:`EngagementOptions` changes only the default.
    """
    what = "one predicted star" if direction == "best" else "one predicted star below"
    return pydantic.Field(default, ge=0, description=f"{direction} lists: log-engagement units {what} is worth")


class EngagementOptions(pydantic.BaseModel):
    """Ranking options shared by deepcart's recommenders: the engagement model and the mix.

    A recommender's ``Config`` inherits them (``class MyConfig(EngagementOptions)``) and may change
    the defaults, which deepcart's built-ins set by ``deepcart tune`` on real data.
    """

    model_config = pydantic.ConfigDict(extra="forbid")

    engagement: Literal["item-regression", "popularity", "none"] = pydantic.Field(
        "item-regression", description="how likely a person is to rate an item at all (see docs)")
    engagement_neighbours: int = pydantic.Field(
        100, ge=1, description="item-regression: items that predict each item's engagement")
    engagement_l2: float = pydantic.Field(
        100.0, gt=0, description="item-regression: ridge penalty of each item's regression")
    best_stars_weight: float = stars_weight_field(0.5, "best")
    worst_stars_weight: float = stars_weight_field(0.5, "worst")
    exclusive_lists: bool = pydantic.Field(
        False, description="worst lists only below the person's median predicted stars, best lists only above")


class PopularityEngagement:
    """Engagement = the item's share of training ratings, the same for everyone."""

    kind: ClassVar[str] = "popularity"

    def __init__(self, counts: np.ndarray):
        self.counts = np.asarray(counts, dtype=np.float64)
        self.prior = _prior(self.counts)

    @classmethod
    def fit(cls, train: sp.csr_matrix, options: EngagementOptions) -> PopularityEngagement:
        """Count each item's ratings in the users x items ``train``."""
        return cls(np.bincount(train.indices, minlength=train.shape[1]))

    def scores(self, rows: sp.csr_matrix) -> np.ndarray:
        """``(len(rows), n_items)`` float32: the popularity prior for every person."""
        return np.tile(self.prior.astype(np.float32), (rows.shape[0], 1))

    def arrays(self) -> dict[str, np.ndarray]:
        """Plain arrays for a model file (see :func:`engagement_arrays`)."""
        return {"counts": self.counts}

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], n_items: int) -> PopularityEngagement:
        """Rebuild from :meth:`arrays`, checking the shape."""
        counts = _checked(arrays, "counts", (n_items,))
        return cls(counts)


class ItemRegressionEngagement:
    """Sparse EASE on the 0/1 matrix: each item regressed on its most similar items (module docs)."""

    kind: ClassVar[str] = "item-regression"

    def __init__(self, weights: sp.csr_matrix, counts: np.ndarray):
        self.weights = weights  # items x items: column j holds w_j over N(j)
        self.counts = np.asarray(counts, dtype=np.float64)
        self.prior = _prior(self.counts)

    @classmethod
    def fit(cls, train: sp.csr_matrix, options: EngagementOptions) -> ItemRegressionEngagement:
        """Learn the sparse weights from the users x items ``train`` (any values: only who rated counts).

        Each item's system is small (``engagement_neighbours`` square): the grams are gathered item
        by item from the 0/1 columns, and solved in batches of :data:`SOLVE_BATCH` on one BLAS
        thread (threads only add overhead at this size, and stall when the machine is busy).
        """
        import scipy.sparse as sp
        from threadpoolctl import threadpool_limits

        binary = _binary(train)
        n_items = binary.shape[1]
        neighbours = _neighbours(binary, options.engagement_neighbours)
        columns = binary.tocsc()
        width = int(np.diff(neighbours.indptr).max(initial=0))
        rows, cols, vals = [], [], []
        batch: list[tuple[int, np.ndarray, np.ndarray]] = []

        def solve() -> None:
            # Padded to one width: an unused slot is an identity row with a 0 target, so its weight is 0.
            systems = np.tile(np.eye(width), (len(batch), 1, 1))
            targets = np.zeros((len(batch), width))
            for b, (_, near, gram) in enumerate(batch):
                m = len(near)
                systems[b, :m, :m] = gram[:-1, :-1]
                systems[b, np.arange(m), np.arange(m)] += options.engagement_l2
                targets[b, :m] = gram[:-1, -1]
            weights = np.linalg.solve(systems, targets[..., None])[..., 0]
            for b, (j, near, _) in enumerate(batch):
                rows.append(near)
                cols.append(np.full(len(near), j, dtype=np.int64))
                vals.append(weights[b, : len(near)])
            batch.clear()

        with threadpool_limits(1, "blas"):
            for j in range(n_items):
                near = neighbours.indices[neighbours.indptr[j]:neighbours.indptr[j + 1]]
                if not len(near):
                    continue
                both = columns[:, np.append(near, j)]
                batch.append((j, near, (both.T @ both).toarray()))
                if len(batch) == SOLVE_BATCH:
                    solve()
            if batch:
                solve()
        if rows:
            weights = sp.csr_matrix((np.concatenate(vals).astype(np.float32),
                                     (np.concatenate(rows), np.concatenate(cols))), shape=(n_items, n_items))
        else:
            weights = sp.csr_matrix((n_items, n_items), dtype=np.float32)
        weights.sort_indices()
        return cls(weights, np.bincount(binary.indices, minlength=n_items))

    def scores(self, rows: sp.csr_matrix) -> np.ndarray:
        """``(len(rows), n_items)`` float32 engagement of each person (CSR of their ratings), all > 0."""
        raw = np.asarray((_binary(rows) @ self.weights).todense(), dtype=np.float32)
        np.maximum(raw, 0.0, out=raw)
        top = raw.max(axis=1, initial=0.0)
        floor = np.where(top > 0, FLOOR * top, 1.0).astype(np.float32)
        raw += floor[:, None] * self.prior.astype(np.float32)[None, :]
        return raw

    def arrays(self) -> dict[str, np.ndarray]:
        """Plain arrays for a model file (see :func:`engagement_arrays`)."""
        w = self.weights
        return {"counts": self.counts, "indptr": w.indptr.astype(np.int64), "indices": w.indices.astype(np.int32),
                "data": w.data.astype(np.float32)}

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], n_items: int) -> ItemRegressionEngagement:
        """Rebuild from :meth:`arrays`, checking shapes, dtypes and index ranges first."""
        import scipy.sparse as sp

        counts = _checked(arrays, "counts", (n_items,))
        indptr = _checked(arrays, "indptr", (n_items + 1,)).astype(np.int64)
        indices, data = arrays.get("indices"), arrays.get("data")
        if indices is None or data is None or indices.ndim != 1 or data.shape != indices.shape:
            raise ValueError("engagement weights: indices and data must be 1-d arrays of one length")
        if indptr[0] != 0 or indptr[-1] != len(indices) or np.any(np.diff(indptr) < 0):
            raise ValueError("engagement weights: indptr does not describe the indices")
        if len(indices) and (indices.min() < 0 or indices.max() >= n_items):
            raise ValueError("engagement weights: an item index is out of range")
        weights = sp.csr_matrix((data.astype(np.float32), indices.astype(np.int32), indptr), shape=(n_items, n_items))
        return cls(weights, counts)


ENGAGEMENT_MODELS = {m.kind: m for m in (ItemRegressionEngagement, PopularityEngagement)}


def fit_engagement(train: sp.csr_matrix, options: EngagementOptions):
    """The engagement model ``options.engagement`` names, fitted on users x items ``train``; None for ``none``."""
    cls = ENGAGEMENT_MODELS.get(options.engagement)
    return None if cls is None else cls.fit(train, options)


def engagement_arrays(model) -> dict[str, np.ndarray]:
    """A fitted engagement model (or None) as ``engagement_*`` arrays to store beside the weights."""
    if model is None:
        return {}
    return {"engagement_kind": np.array(model.kind), **{f"engagement_{k}": v for k, v in model.arrays().items()}}


def engagement_from_arrays(arrays: dict[str, np.ndarray], n_items: int):
    """The engagement model stored by :func:`engagement_arrays` (None if there is none)."""
    if "engagement_kind" not in arrays:
        return None
    kind = str(arrays["engagement_kind"])
    cls = ENGAGEMENT_MODELS.get(kind)
    if cls is None:
        raise ValueError(f"unknown engagement model {kind!r} (known: {', '.join(ENGAGEMENT_MODELS)})")
    prefix = "engagement_"
    return cls.from_arrays({k[len(prefix):]: v for k, v in arrays.items() if k.startswith(prefix)}, n_items)


class EngagementRanking:
    """Mixin for recommenders whose config inherits :class:`EngagementOptions`.

    It provides the two optional members of the recommender contract that rankings read:
    ``fold_in_engagement_batch`` (from ``self._engagement``, fitted with :func:`fit_engagement`)
    and ``stars_weights`` (from the config).
    """

    _engagement: Any = None

    def fold_in_engagement_batch(self, matrix) -> np.ndarray | None:
        """Engagement of many people (CSR of their ratings over ``item_ids``), or None without a model."""
        if self._engagement is None:
            return None
        import scipy.sparse as sp

        return self._engagement.scores(sp.csr_matrix(matrix))

    @property
    def stars_weights(self) -> dict[str, float]:
        """Log-engagement units one predicted star is worth, per direction (the mix)."""
        return {"best": float(self.config.best_stars_weight), "worst": float(self.config.worst_stars_weight)}

    @property
    def exclusive_lists(self) -> bool:
        """Whether best and worst lists split the candidates at the median predicted stars."""
        return bool(self.config.exclusive_lists)


def _binary(matrix) -> sp.csr_matrix:
    """The 0/1 pattern of a ratings CSR (explicit zeros are no rating), float64."""
    import scipy.sparse as sp

    rows = sp.csr_matrix(matrix, dtype=np.float64, copy=True)
    rows.sum_duplicates()
    rows.eliminate_zeros()
    rows.data[:] = 1.0
    return rows


class _CosineOptions:
    """Plain cosine for :class:`~deepcart.toolkit.similarity.Pairwise`: no shrinking, positive only."""

    shrinkage = 0.0
    min_support = 1
    min_sim = 0.0
    block_size = 1024


def _neighbours(binary: sp.csr_matrix, n: int) -> sp.csr_matrix:
    """Items x items pattern: row ``j`` holds the ``n`` items most similar to ``j`` (cosine)."""
    import scipy.sparse as sp

    vectors = unit_rows(binary.T.tocsr())  # items x users
    pairs = Pairwise(vectors, _CosineOptions())
    counts, cols = [], []
    for start, stop in pairs.blocks(vectors):
        indptr, c, s = pairs.similarities(vectors[start:stop], diagonal=start)
        keep = top_per_row(indptr, c, s, n)
        kept = np.concatenate([[0], np.cumsum(keep)])
        counts.append(np.diff(kept[indptr]))
        cols.append(c[keep])
    n_items = binary.shape[1]
    indptr = np.concatenate([[0], np.cumsum(np.concatenate(counts))]) if counts else np.zeros(n_items + 1)
    indices = np.concatenate(cols) if cols else np.zeros(0, np.int32)
    out = sp.csr_matrix((np.ones(len(indices), np.float32), indices, indptr.astype(np.int64)),
                        shape=(n_items, n_items))
    out.sort_indices()
    return out


def _prior(counts: np.ndarray) -> np.ndarray:
    """Popularity scaled to (0, 1]: (count + 1) / (max count + 1)."""
    counts = np.asarray(counts, dtype=np.float64)
    return (counts + 1.0) / (counts.max(initial=0.0) + 1.0)


def _checked(arrays: dict[str, np.ndarray], name: str, shape: tuple[int, ...]) -> np.ndarray:
    value = arrays.get(name)
    if value is None or value.shape != shape or not np.issubdtype(value.dtype, np.number):
        raise ValueError(f"engagement {name}: expected a numeric array of shape {shape}")
    return value

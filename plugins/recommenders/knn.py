"""The ``knn`` recommender: neighbourhood collaborative filtering, item-based (default) or user-based.

It predicts star ratings, so that the same scores rank a person's best *and* worst products. With
``d`` = ``damping``, ``λ`` = ``shrinkage`` and ``N`` = ``neighbours``, everything is computed from
the training ratings ``r``:

**Baselines** (damped means, as in Koren's neighbourhood models)::

    μ    = mean of all training ratings
    b_i  = Σ_{u rated i} (r_ui - μ) / (n_i + d)
    b_u  = Σ_{j rated by u} (r_uj - μ - b_j) / (n_u + d)
    b_ui = μ + b_u + b_i

**Similarity.** Each item (``kind="item"``) or user (``kind="user"``) is a sparse vector ``x`` of
centred ratings, with plain (undamped) means:

* ``cosine``: the raw ratings;
* ``adjusted-cosine`` (default): minus the mean of the *other* side: item vectors minus each user's
  mean (Sarwar et al., 2001), user vectors minus each item's mean;
* ``pearson``: minus the vector's *own* mean: item vectors minus the item's mean, user vectors minus
  the user's mean.

``s_ab = x_a . x_b / (|x_a| |x_b|)``, each norm over *all* of that vector's ratings (as LensKit does;
for ``pearson`` this is exactly the Pearson correlation of the two columns with unrated entries set to
the mean). It is shrunk by its support ``n_ab``, the number of users who rated both items (items
rated by both users)::

    s'_ab = s_ab * n_ab / (n_ab + λ)

A pair is a candidate neighbour when ``s'_ab > min_sim``, ``s'_ab != 0`` and ``n_ab >= min_support``;
candidates rank by ``|s'_ab|``, ties to the lowest index.

**Prediction**, item-based: ``N(i)`` is the stored neighbour graph (item ``i``'s ``N`` best
candidates, a CSR matrix), ``J = N(i) ∩ {items u rated}`` and ``δ`` = ``neighbour_damping``::

    pred(u, i) = clip(b_ui + Σ_{j in J} s'_ij (r_uj - b_uj) / (δ + Σ_{j in J} |s'_ij|),  1, 5)

or ``clip(b_ui, 1, 5)`` when ``J`` is empty. User-based: ``V`` is the ``N`` best candidate neighbours
of ``u`` among the users who rated ``i``, and ``s'_uv (r_vi - b_vi)`` is averaged the same way.

**Why δ.** ``δ`` acts as one phantom neighbour of similarity ``δ`` whose residual is 0. Without it,
an item whose only rated neighbour is one weak, barely supported pair takes that one rating's whole
residual: a single 1-star rating drags dozens of loosely related items to the bottom, and the worst
list fills with them. With ``δ`` = 0.05 (a pair co-rated by about two people at the default
shrinkage), weak evidence moves a prediction a little and strong evidence almost fully; on the
default synthetic data it takes worst-direction NDCG@10 from 0.029 (below the item mean's 0.031)
to 0.052, best-direction NDCG@10 from 0.015 to 0.027 and RMSE from 1.059 to 1.023 (0.2 is already
too much: 0.037, 0.016, 1.043).

A folded-in person is scored exactly like a training user (``b_u`` from their ratings, the same
sums), so folding in a training user's ratings reproduces their ``predict`` row. In the user-based
model that includes the person being their own most similar user, which only touches items they
have already rated (never a recommendation candidate).

**Why adjusted cosine by default.** Amazon ratings are J-shaped: most people give nearly everything
4 or 5 stars, so raw cosine is close to 1 for almost any co-rated pair and measures co-purchase, not
taste. Subtracting each user's mean keeps only *relative* preferences: someone who rates everything 5
contributes nothing, a 5 next to a 2 says a lot. Sarwar et al. found it the most accurate of the
three for item-based rating prediction. User-based, the classic choice is ``pearson`` (each user's
ratings minus their own mean).

**Cost.** Similarities are computed blockwise: a block of rows times the whole matrix as one scipy
sparse product (the support counts ride in the same float64 product: ``[X | 4B] @ [X; B]`` gives
``s + 4n`` with ``|s| <= 1``), then the top ``N`` of each row are kept. A block holds at most
``block_size`` rows and about 4M similarity entries, so memory stays bounded whatever the catalogue
size; no items x items (or users x users) dense matrix is ever built. Item-based scoring of any number
of people is one sparse product of their residuals with the transposed graph (complex-valued:
``Σ (z + i) s' = Σ z s' + i Σ s'`` gives both sums); :meth:`KNNRecommender.top_k` and
:meth:`~KNNRecommender.recommend` then rank only the items that have a neighbour term, the others
ranking by ``b_i`` in an order sorted once. User-based scoring computes the person's similarities to
the training users on the fly (blockwise, then a loop over people): fine for evaluation, slower.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar, Literal

import numpy as np
import pydantic

from deepcart import hookimpl
from deepcart.ratings import Ratings

if TYPE_CHECKING:
    import scipy.sparse as sp

#: Similarity entries per block (a block also stops at ``block_size`` rows).
BLOCK_ENTRIES = 1 << 22
#: Cells of one padded array in the per-row top-N selection.
PAD_CELLS = 1 << 21
#: Dense score cells per batch in ``predict`` (float32: 128 MB).
SCORE_CELLS = 1 << 25
#: Rows per batch in the item-based ``top_k`` (bounds its sparse working arrays).
TOP_K_ROWS = 4096
#: Marker added to ``den`` at rated items by the top-k product (far above any Σ |s'|, exact in f32).
RATED = float(1 << 20)
#: Weight of the support counts in the packed product (must exceed 2 * max |s| = 2).
SUPPORT_SCALE = 4.0
FORMAT_VERSION = 1


class KNNConfig(pydantic.BaseModel):
    """Options of the ``knn`` recommender."""

    model_config = pydantic.ConfigDict(extra="forbid")

    kind: Literal["item", "user"] = pydantic.Field(
        "item", description="item-based (neighbour graph of items) or user-based neighbourhoods"
    )
    similarity: Literal["cosine", "adjusted-cosine", "pearson"] = pydantic.Field(
        "adjusted-cosine", description="how two rating vectors are compared (see the module docs)"
    )
    neighbours: int = pydantic.Field(
        50, ge=1, description="item: neighbours kept per item; user: neighbours used per item"
    )
    shrinkage: float = pydantic.Field(
        25.0, ge=0, description="similarity times n/(n + shrinkage), n = co-rating count"
    )
    min_support: int = pydantic.Field(1, ge=1, description="fewest co-ratings for a neighbour pair")
    min_sim: float = pydantic.Field(
        0.0, ge=-1.0, lt=1.0, description="keep neighbours with shrunk similarity above this"
    )
    damping: float = pydantic.Field(5.0, ge=0, description="pseudo-ratings in the baseline means")
    neighbour_damping: float = pydantic.Field(
        0.05, ge=0, description="added to the neighbour weights' sum: weak evidence stays near the baseline"
    )
    block_size: int = pydantic.Field(1024, ge=1, description="most rows per similarity block")


class KNNRecommender:
    """Item-based (or user-based) k-nearest-neighbour collaborative filtering on sparse matrices."""

    Config: ClassVar[type] = KNNConfig
    #: A person's own ratings move the predictions (see the Recommender contract).
    personalised: ClassVar[bool] = True

    def __init__(self, config: KNNConfig | None = None):
        self.config = config or KNNConfig()
        self._items = np.array([], dtype=str)
        self._users = np.array([], dtype=str)
        self._mu = 3.0
        self._item_bias = np.zeros(0)
        self._train = None  # users x items CSR of the training ratings
        self._graph = None  # item-based: items x items CSR, row i = the neighbours of i
        self._cache: dict = {}

    @property
    def item_ids(self) -> np.ndarray:
        return self._items

    @property
    def neighbour_graph(self) -> sp.csr_matrix | None:
        """Item-based: the items x items CSR of shrunk similarities (row ``i``: ``N(i)``)."""
        return self._graph

    # -- training ---------------------------------------------------------------------------------

    def fit(self, train: Ratings, *, seed: int = 0, validation=None) -> KNNRecommender:
        """Compute the baselines and, item-based, the neighbour graph (deterministic; no seed used)."""
        import scipy.sparse as sp

        self._cache = {}
        ratings = train.csr()
        ratings.sum_duplicates()  # also sorts the indices: fold-in rows are built the same way
        self._train = sp.csr_matrix(ratings, dtype=np.float32)
        self._items = np.asarray(train.item_ids).astype(str)
        self._users = np.asarray(train.user_ids).astype(str)
        counts = np.bincount(self._train.indices, minlength=len(self._items))
        values = self._train.data.astype(np.float64)
        self._mu = float(values.mean()) if len(values) else 3.0
        sums = np.bincount(self._train.indices, weights=values - self._mu, minlength=len(self._items))
        self._item_bias = _safe_divide(sums, counts + self.config.damping)
        self._graph = self._item_graph() if self.config.kind == "item" else None
        self._prepare()
        return self

    def _item_graph(self) -> sp.csr_matrix:
        """Top-N item neighbours, computed block of items by block of items."""
        import scipy.sparse as sp

        cfg, train = self.config, self._train
        centred = _centred(train, self._centre_rows(), self._centre_columns(), self._item_means())
        vectors = _unit_rows(centred.T.tocsr())  # items x users
        pairs = _Pairwise(vectors, cfg)
        counts, cols, sims = [], [], []
        for start, stop in pairs.blocks(vectors):
            indptr, c, s = pairs.similarities(vectors[start:stop], diagonal=start)
            key = s if cfg.min_sim >= 0 else np.abs(s)
            keep = _top_per_row(indptr, c, key, cfg.neighbours)
            kept = np.concatenate([[0], np.cumsum(keep)])
            counts.append(np.diff(kept[indptr]))
            cols.append(c[keep])
            sims.append(s[keep])
        n = len(self._items)
        indptr = np.concatenate([[0], np.cumsum(np.concatenate(counts))]) if counts else np.zeros(n + 1)
        graph = sp.csr_matrix(
            (np.concatenate(sims) if sims else np.zeros(0, np.float32),
             np.concatenate(cols) if cols else np.zeros(0, np.int32), indptr.astype(np.int64)),
            shape=(n, n),
        )
        graph.sort_indices()
        return graph

    def _prepare(self) -> None:
        """Derive the lookup tables and scoring matrices from the fitted (or loaded) state."""
        self._cache = {
            "item_sorter": np.argsort(self._items, kind="stable"),
            "user_sorter": np.argsort(self._users, kind="stable"),
        }
        self._cache["items_sorted"] = self._items[self._cache["item_sorter"]]
        self._cache["users_sorted"] = self._users[self._cache["user_sorter"]]
        cols = np.arange(len(self._items))
        # Items without neighbour terms rank by b_i alone: presorted once for top_k.
        self._cache["item_bias32"] = self._item_bias.astype(np.float32)
        self._cache["order_best"] = np.lexsort((cols, -self._cache["item_bias32"]))
        self._cache["order_worst"] = np.lexsort((cols, self._cache["item_bias32"]))
        if self.config.kind == "item":
            transposed = self._graph.T.tocsr()  # row j: the items that have j as a neighbour
            transposed.sort_indices()
            if self.config.min_sim >= 0:
                self._cache["graph_t_complex"] = transposed.astype(np.complex64)
            else:  # a negative s' would spoil Σ s as Σ |s|: two real products instead
                self._cache["graph_t"] = transposed
                absolute = transposed.copy()
                absolute.data = np.abs(absolute.data)
                self._cache["graph_t_abs"] = absolute

    def _user_model(self) -> dict:
        """User-based state, built on first use: neighbours' residuals and the similarity operand."""
        import scipy.sparse as sp

        if "pairs" not in self._cache:
            train = self._train
            bias = self._row_bias(train)
            residual = train.data - self._mu - self._item_bias[train.indices] - _per_entry(train, bias)
            self._cache["residuals"] = sp.csr_matrix(
                (residual.astype(np.float32), train.indices, train.indptr), shape=train.shape
            )
            vectors = _unit_rows(
                _centred(train, self._centre_rows(), self._centre_columns(), self._item_means())
            )
            self._cache["pairs"] = _Pairwise(vectors, self.config)
        return self._cache

    def _centre_rows(self) -> bool:
        """Whether similarity vectors subtract the (person's) row mean."""
        kind, similarity = self.config.kind, self.config.similarity
        return (kind, similarity) in {("item", "adjusted-cosine"), ("user", "pearson")}

    def _centre_columns(self) -> bool:
        """Whether similarity vectors subtract the item's mean."""
        kind, similarity = self.config.kind, self.config.similarity
        return (kind, similarity) in {("item", "pearson"), ("user", "adjusted-cosine")}

    def _item_means(self) -> np.ndarray:
        if "item_means" not in self._cache:
            train = self._train
            counts = np.bincount(train.indices, minlength=train.shape[1])
            sums = np.bincount(train.indices, weights=train.data, minlength=train.shape[1])
            self._cache["item_means"] = _safe_divide(sums, counts)
        return self._cache["item_means"]

    # -- scoring ----------------------------------------------------------------------------------

    def _row_bias(self, rows: sp.csr_matrix) -> np.ndarray:
        """``b_u`` of each row of a ratings CSR (training users and folded-in people alike)."""
        deviation = rows.data.astype(np.float64) - self._mu - self._item_bias[rows.indices]
        owner = np.repeat(np.arange(rows.shape[0]), np.diff(rows.indptr))
        sums = np.bincount(owner, weights=deviation, minlength=rows.shape[0])
        return _safe_divide(sums, np.diff(rows.indptr) + self.config.damping)

    def _item_terms(self, rows: sp.csr_matrix, *, mark_rated: bool = False):
        """Item-based neighbour sums of each row: ``(b_u, indptr, cols, num, den)`` on one pattern.

        ``num = Σ s'_ij z_uj`` and ``den = Σ |s'_ij|`` over the rated neighbours ``j`` of item ``i``;
        entries exist exactly where ``den > 0``. ``mark_rated`` (for :meth:`top_k`) adds ``RATED``
        to ``den`` at every rated item, so that rated items show up in the pattern and are told
        apart by ``den > RATED / 2`` (their num/den are then meaningless).
        """
        import scipy.sparse as sp

        bias = self._row_bias(rows)
        residual = rows.data - self._mu - self._item_bias[rows.indices] - _per_entry(rows, bias)
        if self.config.min_sim >= 0:
            # s' > 0: one complex product gives both sums, Σ (z + i) s = Σ z s + i Σ s.
            z = sp.csr_matrix(
                ((residual + 1j).astype(np.complex64), rows.indices, rows.indptr), shape=rows.shape
            )
            sums = z @ self._operand("graph_t_complex", mark_rated)  # Σ s > 0 at every entry
            return bias, sums.indptr, sums.indices, sums.data.real, sums.data.imag
        z = sp.csr_matrix((residual.astype(np.float32), rows.indices, rows.indptr), shape=rows.shape)
        rated = sp.csr_matrix(
            (np.ones(rows.nnz, np.float32), rows.indices, rows.indptr), shape=rows.shape
        )
        num = z @ self._cache["graph_t"]
        den = rated @ self._operand("graph_t_abs", mark_rated)  # sums of |s| > 0: no entry dropped
        return bias, den.indptr, den.indices, _align(num, den), den.data

    def _operand(self, name: str, mark_rated: bool):
        """A cached transposed graph, or (built on first use) that graph plus ``RATED`` times I."""
        import scipy.sparse as sp

        if not mark_rated:
            return self._cache[name]
        if name + "_marked" not in self._cache:
            operand = self._cache[name]
            diagonal = sp.identity(operand.shape[0], dtype=operand.dtype, format="csr") * RATED
            self._cache[name + "_marked"] = (operand + diagonal).tocsr()
        return self._cache[name + "_marked"]

    def _dense_scores(self, rows: sp.csr_matrix, *, clip: bool = True) -> np.ndarray:
        """Predictions for every catalogue item, one row per ratings row (float32)."""
        if self.config.kind == "item":
            bias, indptr, cols, num, den = self._item_terms(rows)
            out = self._base(bias)
            owner = np.repeat(np.arange(rows.shape[0]), np.diff(indptr))
            out[owner, cols] += num / (den + self.config.neighbour_damping)
        else:
            bias = self._row_bias(rows)
            out = self._base(bias)
            for person, num, den in self._user_terms(rows):
                hit = den > 0
                out[person, hit] += (num[hit] / (den[hit] + self.config.neighbour_damping)).astype(np.float32)
        if clip:
            np.clip(out, 1.0, 5.0, out=out)
        return out

    def _base(self, bias: np.ndarray) -> np.ndarray:
        """Dense ``b_ui`` for each row's ``b_u`` and every item."""
        return (self._mu + bias).astype(np.float32)[:, None] + self._cache["item_bias32"][None, :]

    def _user_terms(self, rows: sp.csr_matrix) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
        """User-based neighbour sums ``(row, num, den)`` over all items, one person at a time."""
        cache = self._user_model()
        pairs, residuals = cache["pairs"], cache["residuals"]
        people = _unit_rows(
            _centred(rows.astype(np.float64), self._centre_rows(), self._centre_columns(),
                     self._item_means())
        )
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

    # -- the Recommender contract -----------------------------------------------------------------

    def predict(self, users: Sequence[str], items: Sequence[str] | None = None) -> np.ndarray:
        """Predicted ratings of training users (their training ratings folded in); NaN if unknown."""
        cols, known_items = self._columns(items)
        rows, known_users = _positions(self._cache.get("users_sorted", self._users),
                                       self._cache.get("user_sorter"), users)
        out = np.full((len(rows), len(cols)), np.nan, dtype=np.float32)
        where = np.flatnonzero(known_users)
        step = max(1, SCORE_CELLS // max(len(self._items), 1))
        for lo in range(0, len(where), step):
            chunk = where[lo : lo + step]
            scores = self._dense_scores(self._train[rows[chunk]])
            out[np.ix_(chunk, np.flatnonzero(known_items))] = scores[:, cols[known_items]]
        return out

    def fold_in(
        self, history: Sequence[tuple[str, float]], items: Sequence[str] | None = None
    ) -> np.ndarray:
        """Predicted ratings of a new person from ``(parent_asin, rating)`` pairs (unknown items ignored)."""
        scores = self._dense_scores(self._history_row(history))[0]
        if items is None:
            return scores
        cols, known = self._columns(items)
        out = np.full(len(cols), np.nan, dtype=np.float32)
        out[known] = scores[cols[known]]
        return out

    def fold_in_batch(self, matrix) -> np.ndarray:
        """Predictions for many new people at once: CSR rows = people, columns in ``item_ids`` order."""
        return self._dense_scores(self._as_rows(matrix))

    def top_k(self, matrix, k: int = 10, *, direction: Literal["best", "worst"] = "best"):
        """The ``k`` highest (``best``) or lowest (``worst``) predicted unrated items of each row.

        ``matrix`` is a ratings CSR like :meth:`fold_in_batch`'s; its items are never returned.
        Returns ``(columns, scores)``, both ``(rows, k)``: column indices into :attr:`item_ids`
        (``-1`` past the end of the catalogue) and their clipped predictions (``NaN`` there). Items
        rank by the *unclipped* estimate, ties to the lowest column, so several items clipped to 5
        keep the order of their evidence. Item-based, only the items that have neighbour terms are
        touched (the rest rank by ``b_i``, sorted once), so the cost does not grow with the catalogue.
        """
        if direction not in ("best", "worst"):
            raise ValueError(f"direction must be 'best' or 'worst', not {direction!r}")
        rows = self._as_rows(matrix)
        sign = 1.0 if direction == "best" else -1.0
        columns = np.full((rows.shape[0], k), -1, dtype=np.int64)
        scores = np.full((rows.shape[0], k), np.nan, dtype=np.float32)
        step = TOP_K_ROWS if self.config.kind == "item" else max(1, SCORE_CELLS // max(rows.shape[1], 1))
        for lo in range(0, rows.shape[0], step):
            chunk = rows[lo : lo + step]
            if self.config.kind == "user":
                part = _dense_top_k(self._dense_scores(chunk, clip=False), chunk, k, sign)
            else:
                part = self._sparse_top_k(chunk, k, sign, direction)
            columns[lo : lo + step], scores[lo : lo + step] = part
        return columns, scores

    def recommend(
        self, history: Sequence[tuple[str, float]], k: int = 10, *,
        direction: Literal["best", "worst"] = "best",
    ) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` best (or worst) unrated items for one person: ``(parent_asins, predictions)``.

        :meth:`fold_in` followed by :meth:`top_k`, without building a row for the whole catalogue.
        """
        columns, scores = self.top_k(self._history_row(history), k, direction=direction)
        found = columns[0] >= 0
        return self._items[columns[0][found]], scores[0][found]

    def save(self, folder: Path) -> None:
        """Write ``weights.npz`` (plain arrays) and ``config.json`` into ``folder``."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        arrays = {
            "format_version": np.array(FORMAT_VERSION),
            "items": self._items,
            "users": self._users,
            "mu": np.array(self._mu),
            "item_bias": self._item_bias,
            "train_indptr": self._train.indptr,
            "train_indices": self._train.indices,
            "train_data": self._train.data,
        }
        if self._graph is not None:
            arrays |= {"graph_indptr": self._graph.indptr, "graph_indices": self._graph.indices,
                       "graph_data": self._graph.data}
        np.savez(folder / "weights.npz", **arrays)
        (folder / "config.json").write_text(self.config.model_dump_json())

    @classmethod
    def load(cls, folder: Path) -> KNNRecommender:
        """Read a model written by :meth:`save` (no pickle)."""
        import scipy.sparse as sp

        folder = Path(folder)
        config = KNNConfig.model_validate_json((folder / "config.json").read_text())
        model = cls(config)
        with np.load(folder / "weights.npz", allow_pickle=False) as data:
            version = int(data["format_version"])
            if version != FORMAT_VERSION:
                raise ValueError(f"{folder}: knn model format {version} (this version reads {FORMAT_VERSION})")
            model._items, model._users = data["items"], data["users"]
            model._mu, model._item_bias = float(data["mu"]), data["item_bias"]
            shape = (len(model._users), len(model._items))
            model._train = sp.csr_matrix(
                (data["train_data"], data["train_indices"], data["train_indptr"]), shape=shape
            )
            if "graph_data" in data:
                n = len(model._items)
                model._graph = sp.csr_matrix(
                    (data["graph_data"], data["graph_indices"], data["graph_indptr"]), shape=(n, n)
                )
        model._prepare()
        return model

    # -- helpers ----------------------------------------------------------------------------------

    def _columns(self, items: Sequence[str] | None) -> tuple[np.ndarray, np.ndarray]:
        if items is None:
            return np.arange(len(self._items)), np.ones(len(self._items), bool)
        return _positions(self._cache.get("items_sorted", self._items), self._cache.get("item_sorter"),
                          items)

    def _history_row(self, history: Sequence[tuple[str, float]]) -> sp.csr_matrix:
        """One ratings row from ``(parent_asin, rating)`` pairs; unknown items dropped, last rating wins."""
        import scipy.sparse as sp

        ids = [str(item) for item, _ in history]
        values = np.array([float(rating) for _, rating in history], dtype=np.float32)
        cols, known = self._columns(ids)
        known &= np.isfinite(values)
        cols, values = cols[known][::-1], values[known][::-1]
        cols, first = np.unique(cols, return_index=True)  # reversed: keeps the last rating given
        return sp.csr_matrix(
            (values[first], cols.astype(np.int32), np.array([0, len(cols)], dtype=np.int32)),
            shape=(1, len(self._items)),
        )

    def _as_rows(self, matrix) -> sp.csr_matrix:
        import scipy.sparse as sp

        rows = sp.csr_matrix(matrix, dtype=np.float32, copy=True)
        if rows.shape[1] != len(self._items):
            raise ValueError(f"expected {len(self._items)} item columns, got {rows.shape[1]}")
        rows.sum_duplicates()
        return rows

    def _sparse_top_k(self, rows: sp.csr_matrix, k: int, sign: float, direction: str):
        """Item-based top-k: the items with neighbour terms, plus the presorted b_i order for the rest.

        The k best items without a neighbour term come first (their keys only need ``b_i``); any
        item with a term that ranks below the k-th of those cannot make the list and is dropped
        before the per-row selection.
        """
        n_rows, n_items = rows.shape
        bias, indptr, cols, num, den = self._item_terms(rows, mark_rated=True)
        lengths = np.diff(indptr)
        row_base = (self._mu + bias).astype(np.float32)
        item_base = self._cache["item_bias32"]
        # Every rated item and every item with a neighbour term is in the pattern: the rest score b_ui.
        base_rows, base_cols = _first_free(self._cache[f"order_{direction}"], indptr, cols, n_rows,
                                           n_items, k)
        base_key = sign * (row_base[base_rows] + item_base[base_cols])
        # The k-th best baseline key of each row that has k of them (else nothing is dropped).
        counts = np.bincount(base_rows, minlength=n_rows)
        threshold = np.full(n_rows, -np.inf, dtype=np.float32)
        some = counts > 0
        if some.any():
            lowest = np.minimum.reduceat(base_key, (np.cumsum(counts) - counts)[some])
            threshold[some] = np.where(counts[some] >= k, lowest, -np.inf)
        # Entries are compared without their row's b_u + μ (one addition fewer per entry).
        with np.errstate(invalid="ignore", over="ignore"):
            term = item_base[cols] + num / (den + self.config.neighbour_damping)
        if sign > 0:
            live = term >= np.repeat(threshold - row_base, lengths)
        else:
            live = term <= np.repeat(-threshold - row_base, lengths)
        live = np.flatnonzero(live & (den < RATED / 2))
        owner = np.repeat(np.arange(n_rows, dtype=np.int64), lengths)[live]
        cols = cols[live].astype(np.int64)
        key = sign * (row_base[owner] + term[live])
        keep = _top_per_row(np.searchsorted(owner, np.arange(n_rows + 1)), cols, key, k)
        return _rank_candidates(
            np.concatenate([owner[keep], base_rows]), np.concatenate([cols[keep], base_cols]),
            np.concatenate([key[keep], base_key]), n_rows, k, sign,
        )


class _Pairwise:
    """Shrunk, filtered similarities between the rows of a matrix and the rows of ``right``, blockwise.

    Rows are unit vectors, so a dot product is a similarity. When support counts are needed, one
    float64 product of ``[X | 4B]`` (``B``: the pattern of ``X`` as ones) with ``[Xr; Br]`` yields
    ``s + 4n`` per pair: ``n = rint(v / 4)`` and ``s = v - 4n`` because ``|s| <= 1``. That is one
    sparse product instead of two, with no need to match two result patterns.
    """

    def __init__(self, right: sp.csr_matrix, config: KNNConfig):
        import scipy.sparse as sp

        self.config = config
        self.support = config.shrinkage > 0 or config.min_support > 1
        self.n_right = right.shape[0]
        transposed = right.T.tocsr()  # dims x right rows
        self.dim_counts = np.diff(transposed.indptr)
        if self.support:
            ones = _pattern(transposed, 1.0, np.float64)
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
            left = sp.hstack([block.astype(np.float64), _pattern(block, SUPPORT_SCALE, np.float64)],
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


# -- array helpers (vectorised, no Python loop per row) ---------------------------------------------


def _safe_divide(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """``numerator / denominator`` with 0 where the denominator is 0."""
    out = np.zeros(len(numerator), dtype=np.float64)
    np.divide(numerator, denominator, out=out, where=denominator > 0)
    return out


def _per_entry(rows: sp.csr_matrix, per_row: np.ndarray) -> np.ndarray:
    """Broadcast one value per row to the row's stored entries."""
    return np.repeat(per_row, np.diff(rows.indptr))


def _pattern(matrix: sp.csr_matrix, value: float, dtype) -> sp.csr_matrix:
    """The same sparsity pattern (explicit zeros included) with every entry set to ``value``."""
    import scipy.sparse as sp

    return sp.csr_matrix(
        (np.full(matrix.nnz, value, dtype=dtype), matrix.indices, matrix.indptr), shape=matrix.shape
    )


def _centred(rows: sp.csr_matrix, row_mean: bool, column_mean: bool, item_means: np.ndarray):
    """Ratings minus the row mean and/or the column (item) mean; the pattern is kept as is."""
    import scipy.sparse as sp

    data = rows.data.astype(np.float64)
    if row_mean:
        counts = np.diff(rows.indptr)
        owner = np.repeat(np.arange(rows.shape[0]), counts)
        data = data - _per_entry(rows, _safe_divide(np.bincount(owner, data, rows.shape[0]), counts))
    if column_mean:
        data = data - item_means[rows.indices]
    return sp.csr_matrix((data, rows.indices, rows.indptr), shape=rows.shape)


def _unit_rows(matrix: sp.csr_matrix) -> sp.csr_matrix:
    """Rows scaled to unit length (all-zero rows stay zero, explicit entries kept)."""
    import scipy.sparse as sp

    owner = np.repeat(np.arange(matrix.shape[0]), np.diff(matrix.indptr))
    norms = np.sqrt(np.bincount(owner, weights=matrix.data**2, minlength=matrix.shape[0]))
    scale = _safe_divide(np.ones(len(norms)), norms)
    return sp.csr_matrix((matrix.data * scale[owner], matrix.indices, matrix.indptr), shape=matrix.shape)


def _ranges(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Concatenation of ``arange(s, s + n)`` for each start and length."""
    total = int(lengths.sum())
    if not total:
        return np.zeros(0, dtype=np.int64)
    offsets = np.cumsum(lengths) - lengths
    return np.arange(total) + np.repeat(starts.astype(np.int64) - offsets, lengths)


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


def _top_per_row(indptr: np.ndarray, cols: np.ndarray, key: np.ndarray, n: int) -> np.ndarray:
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


def _first_free(order: np.ndarray, indptr: np.ndarray, cols: np.ndarray, n_rows: int,
                n_items: int, k: int):
    """``(row, column)`` of the first ``k`` items of ``order`` outside each row of a CSR pattern.

    Only a prefix of ``order`` is read, lengthened for the rows that have not found ``k`` free items
    in it; each pass is linear in the entries. Rows come out in order, each row's items in ``order``'s
    order.
    """
    out_rows, out_cols = [], []
    todo = np.ones(n_rows, dtype=bool)
    length = min(n_items, k + 64)
    while todo.any():
        head = order[:length]
        slot = np.full(n_items, -1, dtype=np.int64)
        slot[head] = np.arange(length)
        rows = np.flatnonzero(todo)
        index = np.full(n_rows, -1, dtype=np.int64)
        index[rows] = np.arange(len(rows))
        hit = np.flatnonzero(slot[cols] >= 0)
        hit_rows = np.searchsorted(indptr, hit, side="right") - 1
        mine = todo[hit_rows]
        free = np.ones((len(rows), length), dtype=bool)
        free[index[hit_rows[mine]], slot[cols[hit[mine]]]] = False
        taken = free & (np.cumsum(free, axis=1) <= k)
        done = (taken.sum(axis=1) >= k) | (length >= n_items)
        r, c = np.nonzero(taken[done])
        out_rows.append(rows[done][r])
        out_cols.append(head[c])
        todo[rows[done]] = False
        length = min(n_items, length * 4)
    rows, cols = np.concatenate(out_rows), np.concatenate(out_cols)
    by_row = np.argsort(rows, kind="stable")
    return rows[by_row], cols[by_row]


def _rank_candidates(owner, cols, key, n_rows: int, k: int, sign: float):
    """Per row, the ``k`` candidates of highest ``key`` (ties: lowest column), padded with -1/NaN.

    ``key`` is ``sign * unclipped score``; the scores returned are clipped to [1, 5].
    """
    order = np.lexsort((cols, -key, owner))
    owner, cols, key = owner[order], cols[order], key[order]
    starts = np.searchsorted(owner, np.arange(n_rows))
    rank = np.arange(len(owner)) - starts[owner]
    take = rank < k
    columns = np.full((n_rows, k), -1, dtype=np.int64)
    scores = np.full((n_rows, k), np.nan, dtype=np.float32)
    columns[owner[take], rank[take]] = cols[take]
    scores[owner[take], rank[take]] = np.clip(sign * key[take], 1.0, 5.0)
    return columns, scores


def _dense_top_k(unclipped: np.ndarray, rows: sp.csr_matrix, k: int, sign: float):
    """Top-k from dense unclipped scores, rated items excluded (the user-based path)."""
    keys = -sign * unclipped
    owner = np.repeat(np.arange(rows.shape[0]), np.diff(rows.indptr))
    keys[owner, rows.indices] = np.inf
    k_eff = min(k, keys.shape[1])
    if not k_eff:
        return _rank_candidates(owner[:0], owner[:0], np.zeros(0), rows.shape[0], k, sign)
    # Everything up to the k-th key is a candidate, so that ties at the cut go to low columns.
    kth = np.partition(keys, k_eff - 1, axis=1)[:, k_eff - 1 : k_eff]
    owner_c, cols_c = np.nonzero((keys <= kth) & np.isfinite(keys))
    return _rank_candidates(owner_c, cols_c, -keys[owner_c, cols_c], rows.shape[0], k, sign)


def _positions(sorted_ids: np.ndarray, sorter: np.ndarray | None, ids) -> tuple[np.ndarray, np.ndarray]:
    """Positions of ``ids`` in the index that ``sorter`` sorts, and which were found (vectorised)."""
    ids = np.asarray(ids).astype(str) if len(ids) else np.zeros(0, dtype=str)
    if not len(sorted_ids):
        return np.zeros(len(ids), dtype=np.int64), np.zeros(len(ids), dtype=bool)
    if sorter is None:
        sorter = np.argsort(sorted_ids, kind="stable")
        sorted_ids = sorted_ids[sorter]
    pos = np.clip(np.searchsorted(sorted_ids, ids), 0, len(sorted_ids) - 1)
    return sorter[pos], sorted_ids[pos] == ids


@hookimpl
def register_recommenders(register) -> None:
    """Register ``knn``."""
    register("knn", KNNRecommender)

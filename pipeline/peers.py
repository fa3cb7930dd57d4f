"""Peer systems for ``deepcart compare``: other libraries' recommenders, run as their users run them.

A peer learns from the 0/1 matrix of who rated what (all of them are implicit-feedback models) with
the library's own defaults, folds a held-out person's input ratings in the library's own way, and
ranks by its score in **both** directions: it has no notion of stars, so its worst list is its best
list ("what you will engage with", judged as a worst list too). Each is available only when its
library is installed; nothing here is imported before a peer is asked for.

* ``implicit-cosine``: ``implicit.nearest_neighbours.CosineRecommender`` (K=20); a person's scores
  are their 0/1 row times the item similarity matrix, as its ``recommend`` computes them.
* ``implicit-als``: ``implicit.cpu.als.AlternatingLeastSquares`` (factors=100, regularization=0.01,
  alpha=1, 15 iterations, seeded); a person's factors come from ``recalculate_user``.
* ``cornac-ease``: ``cornac.models.EASE`` (lamb=500, posB=True); scores are the 0/1 row times its
  ``B``.

One more peer is not a library but a **replica**, compared only when asked for (``--peer``):

* ``iknn-explicit``: LensKit's item-kNN in explicit mode (``ItemKNNScorer(20, feedback="explicit")``,
  the classic of Sarwar et al. 2001), re-implemented because LensKit needs Python >= 3.12: item
  vectors centred on the item means, cosine similarity, positive similarities only; a person's
  prediction for item ``j`` is ``mean_j + sum(s_ij (r_ui - mean_i)) / sum(s_ij)`` over the (at most
  20) most similar items they rated, and items without such a neighbour are not scored at all (no
  fallback): in effect an engagement filter. It predicts stars, so it ranks best lists by highest
  and worst lists by lowest prediction. Each item keeps its :data:`REPLICA_SAVED_NEIGHBOURS` most
  similar items as candidate neighbours (LensKit's ``save_nbrs``, unbounded by default there: the
  same lists on catalogues where no item has more co-rated neighbours); the fit holds every
  co-rated pair once, as implicit's cosine does (sparse, never a dense items x items matrix).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from deepcart.errors import DeepcartError


@dataclass
class PeerScores:
    """A peer's scores of some people: one ranking key for both directions, no predicted stars."""

    scores: np.ndarray
    #: Peers rank every candidate in both directions (see :class:`deepcart.pipeline.rank.Scored`).
    exclusive = False

    @property
    def stars(self) -> np.ndarray:
        """Peers predict no stars: NaN everywhere (rating metrics leave them out)."""
        return np.full(self.scores.shape, np.nan, dtype=np.float32)

    def relevance(self, direction: str) -> np.ndarray:
        """The library's score, whatever the direction."""
        return self.scores


def _binary(matrix):
    import scipy.sparse as sp

    rows = sp.csr_matrix(matrix, dtype=np.float32, copy=True)
    rows.eliminate_zeros()
    rows.data[:] = 1.0
    return rows


class ImplicitCosine:
    """implicit's item-item cosine recommender (K=20)."""

    library = "implicit"

    def fit(self, train, *, seed: int = 0) -> ImplicitCosine:
        import warnings

        from implicit.nearest_neighbours import CosineRecommender

        self.model = CosineRecommender(K=20, num_threads=1)
        with warnings.catch_warnings():
            # implicit converts its own normalised matrix (COO under current scipy) and warns about it
            warnings.filterwarnings("ignore", message="Method expects CSR input")
            self.model.fit(_binary(train.csr()), show_progress=False)
        return self

    def score(self, rows) -> PeerScores:
        return PeerScores(np.asarray((_binary(rows) @ self.model.similarity).todense(), dtype=np.float32))


class ImplicitALS:
    """implicit's ALS with its defaults (factors=100, regularization=0.01, alpha=1, 15 iterations)."""

    library = "implicit"

    def fit(self, train, *, seed: int = 0) -> ImplicitALS:
        from implicit.cpu.als import AlternatingLeastSquares
        from threadpoolctl import threadpool_limits

        self.model = AlternatingLeastSquares(num_threads=1, random_state=seed)
        with threadpool_limits(1, "blas"):
            self.model.fit(_binary(train.csr()), show_progress=False)
        return self

    def score(self, rows) -> PeerScores:
        from threadpoolctl import threadpool_limits

        binary = _binary(rows)
        with threadpool_limits(1, "blas"):
            factors = self.model.recalculate_user(np.arange(binary.shape[0]), binary)
        return PeerScores(np.asarray(factors.reshape(binary.shape[0], -1) @ self.model.item_factors.T,
                                     dtype=np.float32))


class CornacEASE:
    """cornac's EASE with its defaults (lamb=500, posB=True)."""

    library = "cornac"

    def fit(self, train, *, seed: int = 0) -> CornacEASE:
        import cornac
        from cornac.models import EASE

        users = np.asarray(train.user_ids)[train.users]
        items = np.asarray(train.item_ids)[train.items]
        triples = list(zip(users.tolist(), items.tolist(), np.ones(len(users)).tolist()))
        data = cornac.data.Dataset.from_uir(triples, seed=seed)
        self.model = EASE(verbose=False, seed=seed)
        self.model.fit(data)
        # cornac numbers items in its own order: map its B back onto the catalogue's columns.
        own = np.array([data.iid_map.get(str(i), -1) for i in train.item_ids])
        known = own >= 0
        self.weights = np.zeros((len(own), len(own)), dtype=np.float32)
        self.weights[np.ix_(known, known)] = self.model.B[np.ix_(own[known], own[known])]
        return self

    def score(self, rows) -> PeerScores:
        return PeerScores(np.asarray(_binary(rows) @ self.weights, dtype=np.float32))


#: Neighbours each item keeps in the ``iknn-explicit`` replica (scoring uses the 20 best a person rated).
REPLICA_SAVED_NEIGHBOURS = 1000


class ItemKNNExplicit:
    """A replica of LensKit's explicit item-kNN (module docs): stars from a weighted average, no fallback."""

    library = None  # nothing to install: compared only when asked for
    neighbours = 20
    min_similarity = 1e-6

    def fit(self, train, *, seed: int = 0) -> ItemKNNExplicit:
        import scipy.sparse as sp

        from deepcart.toolkit.similarity import keep_top_per_row

        ratings = sp.csc_matrix(train.csr(), dtype=np.float64)
        ratings.sum_duplicates()
        counts = np.diff(ratings.indptr)
        self.means = np.asarray(ratings.sum(axis=0)).ravel() / np.maximum(counts, 1)
        centred = ratings.copy()
        centred.data -= np.repeat(self.means, counts)
        norms = np.sqrt(np.asarray(centred.multiply(centred).sum(axis=0)).ravel())
        unit = sp.csc_matrix(centred.multiply(1.0 / np.where(norms > 0, norms, 1.0)))
        sims = sp.csr_matrix(unit.T @ unit)
        sims = sp.csr_matrix(sims - sp.diags(sims.diagonal()))  # no item is its own neighbour
        sims.data[sims.data < self.min_similarity] = 0.0
        sims.eliminate_zeros()
        sims.sort_indices()
        # Row j: target j's most similar items (as LensKit saves them); kept by column, so that a
        # person's rated items are a cheap column slice.
        self.similarity = sp.csc_matrix(keep_top_per_row(sims, REPLICA_SAVED_NEIGHBOURS))
        return self

    def score(self, rows):
        """Predicted stars of each person (CSR of their ratings); NaN where no rated item is a neighbour.

        Sparse throughout: a person's similarities are the columns of their rated items (targets x
        rated), from which each target keeps its 20 most similar.
        """
        import scipy.sparse as sp

        from deepcart.pipeline.rank import Scored
        from deepcart.toolkit.similarity import keep_top_per_row

        rows = sp.csr_matrix(rows, dtype=np.float64)
        stars = np.full(rows.shape, np.nan, dtype=np.float32)
        for u in range(rows.shape[0]):
            lo, hi = rows.indptr[u], rows.indptr[u + 1]
            rated, values = rows.indices[lo:hi], rows.data[lo:hi]
            if not len(rated):
                continue
            near = keep_top_per_row(sp.csr_matrix(self.similarity[:, rated]), self.neighbours)  # targets x rated
            weight = np.asarray(near.sum(axis=1)).ravel()
            offsets = near @ (values - self.means[rated])
            scored = weight > 0
            stars[u, scored] = self.means[scored] + offsets[scored] / weight[scored]
        return Scored(stars)


PEERS: dict[str, type] = {"implicit-cosine": ImplicitCosine, "implicit-als": ImplicitALS, "cornac-ease": CornacEASE,
                          "iknn-explicit": ItemKNNExplicit}


def installed_peers() -> list[str]:
    """The library peers that can be imported here (the default set; replicas only when asked for)."""
    return [name for name, cls in PEERS.items()
            if cls.library is not None and importlib.util.find_spec(cls.library) is not None]


def make_peer(name: str):
    """A fresh peer by name; a clear error for an unknown or uninstalled one."""
    cls = PEERS.get(name)
    if cls is None:
        raise DeepcartError(f"unknown peer {name!r}; peers: {', '.join(PEERS)}")
    if cls.library is not None and importlib.util.find_spec(cls.library) is None:
        raise DeepcartError(f"peer {name!r} needs the {cls.library!r} library: pip install {cls.library}")
    return cls()


def peer_scorer(peer) -> Callable:
    """``scorer(rows)`` for :func:`deepcart.pipeline.evaluate.evaluate`."""
    return peer.score

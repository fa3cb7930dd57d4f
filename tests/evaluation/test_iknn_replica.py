"""The ``iknn-explicit`` peer: a replica of LensKit's explicit item-kNN, checked against its formula."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from deepcart.pipeline import peers
from deepcart.pipeline.peers import ItemKNNExplicit, installed_peers, make_peer
from deepcart.pipeline.rank import rank_scored
from deepcart.ratings import Ratings


def ratings(matrix: np.ndarray) -> Ratings:
    users, items = np.nonzero(matrix)
    return Ratings(np.array([f"u{u:03d}" for u in range(matrix.shape[0])]),
                   np.array([f"i{i:03d}" for i in range(matrix.shape[1])]),
                   users.astype(np.int32), items.astype(np.int32), matrix[users, items].astype(np.float32))


def reference(matrix: np.ndarray, person: dict[int, float], neighbours: int, saved: int | None = None) -> np.ndarray:
    """The prediction written out item by item: item-mean centred cosine, positive only, the
    ``neighbours`` most similar rated items among the target's ``saved`` most similar items,
    weighted average of their offsets, no fallback."""
    rated = matrix > 0
    means = np.array([matrix[rated[:, i], i].mean() for i in range(matrix.shape[1])])
    centred = np.where(rated, matrix - means, 0.0)
    norms = np.linalg.norm(centred, axis=0)
    out = np.full(matrix.shape[1], np.nan)
    n_items = matrix.shape[1]

    def sim(i, j):
        if i == j or norms[i] == 0 or norms[j] == 0:
            return 0.0
        return centred[:, i] @ centred[:, j] / (norms[i] * norms[j])

    for j in range(n_items):
        candidates = [i for i in range(n_items) if sim(i, j) >= 1e-6]
        if saved is not None:
            candidates = sorted(candidates, key=lambda i: -sim(i, j))[:saved]
        sims = [(sim(i, j), person[i] - means[i]) for i in candidates if i in person]
        sims = sorted(sims, reverse=True)[:neighbours]
        if sims:
            out[j] = means[j] + sum(s * d for s, d in sims) / sum(s for s, _ in sims)
    return out


def test_a_hand_computed_case():
    # Centred: A = (+2, -2, .), B = (+1, -1, 0), C = (., +2, -2): sim(A, B) = 1, the others < 0.
    matrix = np.array([[5, 4, 0], [1, 2, 5], [0, 3, 1]], dtype=np.float64)
    peer = ItemKNNExplicit().fit(ratings(matrix))
    stars = peer.score(sp.csr_matrix(np.array([[4.0, 0, 0]]))).stars[0]
    assert stars[1] == np.float32(4.0)  # mean of B (3) + sim 1 x (4 - mean of A, 3) / 1
    assert np.isnan(stars[0]) and np.isnan(stars[2])  # no positive neighbour rated: not scored


@pytest.mark.parametrize("saved", [None, 4])
def test_the_replica_matches_the_formula_and_ranks_both_directions(monkeypatch, saved):
    if saved is not None:  # each target's candidate neighbours cut to its `saved` most similar items
        monkeypatch.setattr(peers, "REPLICA_SAVED_NEIGHBOURS", saved)
    rng = np.random.default_rng(4)
    matrix = np.where(rng.random((60, 25)) < 0.3, rng.integers(1, 6, (60, 25)), 0).astype(np.float64)
    peer = ItemKNNExplicit()
    peer.neighbours = 3  # fewer than a person's ratings: the cut is exercised
    peer.fit(ratings(matrix))
    people = np.where(rng.random((6, 25)) < 0.4, rng.integers(1, 6, (6, 25)), 0).astype(np.float64)
    scored = peer.score(sp.csr_matrix(people))
    for row, person in enumerate(people):
        expected = reference(matrix, {int(i): float(person[i]) for i in np.flatnonzero(person)}, 3, saved)
        np.testing.assert_allclose(scored.stars[row], expected, rtol=1e-5, equal_nan=True)
        assert np.isfinite(expected).sum() > 3
    best = rank_scored(scored, 5, direction="best")
    worst = rank_scored(scored, 5, direction="worst")
    for row in range(len(people)):
        stars = scored.stars[row]
        assert stars[best[row][0]] == np.nanmax(stars) and stars[worst[row][0]] == np.nanmin(stars)


def test_the_replica_is_compared_only_when_asked_for():
    assert "iknn-explicit" not in installed_peers()
    assert isinstance(make_peer("iknn-explicit"), ItemKNNExplicit)  # nothing to install

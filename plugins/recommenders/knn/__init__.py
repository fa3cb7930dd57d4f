"""The ``knn`` recommender: neighbourhood collaborative filtering, item-based (default) or user-based.

It predicts star ratings, so that the same scores rank a person's best *and* worst products. With
``d`` = ``damping``, ``λ`` = ``shrinkage`` and ``N`` = ``neighbours``, everything is computed from
the training ratings ``r``:

**Baselines** (damped means, as in Koren's neighbourhood models; :mod:`deepcart.toolkit.baseline`)::

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
``Σ (z + i) s' = Σ z s' + i Σ s'`` gives both sums). User-based scoring computes the person's
similarities to the training users on the fly (blockwise, then a loop over people): fine for
evaluation, slower. Lists are ranked by :func:`deepcart.pipeline.rank.top_k_by_score`, like every
recommender's.

**Modules.** :mod:`.config` (the options), :mod:`.similarity` (which centring each similarity uses;
the blockwise shrunk similarities and the per-row top-N are the toolkit's
:mod:`deepcart.toolkit.similarity`), :mod:`.item_based` (the neighbour graph and its sums),
:mod:`.user_based` (neighbours found per person), :mod:`.model` (the recommender contract).
"""

from deepcart import hookimpl
from deepcart.plugins.recommenders.knn.config import KNNConfig
from deepcart.plugins.recommenders.knn.model import KNNRecommender

__all__ = ["KNNConfig", "KNNRecommender"]


@hookimpl
def register_recommenders(register) -> None:
    """Register ``knn``."""
    register("knn", KNNRecommender)

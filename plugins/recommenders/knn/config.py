"""The options of the ``knn`` recommender (the formulas they enter are in the package docs)."""

from __future__ import annotations

from typing import Literal

import pydantic

from deepcart.toolkit.engagement import EngagementOptions


class KNNConfig(EngagementOptions):
    """Options of the ``knn`` recommender (and the ranking options every recommender shares)."""

    kind: Literal["item", "user"] = pydantic.Field(
        "item", description="item-based (neighbour graph of items) or user-based neighbourhoods"
    )
    similarity: Literal["cosine", "adjusted-cosine", "pearson"] = pydantic.Field(
        "adjusted-cosine", description="how two rating vectors are compared (see the module docs)"
    )
    # neighbours and the stars weights (the shared defaults, 0.5) are tuned on the real sets: scripts/tune_defaults.py, benchmarks/tuning.json.
    neighbours: int = pydantic.Field(
        20, ge=1, description="item: neighbours kept per item; user: neighbours used per item"
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

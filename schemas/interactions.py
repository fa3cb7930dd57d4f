"""pandera schema of the interactions table a dataset tag holds: one rating per (user, item).

The same record as :mod:`deepcart.schemas.reviews` after deduplication and filtering, so the column
rules are shared; what is new is that ``(user_id, parent_asin)`` is unique. The written file also
carries the review's text and votes (``title``, ``text``, ``helpful_vote``, ``verified_purchase``),
checked when present; the slim table of a build's filter chain has only the first four columns.
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING

from deepcart.schemas.reviews import (
    id_column,
    pandera,
    rating_column,
    review_columns,
    timestamp_column,
)

if TYPE_CHECKING:
    import pandera.pandas as pa

NAME = "interactions"

#: Columns that identify a row in failure reports.
KEY: tuple[str, ...] = ("user_id", "parent_asin")



@cache
def schema() -> pa.DataFrameSchema:
    """The schema of the interactions table."""
    pa = pandera()
    return pa.DataFrameSchema(
        {
            "user_id": id_column(pa, "reviewer id"),
            "parent_asin": id_column(pa, "item id"),
            "rating": rating_column(pa),
            "timestamp": timestamp_column(pa),
            **review_columns(pa),
        },
        unique=list(KEY),
        name=NAME,
        strict=False,
    )

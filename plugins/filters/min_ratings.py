"""The ``min-ratings`` filter: drop items with fewer than ``n`` ratings, with all their ratings.

One pass, not iterated: users that lose ratings here are not re-checked (``k-core`` iterates).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

import pydantic

from deepcart import hookimpl
from deepcart.config import config_to_dict
from deepcart.toolkit.filter_sql import below, drop_below, left_without, plural
from deepcart.reports import FilterReport

if TYPE_CHECKING:
    import duckdb

NAME = "min-ratings"


class MinRatingsConfig(pydantic.BaseModel):
    """Options of the ``min-ratings`` filter."""

    model_config = pydantic.ConfigDict(extra="forbid")
    n: int = pydantic.Field(5, ge=1, description="items with fewer ratings than this are dropped")


class MinRatings:
    """Drop items with fewer than n ratings (one pass)."""

    Config: ClassVar[type] = MinRatingsConfig

    def __init__(self, config: MinRatingsConfig | None = None):
        self.config = config or MinRatingsConfig()

    def apply(self, con: duckdb.DuckDBPyConnection, *, seed: int) -> FilterReport:
        """Drop the items with fewer than ``n`` ratings; ``seed`` is unused (nothing is random)."""
        n = self.config.n
        items, users, ratings = drop_below(con, "parent_asin", n)
        message = f"Dropped {plural(items, 'item')} ({below(n)})"
        if items:
            message += f" and {'its' if items == 1 else 'their'} {plural(ratings, 'rating')}"
        if users:
            message += f"; {left_without(users, 'user')}"
        return FilterReport(NAME, config_to_dict(self.config), users, items, ratings, message)


@hookimpl
def register_filters(register) -> None:
    """Register ``min-ratings``."""
    register(NAME, MinRatings)

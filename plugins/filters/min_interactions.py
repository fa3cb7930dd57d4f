"""The ``min-interactions`` filter: drop users with fewer than ``n`` ratings, with all their ratings.

One pass, not iterated: items that lose ratings here are not re-checked (``k-core`` iterates).
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

NAME = "min-interactions"


class MinInteractionsConfig(pydantic.BaseModel):
    """Options of the ``min-interactions`` filter."""

    model_config = pydantic.ConfigDict(extra="forbid")
    n: int = pydantic.Field(5, ge=1, description="users with fewer ratings than this are dropped")


class MinInteractions:
    """Drop users with fewer than n ratings (one pass)."""

    Config: ClassVar[type] = MinInteractionsConfig

    def __init__(self, config: MinInteractionsConfig | None = None):
        self.config = config or MinInteractionsConfig()

    def apply(self, con: duckdb.DuckDBPyConnection, *, seed: int) -> FilterReport:
        """Drop the users with fewer than ``n`` ratings; ``seed`` is unused (nothing is random)."""
        n = self.config.n
        users, items, ratings = drop_below(con, "user_id", n)
        message = f"Dropped {plural(users, 'user')} ({below(n)})"
        if users:
            message += f" and their {plural(ratings, 'rating')}"
        if items:
            message += f"; {left_without(items, 'item')}"
        return FilterReport(NAME, config_to_dict(self.config), users, items, ratings, message)


@hookimpl
def register_filters(register) -> None:
    """Register ``min-interactions``."""
    register(NAME, MinInteractions)

"""The ``orphans`` filter: drop ratings of items that have no row in the item meta (``items``).

Decisions:

* When ``items`` is empty (rating-only CSV inputs have no meta) there is nothing to check against, and
  dropping every rating would be absurd: the step keeps everything and says so.
* ``items`` itself is left intact, including items that have no rating (never rated, or whose ratings
  an earlier step dropped). The tag writer selects only rated items, so pruning here would cost a
  rewrite of ``items`` for nothing; the message counts them so the manifest records it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

import pydantic

from deepcart import hookimpl
from deepcart.config import config_to_dict
from deepcart.toolkit.filter_sql import (
    TABLE,
    delete_ids,
    drop_temp,
    left_without,
    plural,
    row_count,
    temp,
    touched,
    vanished,
)
from deepcart.reports import FilterReport

if TYPE_CHECKING:
    import duckdb

NAME = "orphans"
ITEMS = "items"


class OrphansConfig(pydantic.BaseModel):
    """The ``orphans`` filter has no options."""

    model_config = pydantic.ConfigDict(extra="forbid")


class Orphans:
    """Drop ratings of items without item meta (no-op when there is no meta)."""

    Config: ClassVar[type] = OrphansConfig

    def __init__(self, config: OrphansConfig | None = None):
        self.config = config or OrphansConfig()

    def apply(self, con: duckdb.DuckDBPyConnection, *, seed: int) -> FilterReport:
        """Drop ratings whose ``parent_asin`` is not in ``items``; ``seed`` is unused."""
        params = config_to_dict(self.config)
        if not _has_meta(con):
            return FilterReport(NAME, params, 0, 0, 0, "Kept all ratings: no item meta to check against")
        try:
            # Orphan items with their rating counts; an item has all or none of its ratings orphaned.
            con.execute(
                f"""CREATE OR REPLACE TEMP TABLE {temp('orphans')} AS
                    SELECT parent_asin, count(*) AS n FROM {TABLE}
                    ANTI JOIN {ITEMS} USING (parent_asin) GROUP BY parent_asin"""
            )
            items, ratings = con.execute(
                f"SELECT count(*), coalesce(sum(n), 0) FROM {temp('orphans')}"
            ).fetchall()[0]
            users = 0
            if items:
                touched(con, "parent_asin", "orphans", "touched")
                delete_ids(con, "parent_asin", "orphans")
                users = vanished(con, "user_id", "touched")
            unrated = con.execute(
                f"""SELECT count(*)
                    FROM (SELECT DISTINCT parent_asin FROM {ITEMS} WHERE parent_asin IS NOT NULL)
                    ANTI JOIN {TABLE} USING (parent_asin)"""
            ).fetchall()[0][0]
        finally:
            drop_temp(con, "orphans", "touched")

        message = f"Dropped {plural(items, 'item')} (no item meta)"
        if items:
            message += f" and {'its' if items == 1 else 'their'} {plural(ratings, 'rating')}"
        if users:
            message += f"; {left_without(users, 'user')}"
        if unrated:
            message += (
                f"; {plural(unrated, 'item')} of the item meta {'has' if unrated == 1 else 'have'} "
                "no ratings (kept in items; only rated items are written)"
            )
        return FilterReport(NAME, params, users, items, ratings, message)


def _has_meta(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether an ``items`` table exists and has rows."""
    exists = con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE table_name = ? AND NOT temporary", [ITEMS]
    ).fetchall()[0][0]
    return bool(exists) and row_count(con, ITEMS) > 0


@hookimpl
def register_filters(register) -> None:
    """Register ``orphans``."""
    register(NAME, Orphans)

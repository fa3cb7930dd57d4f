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
from deepcart.toolkit.filter_steps import left_without, plural, touched, vanished
from deepcart.toolkit.frames import as_frame, temp
from deepcart.reports import FilterReport

if TYPE_CHECKING:
    from deepcart.toolkit.frames import Frame

NAME = "orphans"


class OrphansConfig(pydantic.BaseModel):
    """The ``orphans`` filter has no options."""

    model_config = pydantic.ConfigDict(extra="forbid")


class Orphans:
    """Drop ratings of items without item meta (no-op when there is no meta)."""

    Config: ClassVar[type] = OrphansConfig
    portable: ClassVar[bool] = True  # written in ibis: runs on every engine

    def __init__(self, config: OrphansConfig | None = None):
        self.config = config or OrphansConfig()

    def apply(self, frame: Frame, *, seed: int) -> FilterReport:
        """Drop ratings whose ``parent_asin`` is not in ``items``; ``seed`` is unused."""
        frame = as_frame(frame)
        params = config_to_dict(self.config)
        meta = frame.item_ids()
        if meta is None:
            return FilterReport(NAME, params, 0, 0, 0, "Kept all ratings: no item meta to check against")
        from ibis import _

        try:
            # Orphan items with their rating counts; an item has all or none of its ratings orphaned.
            orphans = frame.save(temp("orphans"), frame.interactions().anti_join(meta, "parent_asin")
                                 .group_by("parent_asin").aggregate(n=_.count()))
            found = frame.values(orphans, items=orphans.count(), ratings=orphans.n.sum())
            items, ratings = int(found["items"]), int(found["ratings"])
            users = 0
            if items:
                touched(frame, "parent_asin", "orphans", "touched")
                frame.drop_ids("parent_asin", orphans)
                users = vanished(frame, "user_id", "touched")
            unrated = frame.count(meta.anti_join(frame.interactions(), "parent_asin"))
        finally:
            frame.forget(temp("orphans"), temp("touched"))

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


@hookimpl
def register_filters(register) -> None:
    """Register ``orphans``."""
    register(NAME, Orphans)

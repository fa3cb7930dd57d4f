"""The ``min-interactions`` and ``min-ratings`` filters: one class, counted per user or per item.

``min-interactions`` drops users with fewer than ``n`` ratings, ``min-ratings`` items with fewer
than ``n`` ratings, each with all their ratings. One pass, not iterated: what loses ratings on the
other side is not re-checked (``k-core`` iterates).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

import pydantic

from deepcart import hookimpl
from deepcart.config import config_to_dict
from deepcart.toolkit.filter_steps import below, drop_below, left_without, plural
from deepcart.toolkit.frames import as_frame
from deepcart.reports import FilterReport

if TYPE_CHECKING:
    from deepcart.toolkit.frames import Frame


class MinCount:
    """Drop the users (or items) with fewer than n ratings (one pass).

    Subclasses choose the side: :attr:`name` (the registered name), :attr:`column` (what is
    counted), :attr:`counted` and :attr:`other` (the nouns of the two sides in the report).
    """

    Config: ClassVar[type]
    portable: ClassVar[bool] = True  # written in ibis: runs on every engine
    name: ClassVar[str]
    column: ClassVar[str]
    counted: ClassVar[str]
    other: ClassVar[str]

    def __init__(self, config=None):
        self.config = config if config is not None else self.Config()

    def apply(self, frame: Frame, *, seed: int) -> FilterReport:
        """Drop what has fewer than ``n`` ratings; ``seed`` is unused (nothing is random)."""
        n = self.config.n
        dropped, emptied, ratings = drop_below(as_frame(frame), self.column, n)
        message = f"Dropped {plural(dropped, self.counted)} ({below(n)})"
        if dropped:
            # "and its 3 ratings" for one item; a user's ratings read "and their" either way
            their = "its" if self.counted == "item" and dropped == 1 else "their"
            message += f" and {their} {plural(ratings, 'rating')}"
        if emptied:
            message += f"; {left_without(emptied, self.other)}"
        users, items = (dropped, emptied) if self.column == "user_id" else (emptied, dropped)
        return FilterReport(self.name, config_to_dict(self.config), users, items, ratings, message)


def _count_config(name: str, counted: str) -> type[pydantic.BaseModel]:
    """The options of one side: only ``n``, described for that side."""
    return pydantic.create_model(
        f"{name.title().replace('-', '')}Config",
        __config__=pydantic.ConfigDict(extra="forbid"),
        __doc__=f"Options of the ``{name}`` filter.",
        n=(int, pydantic.Field(5, ge=1, description=f"{counted}s with fewer ratings than this are dropped")),
    )


class MinInteractions(MinCount):
    """Drop users with fewer than n ratings (one pass)."""

    name = "min-interactions"
    column = "user_id"
    counted, other = "user", "item"
    Config = _count_config(name, counted)


class MinRatings(MinCount):
    """Drop items with fewer than n ratings (one pass)."""

    name = "min-ratings"
    column = "parent_asin"
    counted, other = "item", "user"
    Config = _count_config(name, counted)


@hookimpl
def register_filters(register) -> None:
    """Register ``min-interactions`` and ``min-ratings``."""
    register(MinInteractions.name, MinInteractions)
    register(MinRatings.name, MinRatings)

"""The ``subsample`` filter: keep a seeded random sample of users, with all their ratings.

Users are ranked by ``md5("<seed>:<user_id>")`` (ties, which md5 makes practically impossible, by
``user_id``) and the first ``n`` are kept (:mod:`deepcart.toolkit.hash_order`: no global sort). md5 is
a fixed standard, so the sample is the same on every run, machine, DuckDB version and engine. DuckDB's ``hash()`` is not: its maintainers call it an internal hash
that may change between releases, and it did between 1.2.2 and 1.3.0; ``md5_number`` changed from a
signed to an unsigned type, which reorders its values. Ranking also makes samples nested: for one
seed, the users kept with ``n=1000`` are among those kept with ``n=2000``.

``fraction`` keeps ``round(fraction * users)`` users (half rounds up), and at least one.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, ClassVar

import pydantic

from deepcart import hookimpl
from deepcart.config import config_to_dict
from deepcart.toolkit.filter_steps import left_without, plural
from deepcart.toolkit.frames import as_frame, temp
from deepcart.toolkit.hash_order import hash_order
from deepcart.reports import FilterReport

if TYPE_CHECKING:
    from deepcart.toolkit.frames import Frame

NAME = "subsample"


class SubsampleConfig(pydantic.BaseModel):
    """Options of the ``subsample`` filter: exactly one of ``n`` and ``fraction``."""

    model_config = pydantic.ConfigDict(extra="forbid")
    n: int | None = pydantic.Field(None, ge=1, description="number of users to keep")
    fraction: float | None = pydantic.Field(None, gt=0, le=1, description="share of users to keep")

    @pydantic.model_validator(mode="after")
    def _exactly_one(self) -> SubsampleConfig:
        if (self.n is None) == (self.fraction is None):
            raise ValueError("give exactly one of n (users to keep) and fraction (share of users to keep)")
        return self


class Subsample:
    """Keep a seeded random sample of users (n or fraction) with all their ratings."""

    Config: ClassVar[type] = SubsampleConfig
    portable: ClassVar[bool] = True  # written in ibis: runs on every engine

    def __init__(self, config: SubsampleConfig | None = None):
        self.config = config or SubsampleConfig()

    def target(self, users: int) -> int:
        """How many of ``users`` users to keep."""
        if self.config.n is not None:
            return min(self.config.n, users)
        return min(users, max(1, math.floor(self.config.fraction * users + 0.5)))

    def apply(self, frame: Frame, *, seed: int) -> FilterReport:
        """Keep the sampled users' ratings; the same ``seed`` always picks the same users."""
        frame = as_frame(frame)
        seed = int(seed)
        before = frame.counts()
        users, items, ratings = before["users"], before["items"], before["ratings"]
        keep = self.target(users)
        dropped_items = dropped_ratings = 0
        if keep < users:
            try:
                order = hash_order(frame, frame.interactions(), "user_id", seed, "order")
                frame.drop_ids("user_id", order.table.filter(order.first(keep)), keep=True)
            finally:
                frame.forget(temp("order"))
            t = frame.interactions()
            after = frame.values(t, items=t.parent_asin.nunique(), ratings=t.count())
            dropped_items, dropped_ratings = items - int(after["items"]), ratings - int(after["ratings"])

        dropped_users = users - keep
        rule = f"random sample: kept {keep:,} of {users:,}, seed {seed}"
        message = f"Dropped {plural(dropped_users, 'user')} ({rule})"
        if dropped_users:
            message += f" and their {plural(dropped_ratings, 'rating')}"
        if dropped_items:
            message += f"; {left_without(dropped_items, 'item')}"
        return FilterReport(
            NAME, config_to_dict(self.config), dropped_users, dropped_items, dropped_ratings, message
        )


@hookimpl
def register_filters(register) -> None:
    """Register ``subsample``."""
    register(NAME, Subsample)

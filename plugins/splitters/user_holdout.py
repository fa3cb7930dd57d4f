"""The ``user-holdout`` splitter: users go to train, validation or test; held-out users keep part of
their ratings as *input* (what a recommender sees, as if the person had just rated those) and the
rest as *check* (what it must predict).

Assignment is seeded and stable across machines, DuckDB versions and engines: users are ordered by
``md5(seed || ':' || user_id)`` and cut at the train/val fractions, as written (at most six decimal
places), in exact integers, so DuckDB and Spark cut at the same user. Within a val/test user, the
check ratings are a seeded random ``check_fraction`` of their ratings (``round(fraction * n)``, half
up, at least ``min_check``, and at least one rating always stays as input), or their newest ones
with ``holdout=newest`` (ties broken by item). The split is written once, in ibis
(:mod:`deepcart.toolkit.frames`), and runs on every engine.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, ClassVar, Literal

import pydantic

from deepcart import hookimpl
from deepcart.toolkit.frames import as_frame, temp

if TYPE_CHECKING:
    from deepcart.toolkit.frames import Frame

SPLITS = ("train", "val_input", "val_check", "test_input", "test_check")
#: Decimal places a fraction may have.
DECIMALS = 6


class UserHoldoutConfig(pydantic.BaseModel):
    """Options of the ``user-holdout`` splitter."""

    model_config = pydantic.ConfigDict(extra="forbid")
    train: float = pydantic.Field(0.8, gt=0, lt=1, description="share of users in train")
    val: float = pydantic.Field(0.1, ge=0, lt=1, description="share of users in validation")
    check_fraction: float = pydantic.Field(0.2, gt=0, lt=1, description="share of a held-out user's ratings to check")
    min_check: int = pydantic.Field(1, ge=1, description="at least this many check ratings per held-out user")
    holdout: Literal["random", "newest"] = "random"

    @pydantic.field_validator("train", "val", "check_fraction")
    @classmethod
    def _six_places(cls, value: float) -> float:
        # The cuts are computed in exact integers (the same on every engine): keep them small.
        if Decimal(repr(value)).as_tuple().exponent < -DECIMALS:
            raise ValueError(f"give at most {DECIMALS} decimal places (got {value!r})")
        return value

    @pydantic.model_validator(mode="after")
    def _fractions_fit(self) -> UserHoldoutConfig:
        if self.train + self.val >= 1:
            raise ValueError(f"train + val must leave users for test (got {self.train} + {self.val})")
        return self


class UserHoldout:
    """Seeded split of users into train/val/test, each held-out user's ratings into input/check."""

    Config: ClassVar[type] = UserHoldoutConfig
    portable: ClassVar[bool] = True  # written in ibis: runs on every engine

    def __init__(self, config: UserHoldoutConfig | None = None):
        self.config = config or UserHoldoutConfig()

    def split(self, frame: Frame, *, seed: int) -> None:
        """Create the tables ``train``, ``val_input``, ``val_check``, ``test_input``, ``test_check``."""
        import ibis

        frame = as_frame(frame)
        c = self.config
        t = frame.interactions()
        users = t.select("user_id").distinct()
        users = users.mutate(h=(ibis.literal(f"{int(seed)}:") + users.user_id).hexdigest("md5"))
        users = users.mutate(pos=ibis.row_number().over(order_by=users.h),
                             n=users.user_id.count().over(ibis.window()))
        train, train_val = ratio(c.train), ratio(c.train, c.val)
        users = users.select("user_id", part=ibis.cases(
            (below(users.pos, train, users.n), "train"), (below(users.pos, train_val, users.n), "val"),
            else_="test"))
        if c.holdout == "newest":
            order = [t.timestamp.desc(), t.parent_asin]
        else:
            order = [(ibis.literal(f"{int(seed)}:") + t.user_id + ":" + t.parent_asin).hexdigest("md5")]
        by_user = ibis.window(group_by=t.user_id, order_by=order)
        ranked = t.mutate(pick=ibis.row_number().over(by_user) + 1,
                          n_user=t.user_id.count().over(ibis.window(group_by=t.user_id)))
        ranked = frame.save(temp("ranked"), ranked.join(users, "user_id"))
        # check count: round(fraction * n) (half up), at least min_check, but always leave one input
        # rating; in integers, so both engines round alike: round(p/q * n) = (2pn + q) // 2q.
        p, q = ratio(c.check_fraction)
        rounded = (ranked.n_user * (2 * p) + q) // (2 * q)
        n_check = ibis.least(ibis.greatest(rounded, c.min_check), ranked.n_user - 1)
        cols = ["user_id", "parent_asin", "rating", "timestamp"]
        try:
            frame.save("train", ranked.filter(ranked.part == "train").select(cols))
            for part in ("val", "test"):
                mine = ranked.part == part
                frame.save(f"{part}_check", ranked.filter(mine, ranked.pick <= n_check).select(cols))
                frame.save(f"{part}_input", ranked.filter(mine, ranked.pick > n_check).select(cols))
        finally:
            frame.forget(temp("ranked"))


def ratio(*fractions: float) -> tuple[int, int]:
    """The sum of ``fractions``, as written (``0.1`` is 1/10, not the nearest double), as ``(p, q)``
    with ``q`` a power of ten: exact integers both engines compare and round alike."""
    total = sum(Decimal(repr(f)) for f in fractions)
    scale = max(-total.as_tuple().exponent, 0)
    return int(total.scaleb(scale)), 10**scale


def below(pos, fraction: tuple[int, int], n):
    """``pos < fraction * n`` in integers."""
    p, q = fraction
    return pos * q < n * p


@hookimpl
def register_splitters(register) -> None:
    """Register ``user-holdout``."""
    register("user-holdout", UserHoldout)

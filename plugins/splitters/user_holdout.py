"""The ``user-holdout`` splitter: users go to train, validation or test; held-out users keep part of
their ratings as *input* (what a recommender sees, as if the person had just rated those) and the
rest as *check* (what it must predict).

Assignment is seeded and stable across machines, DuckDB versions and engines: users are ordered by
``md5(seed || ':' || user_id)`` and cut at the train/val fractions, as written, counted exactly
(:mod:`deepcart.toolkit.hash_order`: no global sort), so DuckDB and Spark cut at the same user.
With ``folds=K`` (cross-validation, ``deepcart compare --folds K``) the hash order is cut into ``K``
equal blocks instead: the test users are block ``fold`` (positions ``fold*n//K`` up to
``(fold+1)*n//K``), the validation users the next ``val`` share of the order after it (wrapping
round), and every other user trains; over ``fold = 0 .. K-1`` each user is a test user exactly once.
``within=x`` cuts the folds over the first ``x`` share of the order only and leaves the rest out of
every part: with ``x`` = a plain split's ``train + val`` its test users stay untouched
(``deepcart tune --folds`` does this, so that the tuned model's test part is still held out).
Within a val/test user, the check ratings are a seeded random ``check_fraction`` of their ratings
(``round(fraction * n)``, half up, at least ``min_check``, and at least one rating always stays as
input), or their newest ones with ``holdout=newest`` (ties broken by item). The split is written once, in ibis
(:mod:`deepcart.toolkit.frames`), and runs on every engine.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, ClassVar, Literal

import pydantic

from deepcart import hookimpl
from deepcart.toolkit.frames import COLUMNS, as_frame, temp
from deepcart.toolkit.hash_order import cut, hash_order

if TYPE_CHECKING:
    from deepcart.toolkit.frames import Frame

SPLITS = ("train", "val_input", "val_check", "test_input", "test_check")


class UserHoldoutConfig(pydantic.BaseModel):
    """Options of the ``user-holdout`` splitter."""

    model_config = pydantic.ConfigDict(extra="forbid")
    train: float = pydantic.Field(0.8, gt=0, lt=1, description="share of users in train")
    val: float = pydantic.Field(0.1, ge=0, lt=1, description="share of users in validation")
    check_fraction: float = pydantic.Field(0.2, gt=0, lt=1, description="share of a held-out user's ratings to check")
    min_check: int = pydantic.Field(1, ge=1, description="at least this many check ratings per held-out user")
    holdout: Literal["random", "newest"] = "random"
    folds: int | None = pydantic.Field(
        None, ge=2, description="cross-validation: cut the users into this many folds (train is then the rest)")
    fold: int | None = pydantic.Field(None, ge=0, description="with folds: which fold is the test users (0-based)")
    within: float | None = pydantic.Field(
        None, gt=0, le=1, description="with folds: the share of the user order the folds cover (the rest is left out)")

    @pydantic.model_validator(mode="after")
    def _fractions_fit(self) -> UserHoldoutConfig:
        if self.folds is None:
            if self.fold is not None or self.within is not None:
                raise ValueError("fold and within need folds (the number of folds)")
            if self.train + self.val >= 1:
                raise ValueError(f"train + val must leave users for test (got {self.train} + {self.val})")
            return self
        if "train" in self.model_fields_set:
            raise ValueError("with folds, train is every user outside the test fold and val: do not set train")
        if self.fold is None or self.fold >= self.folds:
            raise ValueError(f"fold must be one of 0 .. {self.folds - 1} with folds={self.folds}")
        if self.val + 1 / self.folds >= 1:
            raise ValueError(f"val + one fold must leave users for train (got {self.val} + 1/{self.folds})")
        return self


class UserHoldout:
    """Seeded split of users into train/val/test, each held-out user's ratings into input/check."""

    Config: ClassVar[type] = UserHoldoutConfig
    portable: ClassVar[bool] = True  # written in ibis: runs on every engine

    def __init__(self, config: UserHoldoutConfig | None = None):
        self.config = config or UserHoldoutConfig()

    def split(self, frame: Frame, *, seed: int) -> None:
        """Create the tables ``train``, ``val_input``, ``val_check``, ``test_input``, ``test_check``."""
        frame = as_frame(frame)
        t = frame.interactions()
        try:
            self._split(frame, t, seed)
        finally:
            frame.forget(temp("ranked"), temp("users"))

    def _split(self, frame: Frame, t, seed: int) -> None:
        import ibis

        c = self.config
        hashed = hash_order(frame, t, "user_id", seed, "users")
        users = hashed.table.select("user_id", part=self._parts(hashed))
        if c.holdout == "newest":
            order = [t.timestamp.desc(), t.parent_asin]
        else:
            order = [(ibis.literal(f"{int(seed)}:") + t.user_id + ":" + t.parent_asin).hexdigest("md5")]
        by_user = ibis.window(group_by=t.user_id, order_by=order)
        ranked = t.mutate(pick=ibis.row_number().over(by_user) + 1,
                          n_user=t.user_id.count().over(ibis.window(group_by=t.user_id)))
        ranked = frame.save(temp("ranked"), ranked.join(users, "user_id"))
        # check count: round(fraction * n) (half up), at least min_check, but always leave one input
        # rating. The fraction is an exact decimal as written; its product with n is cast to a wide
        # decimal before rounding, so neither engine loses a digit or overflows a narrow type.
        fraction = Decimal(repr(c.check_fraction))
        scale = max(-fraction.as_tuple().exponent, 0)
        product = ibis.literal(fraction, type=f"decimal({scale + 1}, {scale})") * ranked.n_user
        rounded = product.cast(f"decimal(38, {scale})").round().cast("int64")
        n_check = ibis.least(ibis.greatest(rounded, c.min_check), ranked.n_user - 1)
        cols = list(COLUMNS)
        frame.save("train", ranked.filter(ranked.part == "train").select(cols))
        for part in ("val", "test"):
            mine = ranked.part == part
            frame.save(f"{part}_check", ranked.filter(mine, ranked.pick <= n_check).select(cols))
            frame.save(f"{part}_input", ranked.filter(mine, ranked.pick > n_check).select(cols))

    def _parts(self, hashed):
        """Each user's part ("train", "val" or "test") from their position in the hash order."""
        import ibis

        c, n = self.config, hashed.size
        if c.folds is None:
            # The user at position pos (0-based, hash order) is in train when pos < train * n, as the
            # fractions are written (train + val as the float sum): cut() counts those positions exactly.
            train, train_val = cut(c.train, n), cut(c.train + c.val, n)
            return ibis.cases((hashed.first(train), "train"), (hashed.first(train_val), "val"), else_="test")
        # Integer bounds, so the K test blocks tile the covered order (the first m positions) exactly.
        m = n if c.within is None else cut(c.within, n)
        low, high = c.fold * m // c.folds, (c.fold + 1) * m // c.folds
        test = hashed.first(high) & ~hashed.first(low)
        end = high + min(cut(c.val, m), m - (high - low))
        covered = hashed.first(m)  # every user when m = n
        val = (hashed.first(end) & ~hashed.first(high)) if end <= m else (
            (covered & ~hashed.first(high)) | hashed.first(end - m))
        return ibis.cases((test, "test"), (val, "val"), (covered, "train"), else_="left out")


@hookimpl
def register_splitters(register) -> None:
    """Register ``user-holdout``."""
    register("user-holdout", UserHoldout)

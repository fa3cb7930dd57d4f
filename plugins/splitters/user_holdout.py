"""The ``user-holdout`` splitter: users go to train, validation or test; held-out users keep part of
their ratings as *input* (what a recommender sees, as if the person had just rated those) and the
rest as *check* (what it must predict).

Assignment is seeded and stable across machines and DuckDB versions: users are ordered by
``md5(seed || ':' || user_id)`` and cut at the train/val fractions. Within a val/test user, the check
ratings are a seeded random ``check_fraction`` of their ratings (at least ``min_check``, and at least
one rating always stays as input), or their newest ones with ``holdout=newest`` (ties broken by item).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, Literal

import pydantic

from deepcart import hookimpl

if TYPE_CHECKING:
    import duckdb

SPLITS = ("train", "val_input", "val_check", "test_input", "test_check")


class UserHoldoutConfig(pydantic.BaseModel):
    """Options of the ``user-holdout`` splitter."""

    model_config = pydantic.ConfigDict(extra="forbid")
    train: float = pydantic.Field(0.8, gt=0, lt=1, description="share of users in train")
    val: float = pydantic.Field(0.1, ge=0, lt=1, description="share of users in validation")
    check_fraction: float = pydantic.Field(0.2, gt=0, lt=1, description="share of a held-out user's ratings to check")
    min_check: int = pydantic.Field(1, ge=1, description="at least this many check ratings per held-out user")
    holdout: Literal["random", "newest"] = "random"

    @pydantic.model_validator(mode="after")
    def _fractions_fit(self) -> UserHoldoutConfig:
        if self.train + self.val >= 1:
            raise ValueError(f"train + val must leave users for test (got {self.train} + {self.val})")
        return self


class UserHoldout:
    """Seeded split of users into train/val/test, each held-out user's ratings into input/check."""

    Config: ClassVar[type] = UserHoldoutConfig

    def __init__(self, config: UserHoldoutConfig | None = None):
        self.config = config or UserHoldoutConfig()

    def split(self, con: duckdb.DuckDBPyConnection, *, seed: int) -> None:
        """Create the tables ``train``, ``val_input``, ``val_check``, ``test_input``, ``test_check``."""
        c = self.config
        order = (
            "timestamp DESC, parent_asin"
            if c.holdout == "newest"
            else f"md5('{int(seed)}:' || user_id || ':' || parent_asin)"
        )
        con.execute(
            f"""
            CREATE OR REPLACE TEMP TABLE _users AS
            SELECT user_id,
                   CASE WHEN pos < {c.train} * n THEN 'train'
                        WHEN pos < {c.train + c.val} * n THEN 'val'
                        ELSE 'test' END AS part
            FROM (
                SELECT user_id,
                       row_number() OVER (ORDER BY md5('{int(seed)}:' || user_id)) - 1 AS pos,
                       count(*) OVER () AS n
                FROM (SELECT DISTINCT user_id FROM interactions)
            )
            """
        )
        con.execute(
            f"""
            CREATE OR REPLACE TEMP TABLE _ranked AS
            SELECT r.*, u.part,
                   row_number() OVER (PARTITION BY r.user_id ORDER BY {order}) AS pick,
                   count(*) OVER (PARTITION BY r.user_id) AS n_user
            FROM interactions r JOIN _users u USING (user_id)
            """
        )
        # check count: round(fraction * n), at least min_check, but always leave one input rating.
        n_check = f"least(greatest(round({c.check_fraction} * n_user), {c.min_check}), n_user - 1)"
        cols = "user_id, parent_asin, rating, timestamp"
        con.execute(f"CREATE OR REPLACE TABLE train AS SELECT {cols} FROM _ranked WHERE part = 'train'")
        for part in ("val", "test"):
            con.execute(
                f"CREATE OR REPLACE TABLE {part}_check AS SELECT {cols} FROM _ranked "
                f"WHERE part = '{part}' AND pick <= {n_check}"
            )
            con.execute(
                f"CREATE OR REPLACE TABLE {part}_input AS SELECT {cols} FROM _ranked "
                f"WHERE part = '{part}' AND pick > {n_check}"
            )
        con.execute("DROP TABLE _ranked")
        con.execute("DROP TABLE _users")


@hookimpl
def register_splitters(register) -> None:
    """Register ``user-holdout``."""
    register("user-holdout", UserHoldout)

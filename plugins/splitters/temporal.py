"""The ``temporal`` splitter: a global time cut, like the official Amazon 2023 timestamp split.

Ratings before ``val_cut`` are train. A user with ratings in ``[val_cut, test_cut)`` is a validation
user: those ratings are their check, their ratings before ``val_cut`` their input. A user with
ratings at or after ``test_cut`` is a test user: those are the check, the ratings before ``test_cut``
the input. The defaults are the official cut points (ms): 1628643414042 and 1658002729837. A user
can be in train, val and test at once, as in the official split: the cut is in time, not in people.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

import pydantic

from deepcart import hookimpl

if TYPE_CHECKING:
    import duckdb


class TemporalConfig(pydantic.BaseModel):
    """Options of the ``temporal`` splitter (cut points in Unix milliseconds)."""

    model_config = pydantic.ConfigDict(extra="forbid")
    val_cut: int = 1628643414042
    test_cut: int = 1658002729837

    @pydantic.model_validator(mode="after")
    def _ordered(self) -> TemporalConfig:
        if self.val_cut >= self.test_cut:
            raise ValueError("val_cut must be before test_cut")
        return self


class Temporal:
    """Global time cut into train / val / test (official 2023 cut points by default)."""

    Config: ClassVar[type] = TemporalConfig

    def __init__(self, config: TemporalConfig | None = None):
        self.config = config or TemporalConfig()

    def split(self, con: duckdb.DuckDBPyConnection, *, seed: int) -> None:
        """Create ``train``, ``val_input``, ``val_check``, ``test_input``, ``test_check``; no randomness."""
        v = f"make_timestamp({self.config.val_cut} * 1000)"
        t = f"make_timestamp({self.config.test_cut} * 1000)"
        cols = "user_id, parent_asin, rating, timestamp"
        con.execute(f"CREATE OR REPLACE TABLE train AS SELECT {cols} FROM interactions WHERE timestamp < {v}")
        for part, lo, hi in (("val", v, t), ("test", t, None)):
            window = f"timestamp >= {lo}" + (f" AND timestamp < {hi}" if hi else "")
            con.execute(f"CREATE OR REPLACE TABLE {part}_check AS SELECT {cols} FROM interactions WHERE {window}")
            con.execute(
                f"""CREATE OR REPLACE TABLE {part}_input AS
                SELECT {cols} FROM interactions
                WHERE timestamp < {lo} AND user_id IN (SELECT DISTINCT user_id FROM {part}_check)"""
            )


@hookimpl
def register_splitters(register) -> None:
    """Register ``temporal``."""
    register("temporal", Temporal)

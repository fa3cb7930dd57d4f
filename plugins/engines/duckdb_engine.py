"""The ``duckdb`` engine, the embedded default: the portable chain and splits on the build's DuckDB.

It wraps the connection the loader filled, so nothing is staged or copied: the filters' deletions
run as ``DELETE`` statements in the file-backed build database, which spills to disk under
``--memory-limit``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

import pydantic

from deepcart import hookimpl

if TYPE_CHECKING:
    import duckdb

    from deepcart.toolkit.frames import Frame

NAME = "duckdb"


class DuckDBEngineConfig(pydantic.BaseModel):
    """The ``duckdb`` engine has no options (the build's --memory-limit and --threads apply)."""

    model_config = pydantic.ConfigDict(extra="forbid")


class DuckDBEngine:
    """Embedded DuckDB on this machine: the default, and the fastest up to one machine's disk."""

    Config: ClassVar[type] = DuckDBEngineConfig
    runs_duckdb_sql: ClassVar[bool] = True  # filters without a portable form get the connection

    def __init__(self, config: DuckDBEngineConfig | None = None):
        self.config = config or DuckDBEngineConfig()

    @contextmanager
    def open(self, con: duckdb.DuckDBPyConnection, work: Path) -> Iterator[Frame]:
        """A frame over ``con`` itself; results are in ``con`` as soon as each step returns."""
        from deepcart.toolkit.frames import DuckDBFrame

        yield DuckDBFrame(con)


@hookimpl
def register_engines(register) -> None:
    """Register ``duckdb``."""
    register(NAME, DuckDBEngine)

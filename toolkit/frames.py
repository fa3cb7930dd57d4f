"""The portable layer: one handle on a build's tables that every engine gives the filters and splits.

The filter chain and the splits are written once, as ibis expressions over the table
``interactions(user_id, parent_asin, rating, timestamp)`` (and the item meta's ``parent_asin``), and a
:class:`Frame` runs them on its engine. ibis was chosen over a twin per engine (hand-written DuckDB SQL
beside a PySpark port) and over transpiling the DuckDB SQL with sqlglot, which failed on ``DELETE``
and silently changed semantics: the same ibis expressions gave exactly equal results on DuckDB and
Spark, and only a few primitives differ between engines:

* :meth:`Frame.save` materialises an expression as a named table (a Spark checkpoint, which keeps
  the plan of an iterated k-core from doubling each round and running out of memory);
* :meth:`Frame.drop_ids` removes the ratings of some users or items from ``interactions`` in place
  (DuckDB: ``DELETE``, measured cheaper than rewriting the table; Spark: an anti join, checkpointed);
* :meth:`Frame.write_parquet` writes one sorted Parquet file.

Everything that decides *which* rows go, and every count in the reports, is an ibis expression.
The DuckDB frame wraps the build's own connection, so a DuckDB build stages nothing extra.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from deepcart.toolkit.sql import sql_str

if TYPE_CHECKING:
    import duckdb
    import ibis.expr.types as ir

TABLE = "interactions"
ITEMS = "items"
COLUMNS = ("user_id", "parent_asin", "rating", "timestamp")
Key = Literal["user_id", "parent_asin"]
#: Prefix of the helper tables a filter or split saves; they are forgotten before it returns.
TEMP_PREFIX = "_deepcart_filter_"


def other(key: Key) -> Key:
    """The other side of a rating: items for users and users for items."""
    return "parent_asin" if key == "user_id" else "user_id"


def temp(name: str) -> str:
    """The name of a helper table."""
    return TEMP_PREFIX + name


class Frame:
    """An engine's build tables as ibis expressions, and the few primitives that differ per engine.

    Subclasses set :attr:`engine` and :attr:`backend` (an ibis backend) and implement
    :meth:`save`, :meth:`forget`, :meth:`drop_ids`, :meth:`has_table` and :meth:`write_parquet`.
    """

    engine: str
    backend: Any
    #: Where the work runs, for progress lines and the manifest (an engine's master URL, ...).
    where: str = "this machine"

    # -- reading -----------------------------------------------------------------------------------

    def interactions(self) -> ir.Table:
        """The current ``interactions`` (re-read after every :meth:`drop_ids`)."""
        return self.table(TABLE)

    def table(self, name: str) -> ir.Table:
        """A table (or a saved helper table) by name."""
        return self.backend.table(name)

    def item_ids(self) -> ir.Table | None:
        """The distinct ``parent_asin`` of the item meta, or None when there is no meta (or it is empty)."""
        if not self.has_table(ITEMS):
            return None
        items = self.table(ITEMS)
        ids = items.filter(items.parent_asin.notnull()).select("parent_asin").distinct()
        return ids if self.count(ids) else None

    def values(self, table: ir.Table, **aggregates: Any) -> dict[str, Any]:
        """Several aggregates of ``table`` in one query, as Python values (a NULL sum is 0)."""
        row = self.rows(table.aggregate(**aggregates))[0]
        return {name: (0 if value is None else value) for name, value in row.items()}

    def rows(self, table: ir.Table) -> list[dict[str, Any]]:
        """Every row of a (small) ``table`` as dicts."""
        return self.backend.to_pyarrow(table).to_pylist()

    def count(self, table: ir.Table) -> int:
        """Rows of ``table``."""
        return int(self.values(table, n=table.count())["n"])

    def counts(self, table: ir.Table | None = None) -> dict[str, int]:
        """Users, items and ratings of ``table`` (default ``interactions``): two distinct counts."""
        t = self.interactions() if table is None else table
        found = self.values(t, users=t.user_id.nunique(), items=t.parent_asin.nunique(), ratings=t.count())
        return {name: int(found[name]) for name in ("users", "items", "ratings")}

    # -- engine primitives -------------------------------------------------------------------------

    def has_table(self, name: str) -> bool:
        """Whether a table or view called ``name`` exists."""
        raise NotImplementedError

    def save(self, name: str, expr: ir.Table) -> ir.Table:
        """Materialise ``expr`` as the table ``name`` (replacing one) and return it."""
        raise NotImplementedError

    def forget(self, *names: str) -> None:
        """Drop saved tables (missing ones are fine)."""
        raise NotImplementedError

    def drop_ids(self, key: Key, ids: ir.Table, *, keep: bool = False) -> None:
        """Delete from ``interactions`` the ratings whose ``key`` is in ``ids`` (or is not, with ``keep``).

        ``ids`` is a saved table (or an expression over one) with a ``key`` column; ids are never
        NULL (loaders reject records without them), so ``NOT IN`` cannot silently keep everything.
        """
        raise NotImplementedError

    def write_parquet(self, table: ir.Table, path: Path, order_by: Sequence[str]) -> None:
        """Write ``table`` sorted by ``order_by`` to the single Parquet file ``path`` (zstd)."""
        raise NotImplementedError

    def finish(self, con: duckdb.DuckDBPyConnection) -> None:
        """Make the ``interactions`` of the build's connection ``con`` what this frame's are now."""


class DuckDBFrame(Frame):
    """A frame over a DuckDB connection (the build's own, or one over Parquet files)."""

    engine = "duckdb"

    def __init__(self, con: duckdb.DuckDBPyConnection):
        import ibis

        self.con = con
        # ibis sets the session's time zone and turns off replacement scans; the build's later
        # statements (the write, the loaders' SQL) were written for the connection as it was.
        before = con.execute("SELECT current_setting('TimeZone'), current_setting('python_enable_replacements')"
                             ).fetchall()[0]
        self.backend = ibis.duckdb.from_connection(con)
        con.execute(f"SET TimeZone = {sql_str(before[0])}")
        con.execute(f"SET python_enable_replacements = {'true' if before[1] else 'false'}")

    def has_table(self, name: str) -> bool:
        return has_relation(self.con, name)

    def _sql(self, expr: ir.Table) -> str:
        return str(self.backend.compile(expr))

    def save(self, name: str, expr: ir.Table) -> ir.Table:
        kind = "TEMP TABLE" if name.startswith(TEMP_PREFIX) else "TABLE"
        self.con.execute(f'CREATE OR REPLACE {kind} "{name}" AS {self._sql(expr)}')
        return self.table(name)

    def forget(self, *names: str) -> None:
        for name in names:
            self.con.execute(f'DROP TABLE IF EXISTS "{name}"')

    def drop_ids(self, key: Key, ids: ir.Table, *, keep: bool = False) -> None:
        op = "NOT IN" if keep else "IN"
        self.con.execute(f"DELETE FROM {TABLE} WHERE {key} {op} "
                         f"(SELECT {key} FROM ({self._sql(ids.select(key))}) AS ids)")

    def finish(self, con: duckdb.DuckDBPyConnection) -> None:
        if con is not self.con:
            raise ValueError("a DuckDB frame finishes only on its own connection")

    def write_parquet(self, table: ir.Table, path: Path, order_by: Sequence[str]) -> None:
        self.con.execute(f"COPY ({self._sql(table.order_by(list(order_by)))}) TO {sql_str(path)} "
                         "(FORMAT parquet, COMPRESSION zstd)")


def has_relation(con: duckdb.DuckDBPyConnection, name: str) -> bool:
    """Whether ``con`` has a table or a view called ``name``."""
    found = con.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = ? UNION ALL "
                        "SELECT count(*) FROM duckdb_views() WHERE view_name = ?", [name, name]).fetchall()
    return any(n for (n,) in found)


def as_frame(data: Any) -> Frame:
    """``data`` as a frame: a frame as it is, a DuckDB connection wrapped (filters called directly)."""
    if isinstance(data, Frame):
        return data
    return DuckDBFrame(data)

"""Validate a table against its pandera schema, cheaply, and say readably what failed.

:func:`validate_table` splits the work so that it stays cheap on tens of millions of rows and still
sees every row where it matters:

1. **Every row, in DuckDB, in one scan**: uniqueness (``GROUP BY``) and each schema rule that has a
   SQL equivalent: not-null, ``ge``/``gt``/``le``/``lt``, ``in_range``, ``str_length``, ``isin``.
   A single 0.0 rating among 43 million is found; a sample of 100,000 rows would miss it 99.8 % of
   the time.
2. **A seeded sample, with pandera** (pandas backend; pandas comes with panel): column presence,
   dtypes and the rules with no SQL equivalent (custom element-wise checks). ``sample=None``
   validates every row this way too, in chunks of :data:`CHUNK_ROWS`.

Rules are written once, in the pandera schemas; the SQL is derived from them. pandera's polars
backend would need polars (not a dependency), and its pyarrow backend (pandera >= 0.35) does not say
which rows failed.

A failure raises :class:`SchemaValidationError` naming the table, each failing check with its
column, how many rows fail, and the first :data:`SHOW_ROWS` of them (their row numbers in the table,
from 0, with the identifying columns and the failing one).

Importing this module is cheap: pandera, pandas, pyarrow and duckdb are imported when validating.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import import_module
from pathlib import Path
from typing import TYPE_CHECKING, Any

from deepcart.errors import DeepcartError

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd
    import pyarrow as pa

#: Schema module of each table name.
SCHEMAS: dict[str, str] = {
    "reviews": "deepcart.schemas.reviews",
    "interactions": "deepcart.schemas.interactions",
    "items": "deepcart.schemas.items",
}

#: Failing rows shown per check.
SHOW_ROWS = 5

#: Rows converted to pandas at a time when validating with pandera.
CHUNK_ROWS = 500_000

#: Longest value shown in a failure report.
MAX_WIDTH = 40

_ROW = "__deepcart_row"


@dataclass(frozen=True)
class Failure:
    """One failing check.

    :ivar columns: the column(s) it concerns.
    :ivar check: the pandera check, as pandera names it (``in_range(1.0, 5.0)``, ``not_nullable``).
    :ivar rows: how many rows fail; ``None`` for a failure of the whole column (missing, wrong dtype).
    :ivar scope: ``"table"`` (every row, checked in DuckDB) or ``"sample"`` (the rows pandera saw).
    :ivar detail: the first failing rows, rendered, or what was found instead.
    """

    columns: tuple[str, ...]
    check: str
    rows: int | None
    scope: str
    detail: str

    def render(self, checked: int) -> str:
        """A bullet of the error message; ``checked`` is the number of rows pandera saw."""
        head = f"- {', '.join(self.columns)}: {self.check}"
        if self.rows is None:
            return f"{head}: {self.detail}"
        where = ("row" if self.rows == 1 else "rows") if self.scope == "table" else (
            f"of {checked:,} checked {'row' if checked == 1 else 'rows'}"
        )
        shown = min(self.rows, SHOW_ROWS)
        return f"{head} fails on {self.rows:,} {where}; first {shown}:\n" + _indent(self.detail)


@dataclass(frozen=True)
class ValidationReport:
    """A table that passed: how many rows, how they were checked, how long it took."""

    table: str
    rows: int
    table_checks: int
    checked: int
    seed: int
    seconds: float

    @property
    def summary(self) -> str:
        """One line for the build's output."""
        return (
            f"{self.table}: {self.rows:,} rows valid ({self.table_checks} rules on every row, "
            f"the whole schema on {self.checked:,} rows, {self.seconds:.2f} s)"
        )


class SchemaValidationError(DeepcartError):
    """A table broke its schema; the message lists every failing check with its first rows."""

    def __init__(self, report: ValidationReport, failures: list[Failure]):
        sampled = (
            "every row" if report.checked >= report.rows else
            f"a sample of {report.checked:,} rows (seed {report.seed})"
        )
        lines = [
            f"table {report.table!r} failed validation: {len(failures)} "
            f"{'check' if len(failures) == 1 else 'checks'} failed ({report.rows:,} "
            f"{'row' if report.rows == 1 else 'rows'}; "
            f"{report.table_checks} rules checked on every row, the whole schema on {sampled}; "
            "rows are numbered from 0)",
            *(f.render(report.checked) for f in failures),
        ]
        super().__init__("\n".join(lines))
        self.table, self.failures, self.report = report.table, failures, report


def validate_table(
    name: str, table: pa.Table | str | Path, *, sample: int | None = 100_000, seed: int = 0,
    memory_limit: str | None = None, threads: int | None = None,
) -> ValidationReport:
    """Validate ``table`` (a pyarrow Table or a Parquet file) against the schema of ``name``.

    :param name: ``"interactions"``, ``"items"`` or ``"reviews"``.
    :param sample: rows pandera validates (a seeded sample); ``None`` validates every row. The rules
        with a SQL equivalent and uniqueness are always checked on every row.
    :param seed: seed of the sample.
    :param memory_limit: DuckDB's ``memory_limit`` for the checks on every row (e.g. ``"2GB"``,
        as the build was given); DuckDB's default (80% of RAM) when None.
    :param threads: DuckDB's ``threads`` for those checks; DuckDB's default when None.
    :raises SchemaValidationError: a check failed (a :class:`DeepcartError`).
    :raises DeepcartError: unknown table name or unreadable file.
    """
    if name not in SCHEMAS:
        raise DeepcartError(f"no schema for table {name!r}; known tables: {', '.join(SCHEMAS)}")
    started = time.perf_counter()
    module = import_module(SCHEMAS[name])
    schema = module.schema()
    source = _Source(table, memory_limit=memory_limit, threads=threads)
    try:
        failures, table_checks = _table_checks(source, schema, module.KEY)
        checked, sample_failures = _sample_checks(source, schema, module.KEY, sample, seed)
    finally:
        source.close()
    seen = {(f.columns, f.check) for f in failures}
    failures += [f for f in sample_failures if (f.columns, f.check) not in seen]
    report = ValidationReport(name, source.rows, table_checks, checked, seed, time.perf_counter() - started)
    if failures:
        raise SchemaValidationError(report, failures)
    return report


# -- the table ------------------------------------------------------------------------------------


class _Source:
    """A pyarrow Table or a Parquet file, seen both by DuckDB (as ``src``) and by pyarrow."""

    def __init__(self, table: pa.Table | str | Path, *, memory_limit: str | None = None,
                 threads: int | None = None):
        import tempfile

        import duckdb
        import numpy as np
        import pyarrow as pa
        import pyarrow.parquet as pq

        self.path: Path | None = None
        if isinstance(table, (str, Path)):
            self.path = Path(table)
            try:
                meta = pq.ParquetFile(self.path)
            except (OSError, pa.ArrowException) as exc:
                raise DeepcartError(f"cannot read {self.path} as Parquet: {exc}") from None
            self.rows, self.columns = meta.metadata.num_rows, list(meta.schema_arrow.names)
        else:
            self.table = table
            self.rows, self.columns = table.num_rows, list(table.column_names)
        # The uniqueness check of a big table may not fit in memory: let DuckDB spill, somewhere of
        # our own rather than into the working directory.
        self.spill = tempfile.TemporaryDirectory(prefix="deepcart-validate-")
        self.con = duckdb.connect()
        self.con.execute(f"SET temp_directory = '{self.spill.name}'")
        self.con.execute("SET preserve_insertion_order = false")
        if memory_limit:
            self.con.execute(f"SET memory_limit = '{memory_limit}'")
        if threads:
            self.con.execute(f"SET threads = {int(threads)}")
        if self.path is not None:
            quoted = str(self.path).replace("'", "''")
            self.con.execute(
                f"""CREATE VIEW src AS SELECT * EXCLUDE (file_row_number), file_row_number AS {_ROW}
                    FROM read_parquet('{quoted}', file_row_number = true)"""
            )
        else:
            numbered = table.append_column(_ROW, pa.array(np.arange(self.rows, dtype=np.int64)))
            self.con.register("src", numbered)

    def take(self, positions: np.ndarray) -> pa.Table:
        """The rows at ``positions`` (sorted), as a pyarrow Table."""
        import pyarrow as pa

        if self.path is None:
            return self.table.take(pa.array(positions))
        # DuckDB streams the file and keeps only these rows; pyarrow's dataset ``take`` would hold
        # every row group it touches (for a 100,000-row sample: nearly the whole file, texts and all).
        self.con.register("_deepcart_positions", pa.table({_ROW: pa.array(positions, pa.int64())}))
        try:
            return self.con.sql(
                f"SELECT * EXCLUDE ({_ROW}) FROM src SEMI JOIN _deepcart_positions USING ({_ROW}) "
                f"ORDER BY {_ROW}"
            ).to_arrow_table()
        finally:
            self.con.unregister("_deepcart_positions")

    def chunks(self, positions: np.ndarray | None) -> Iterator[tuple[pa.Table, np.ndarray]]:
        """``(rows, their positions)`` in chunks: every row, or those at ``positions``."""
        import numpy as np
        import pyarrow as pa
        import pyarrow.parquet as pq

        if positions is not None:
            for start in range(0, max(len(positions), 1), CHUNK_ROWS):
                part = positions[start : start + CHUNK_ROWS]
                yield self.take(part), part
        elif self.path is None:
            for start in range(0, max(self.rows, 1), CHUNK_ROWS):
                part = self.table.slice(start, CHUNK_ROWS)
                yield part, np.arange(start, start + part.num_rows)
        else:
            start, file = 0, pq.ParquetFile(self.path)
            for batch in file.iter_batches(batch_size=CHUNK_ROWS):
                yield pa.Table.from_batches([batch]), np.arange(start, start + batch.num_rows)
                start += batch.num_rows
            if start == 0:
                yield file.schema_arrow.empty_table(), np.arange(0)

    def close(self) -> None:
        self.con.close()
        self.spill.cleanup()


def _to_pandas(rows: pa.Table, positions: np.ndarray) -> pd.DataFrame:
    """Convert for pandera: integers as nullable ``Int64``, booleans as ``boolean``."""
    import pandas as pd
    import pyarrow as pa

    def types(t: pa.DataType):
        if pa.types.is_integer(t):
            return pd.Int64Dtype()
        if pa.types.is_boolean(t):
            return pd.BooleanDtype()
        return None

    frame = rows.to_pandas(types_mapper=types)
    frame.index = pd.Index(positions, name="row")
    return frame


def _show(source: _Source, positions: list[int], columns: list[str]) -> str:
    """The rows at ``positions``: the identifying and the failing columns, numbered."""
    import numpy as np

    positions = sorted(positions)[:SHOW_ROWS]
    frame = _to_pandas(source.take(np.asarray(positions, dtype=np.int64)), np.asarray(positions))
    shown = frame[[c for c in dict.fromkeys(columns) if c in frame.columns]].reset_index()
    for column in shown.columns:
        # An empty string would print as nothing at all.
        shown[column] = shown[column].map(lambda v: "''" if isinstance(v, str) and not v.strip() else v)
    return shown.to_string(index=False, max_colwidth=MAX_WIDTH)


def _indent(text: str) -> str:
    return "\n".join("    " + line for line in text.splitlines())


# -- 1. every row, in DuckDB ----------------------------------------------------------------------


def _quote(column: str) -> str:
    return '"' + column.replace('"', '""') + '"'


def _plain(value: Any) -> Any:
    """A Python value DuckDB can bind (no numpy scalars or pandas Timestamps)."""
    if hasattr(value, "to_pydatetime"):
        return value.to_pydatetime()
    if hasattr(value, "item"):
        return value.item()
    return value


def _sql_rule(check: Any, column: str) -> tuple[str, list[Any]] | None:
    """The SQL condition rows must meet for a pandera built-in check; ``None`` if there is none."""
    stats, c = check.statistics or {}, _quote(column)
    compare = {
        "greater_than_or_equal_to": (">=", "min_value"),
        "greater_than": (">", "min_value"),
        "less_than_or_equal_to": ("<=", "max_value"),
        "less_than": ("<", "max_value"),
        "equal_to": ("=", "value"),
        "not_equal_to": ("<>", "value"),
    }
    if check.name in compare:
        op, key = compare[check.name]
        return f"{c} {op} ?", [_plain(stats[key])]
    if check.name == "in_range":
        low = ">=" if stats.get("include_min", True) else ">"
        high = "<=" if stats.get("include_max", True) else "<"
        return f"{c} {low} ? AND {c} {high} ?", [_plain(stats["min_value"]), _plain(stats["max_value"])]
    if check.name == "str_length":
        parts, params = [], []
        for key, op in (("exact_value", "="), ("min_value", ">="), ("max_value", "<=")):
            if stats.get(key) is not None:
                parts.append(f"length({c}) {op} ?")
                params.append(int(stats[key]))
        return (" AND ".join(parts), params) if parts else None
    if check.name in ("isin", "notin"):
        values = [_plain(v) for v in stats.get("allowed_values", stats.get("forbidden_values", []))]
        if not values:
            return None
        marks = ", ".join("?" * len(values))
        return f"{c} {'IN' if check.name == 'isin' else 'NOT IN'} ({marks})", values
    return None


def _table_checks(source: _Source, schema: Any, key: tuple[str, ...]) -> tuple[list[Failure], int]:
    """Not-null, SQL-expressible and uniqueness rules on every row; return failures and rule count."""
    rules: list[tuple[tuple[str, ...], str, str, list[Any]]] = []  # columns, check, failing SQL, params
    unique: list[tuple[str, ...]] = []
    for column, spec in schema.columns.items():
        if column not in source.columns:
            continue  # pandera reports the missing column
        if not spec.nullable:
            rules.append(((column,), "not_nullable", f"{_quote(column)} IS NULL", []))
        for check in spec.checks:
            rule = _sql_rule(check, column)
            if rule is not None:
                condition, params = rule
                failing = f"{_quote(column)} IS NOT NULL AND NOT ({condition})"
                rules.append(((column,), check.error or str(check.name), failing, params))
        if spec.unique:
            unique.append((column,))
    if schema.unique:
        unique.append(tuple(schema.unique))
    unique = [cols for cols in unique if all(c in source.columns for c in cols)]

    con, failures = source.con, []
    counts = _count_failing(con, rules)
    for (columns, check, failing, params), count in zip(rules, counts):
        if count:
            rows = [r[0] for r in con.execute(
                f"SELECT {_ROW} FROM src WHERE {failing} ORDER BY {_ROW} LIMIT {SHOW_ROWS}", params
            ).fetchall()]
            failures.append(Failure(columns, check, count, "table", _show(source, rows, [*key, *columns])))
    for columns in unique:
        cols = ", ".join(map(_quote, columns))
        repeated = f"SELECT {cols} FROM src GROUP BY ALL HAVING count(*) > 1"
        keys, rows = con.execute(
            f"""SELECT count(*), coalesce(sum(n), 0)
                FROM (SELECT count(*) AS n FROM src GROUP BY {cols} HAVING count(*) > 1)"""
        ).fetchall()[0]
        if keys:
            first = [r[0] for r in con.execute(
                f"""SELECT {_ROW} FROM src SEMI JOIN ({repeated}) USING ({cols})
                    ORDER BY {cols}, {_ROW} LIMIT {SHOW_ROWS}"""
            ).fetchall()]
            check = "field_uniqueness" if len(columns) == 1 else "multiple_fields_uniqueness"
            check += f" ({keys:,} {'key' if keys == 1 else 'keys'} repeated)"
            failures.append(Failure(columns, check, rows, "table", _show(source, first, [*key, *columns])))
    return failures, len(rules) + len(unique)


def _count_failing(con: Any, rules: list[tuple[tuple[str, ...], str, str, list[Any]]]) -> list[int]:
    """Failing rows per rule, in one scan; rule by rule if one cannot run (a column of the wrong type)."""
    import duckdb

    if not rules:
        return []
    select = ", ".join(f"count(*) FILTER (WHERE {failing})" for _, _, failing, _ in rules)
    params = [p for *_, ps in rules for p in ps]
    try:
        return list(con.execute(f"SELECT {select} FROM src", params).fetchall()[0])
    except duckdb.Error:
        counts = []
        for _, _, failing, ps in rules:
            try:
                counts.append(con.execute(f"SELECT count(*) FROM src WHERE {failing}", ps).fetchall()[0][0])
            except duckdb.Error:
                counts.append(0)  # a column of the wrong type: pandera's dtype check reports it
        return counts


# -- 2. a sample, with pandera --------------------------------------------------------------------


def _sample_checks(
    source: _Source, schema: Any, key: tuple[str, ...], sample: int | None, seed: int
) -> tuple[int, list[Failure]]:
    """Validate a seeded sample (or every row) with pandera; return rows checked and failures."""
    from deepcart.schemas.reviews import quiet_pyspark

    with quiet_pyspark():
        return _pandera_checks(source, schema, key, sample, seed)


def _pandera_checks(
    source: _Source, schema: Any, key: tuple[str, ...], sample: int | None, seed: int
) -> tuple[int, list[Failure]]:
    import copy

    import numpy as np

    errors = import_module("pandera.errors")

    # Uniqueness over a sample proves nothing and is checked on every row already.
    lean = schema.update_columns({c: {"unique": False} for c, s in schema.columns.items() if s.unique})
    lean = copy.copy(lean)
    lean.unique = None

    positions = None
    if sample is not None and sample < source.rows:
        rng = np.random.default_rng(seed)
        positions = np.sort(rng.choice(source.rows, size=sample, replace=False))
    checked = source.rows if positions is None else len(positions)

    found: dict[tuple[tuple[str, ...], str], dict[str, Any]] = {}
    for rows, where in source.chunks(positions):
        frame = _to_pandas(rows, where)
        try:
            lean.validate(frame, lazy=True)
        except errors.SchemaErrors as exc:
            _collect(exc.failure_cases, frame, schema.name, found)
    # A column of the wrong dtype fails its other checks for that reason only: report the dtype.
    wrong_type = {columns for (columns, check) in found if check.startswith("dtype(")}
    missing = [columns[0] for (columns, check) in found if check == "column_in_dataframe"]
    failures = []
    if missing:
        what = "the column is missing" if len(missing) == 1 else "the columns are missing"
        failures.append(Failure(tuple(missing), "column_in_dataframe", None, "sample", what))
    for (columns, check), entry in found.items():
        if check == "column_in_dataframe" or (columns in wrong_type and not check.startswith("dtype(")):
            continue
        if entry["rows"] is None:
            failures.append(Failure(columns, check, None, "sample", entry["detail"]))
        else:
            detail = _show(source, entry["first"], [*key, *columns])
            failures.append(Failure(columns, check, entry["rows"], "sample", detail))
    return checked, failures


def _collect(cases: pd.DataFrame, frame: pd.DataFrame, schema_name: str | None, found: dict) -> None:
    """Fold pandera's ``failure_cases`` of one chunk into ``found`` (counts and first rows)."""
    for (column, check), group in cases.groupby(["column", "check"], dropna=False, sort=False):
        check = str(check)
        if check == "column_in_dataframe":
            for missing in group["failure_case"]:
                found.setdefault(((str(missing),), check), {"rows": None, "detail": ""})
            continue
        columns = (str(column),) if column is not None and column == column else (str(schema_name),)
        entry = found.setdefault((columns, check), {"rows": 0, "first": [], "detail": ""})
        if check.startswith("dtype(") and columns[0] in frame.columns:
            entry.update(rows=None, detail=f"found dtype {frame[columns[0]].dtype}")
            continue
        index = group["index"].dropna()
        if index.empty:
            values = ", ".join(map(str, group["failure_case"].head(SHOW_ROWS)))
            entry.update(rows=None, detail=f"failure cases: {values}")
            continue
        rows = sorted({int(i) for i in index})
        if entry["rows"] is not None:
            entry["rows"] += len(rows)
            entry["first"] = sorted(entry["first"] + rows[:SHOW_ROWS])[:SHOW_ROWS]

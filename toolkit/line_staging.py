"""Line-level reading of text inputs through DuckDB, with true line numbers and reject handling.

DuckDB's JSON reader has no reject table and reports no line numbers, and a pandas round trip is
far too slow for the 43.9M-line Electronics file. So the loaders read every input as raw text
lines and do the rest in SQL:

1. :func:`sniff` looks at the first megabyte in Python: compression (by magic bytes, not by file
   name), an empty file, and whether the file is the right format at all (a CSV or binary file
   given to the JSON loader is one clear error, not a million rejected lines).
2. DuckDB's CSV reader reads the lines (:func:`lines_sql`: a delimiter that cannot occur in valid
   JSON, no quoting; ``new_line='\\r\\n'`` with ``strict_mode=false`` treats ``\\n`` and ``\\r\\n``
   alike), and ``row_number() OVER ()`` numbers them. With ``preserve_insertion_order`` on, the
   streaming window sees the rows in file order, so the number is the file's 1-based line number,
   blank lines included.
3. The loader's SQL parses each line once (``from_json``), names the first problem of each line in
   one ``CASE`` expression whose first branch is a cheap all-good test, and derives the typed
   columns. Good and bad lines go to a TEMP staging table, or (``StageSpec.to_parquet``, the
   review texts) stream into Parquet files under ``temp_directory`` behind a TEMP view, so that
   they never sit in DuckDB's memory. ``from_json`` throws on a malformed line; only then is the
   file read again with ``try(from_json(...))``, which costs a quarter more on every line.
4. With ``on_bad_records="fail"`` the query itself calls ``error()`` on the first bad line, so a
   bad line 5 of a 22 GB file fails in seconds. With ``"skip"`` the bad lines are staged too
   (``problem`` set, ``raw`` capped) and are returned as :class:`deepcart.reports.Rejected`.

Failures below the SQL level are translated too: invalid UTF-8 (DuckDB's CSV reader names the
line; in skip mode the file is re-read with DuckDB's reject table and the line numbers of the kept
rows are corrected) and an empty file. Line sizes and gzip integrity are checked by a second
reading in a thread beside DuckDB (:mod:`deepcart.toolkit.line_scan`), because DuckDB's readers
disagree on the first and do not check the second: a line over the limit is a bad record whichever
reader met it; a corrupt gzip stream is an error in both modes (its lines cannot be trusted), a
truncated one keeps its complete lines in skip mode.

This module is the public toolkit for loader plugins (the contrib package's legacy loader uses it):
:class:`StageSpec`, :class:`LineStager`, :func:`sniff` and the SQL helpers. Only the standard
library is imported at module level; DuckDB comes in with the connection.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from deepcart.toolkit.line_scan import _GZIP_MAGIC, GzipDamage, LineScan, Repaired, gunzip_chunks, write_repaired
from deepcart.toolkit.line_scan import is_gzip  # noqa: F401  (re-exported: loaders use it)
from deepcart.toolkit.sql import sql_str  # re-exported: loaders import it from here
from deepcart.errors import BadInputError
from deepcart.reports import IngestReport, Rejected

if TYPE_CHECKING:
    import duckdb

OnBad = Literal["fail", "skip"]

#: Longest raw line text kept in a :class:`Rejected` record.
MAX_RAW_CHARS = 2_000
#: Default longest line, in bytes without the line break; a longer line is a bad record (a reject,
#: or the error of ``on_bad_records="fail"``) whichever reader met it. ``deepcart build
#: --max-line-size`` changes it per build (:func:`set_line_limit`).
MAX_LINE_BYTES = 16 * 2**20
#: The DuckDB variable that carries a build's line limit to every loader's :class:`LineStager`.
LINE_LIMIT_VARIABLE = "deepcart_max_line_bytes"
#: Room DuckDB's line reader gets above the limit, so that it never refuses a line the limit
#: allows (it counts a ``\r\n`` ending in); :class:`LineScan` makes the call.
_READER_SLACK = 4096
#: How much of a file :func:`sniff` decompresses to judge it.
SNIFF_BYTES = 2**20
#: Rejected lines kept (with their raw text, up to 2,000 characters each: at most ~200 MB);
#: beyond this they are only counted, in a note.
MAX_REJECTS_KEPT = 100_000

#: Unix milliseconds accepted as review times: 1990-01-01 <= t < 2100-01-01. A value outside is
#: most likely seconds (the 2014/2018 formats) and would silently turn into January 1970.
MIN_MS, MAX_MS = 631_152_000_000, 4_102_444_800_000

_BAD_LINE_MARK = "deepcart-bad-line"
_BAD_LINE_RE = re.compile(_BAD_LINE_MARK + r" (\d+): (.*?)(?:\n|$)", re.S)
_CSV_LINE_RE = re.compile(r"CSV Error on Line: (\d+)")



# ---------------------------------------------------------------------------------------------
# Sniffing
# ---------------------------------------------------------------------------------------------


@dataclass
class Sniffed:
    """What the first megabyte of a file says about it."""

    compression: Literal["gzip", "none"]
    head: bytes  # decompressed start of the file, cut at the last complete line when possible
    readable: bool  # False when decompressing already failed inside the head

    @property
    def empty(self) -> bool:
        """No data at all, or only blank lines."""
        return self.readable and not self.head.strip()

    def head_lines(self, limit: int = 50) -> list[tuple[int, bytes]]:
        """The first ``limit`` non-blank lines with their 1-based line numbers."""
        out = []
        for number, line in enumerate(self.head.split(b"\n"), start=1):
            if line.strip():
                out.append((number, line.rstrip(b"\r")))
                if len(out) >= limit:
                    break
        return out


def sniff(path: Path) -> Sniffed:
    """Compression and the start of ``path`` (decompressed), read in Python."""
    with open(path, "rb") as fh:
        start = fh.read(SNIFF_BYTES)
    if not start.startswith(_GZIP_MAGIC):
        head = start
        cut = head.rfind(b"\n")
        if cut >= 0 and len(start) == SNIFF_BYTES:
            head = head[: cut + 1]
        return Sniffed("none", head, True)
    out = bytearray()
    readable = True
    try:
        for chunk in gunzip_chunks(path):
            out += chunk
            if len(out) >= SNIFF_BYTES:
                break
    except GzipDamage:
        readable = bool(out)
    head = bytes(out)
    cut = head.rfind(b"\n")
    if cut >= 0 and len(head) >= SNIFF_BYTES:
        head = head[: cut + 1]
    return Sniffed("gzip", head, readable)


def describe_non_text(line: bytes) -> str | None:
    """``"binary data"`` when ``line`` is not UTF-8 text; else None."""
    if b"\x00" in line:
        return "binary data"
    try:
        line.decode("utf-8")
    except UnicodeDecodeError:
        return "binary data (not UTF-8 text)"
    return None


# ---------------------------------------------------------------------------------------------
# SQL building blocks
# ---------------------------------------------------------------------------------------------


def set_line_limit(con: duckdb.DuckDBPyConnection, limit: int) -> None:
    """Make ``limit`` bytes the longest line every :class:`LineStager` on ``con`` accepts.

    The setting is a DuckDB variable of the connection: a loader that stages on a cursor of the
    build's connection (another thread) passes it on with ``set_line_limit(cursor,
    line_limit(con))``.
    """
    con.execute(f"SET VARIABLE {LINE_LIMIT_VARIABLE} = {int(limit)}")


def line_limit(con: duckdb.DuckDBPyConnection) -> int:
    """The line limit set on ``con`` with :func:`set_line_limit`, else :data:`MAX_LINE_BYTES`."""
    value = con.execute(f"SELECT getvariable('{LINE_LIMIT_VARIABLE}')").fetchone()[0]
    return int(value) if value else MAX_LINE_BYTES


def size_text(size: int) -> str:
    """``16 MiB``, ``1.5 GiB``, ``900 KiB``, ``12 bytes``: a byte count for a message."""
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if size >= scale:
            return f"{size / scale:.1f}".removesuffix(".0") + f" {unit}"
    return f"{size} bytes"


def lines_sql(path: Path, compression: str, *, rejects: str | None = None,
              limit: int = MAX_LINE_BYTES) -> str:
    """A DuckDB table expression with one VARCHAR column ``line`` per line of ``path``.

    Chr(1) cannot occur in valid JSON (control characters must be escaped inside strings) nor in
    the benchmark CSVs; quoting and escaping are off, so a line comes back exactly as written
    (minus the line break). Blank lines come back as NULL rows, which keeps the numbering true.
    With ``rejects`` (a table name), undecodable or over-long lines are skipped and recorded there.
    """
    options = [
        "columns={'line': 'VARCHAR'}", "delim=chr(1)", "quote=''", "escape=''", "header=false",
        "auto_detect=false", "strict_mode=false", r"new_line='\r\n'",
        f"compression={sql_str('gzip' if compression == 'gzip' else 'none')}",
        f"max_line_size={limit + _READER_SLACK}", f"buffer_size={2 * (limit + _READER_SLACK)}",
    ]
    if rejects:
        options += ["ignore_errors=true", "store_rejects=true", f"rejects_table={sql_str(rejects)}",
                    f"rejects_scan={sql_str(rejects + '_scan')}"]
    return f"read_csv({sql_str(str(path))}, {', '.join(options)})"


def quoted_sql(expr: str, width: int = 60) -> str:
    """SQL for ``'value'`` in a message (cut to ``width`` characters)."""
    return f"'''' || left({expr}, {width}) || ''''"


def value_checks_sql(user: str, item: str, rating: str, ts: str, rating_num: str,
                     ts_num: str) -> str:
    """``WHEN ... THEN 'message'`` clauses shared by the loaders.

    ``user``, ``item``, ``rating``, ``ts`` are SQL expressions for the raw text of each field
    (NULL when absent); ``rating_num`` and ``ts_num`` their ``TRY_CAST(... AS DOUBLE)``. The first
    failing check names the line's problem.
    """
    return f"""
        WHEN {blank_sql(user)} THEN 'missing user_id'
        WHEN {blank_sql(item)} THEN 'missing parent_asin'
        {id_checks_sql(user, 'user_id')}
        {id_checks_sql(item, 'parent_asin')}
        WHEN coalesce(trim({rating}), '') = '' THEN 'missing rating'
        WHEN {rating_num} IS NULL THEN 'rating ' || {quoted_sql(rating)} || ' is not a number'
        WHEN NOT ({rating_num} BETWEEN 1 AND 5)
            THEN 'rating ' || trim({rating}) || ' is outside [1, 5]'
        WHEN coalesce(trim({ts}), '') = '' THEN 'missing timestamp'
        WHEN {ts_num} IS NULL THEN 'timestamp ' || {quoted_sql(ts)} || ' is not a number'
        WHEN NOT ({ts_num} >= {MIN_MS} AND {ts_num} < {MAX_MS}) THEN 'timestamp ' || trim({ts})
            || ' is not a time in Unix milliseconds between 1990 and 2100 (seconds?)'
    """


def values_ok_sql(user: str, item: str, rating_num: str, ts_num: str) -> str:
    """A cheap predicate that implies :func:`value_checks_sql` finds nothing (the common case);
    the ids as :func:`id_ok_sql` checks them."""
    return (f"{id_ok_sql(user)} AND {id_ok_sql(item)} AND {rating_num} BETWEEN 1 AND 5 "
            f"AND {ts_num} >= {MIN_MS} AND {ts_num} < {MAX_MS}")


def id_checks_sql(expr: str, name: str) -> str:
    """``WHEN ... THEN`` clauses naming what makes a present id ``expr`` (field ``name``) no id."""
    return f"""
        WHEN left(trim({expr}), 1) IN ('[', '{{') THEN '{name} is a list or an object, not an id'
        WHEN {has_control_sql(expr)} THEN '{name} contains a control character (a tab, a NUL, an escape...)'
    """


def id_ok_sql(expr: str) -> str:
    """A cheap predicate implying that :func:`id_checks_sql` and the blank check pass for ``expr``:
    ``ascii(x) > 32``, non-empty and not starting with a blank (no ``trim`` needed); not 91 or 123,
    not ``[`` or ``{``, the start of a list or an object where a plain id belongs."""
    return f"ascii({expr}) > 32 AND ascii({expr}) NOT IN (91, 123) AND NOT {has_control_sql(expr)}"


def blank_sql(expr: str) -> str:
    """SQL: ``expr`` is NULL, empty or only whitespace (tabs and line breaks included: DuckDB's
    ``trim`` removes spaces only)."""
    return f"coalesce(trim({expr}, ' ' || chr(9) || chr(10) || chr(11) || chr(12) || chr(13)), '') = ''"


def has_control_sql(expr: str) -> str:
    """SQL: ``expr`` holds a control character. An id with a NUL, a line break or a terminal escape
    in it is no id (it would break every line-based output and could drive a terminal)."""
    return f"regexp_matches({expr}, '[\\x00-\\x1f\\x7f]')"


def keys_sql() -> str:
    """A ``derive`` item for JSON loaders: the top-level keys of ``line`` as ``keys``.

    ``from_json`` keeps the first of two equal keys, so ``{"rating": 5, "rating": 1}`` would be a
    5 although the line has no one meaning (DuckDB's JSON reader, the fast path, refuses it).
    :func:`unique_keys_sql` is the cheap test on every line (the line path costs a third more
    with it; good files take the fast path and never pay it), :func:`duplicate_key_check_sql`
    names the key.
    """
    return "CASE WHEN j IS NOT NULL AND json_type(line) = 'OBJECT' THEN json_keys(line) END AS keys"


def unique_keys_sql() -> str:
    """``ok`` part: no top-level key appears twice (see :func:`keys_sql`)."""
    return "len(list_distinct(keys)) = len(keys)"


def duplicate_key_check_sql(keys: Sequence[str]) -> str:
    """``WHEN ... THEN`` clause naming the first of ``keys`` (those the loader reads) that appears
    twice at the top level (see :func:`keys_sql`); a repeated key the loader ignores is harmless."""
    wanted = "[" + ", ".join(sql_str(k) for k in keys) + "]"
    again = (f"list_filter(keys, lambda k, i: list_position(keys, k) < i "
             f"AND list_contains({wanted}, k))")
    return f"WHEN len({again}) > 0 THEN 'key ' || {quoted_sql(again + '[1]')} || ' appears more than once'"


def decimal_sql(text: str) -> str:
    """``text`` as a DOUBLE when it is a plain decimal number, else NULL.

    DuckDB's cast also reads digit separators the way Python does (``'0_5'`` is 5, ``'1_000'`` is
    1000): a rating file that holds one meant something else, so it is no number here.
    """
    return f"CASE WHEN contains({text}, '_') THEN NULL ELSE TRY_CAST({text} AS DOUBLE) END"


def timestamp_sql(ts_num: str) -> str:
    """TIMESTAMP from Unix milliseconds (a DOUBLE already checked by the problem CASE)."""
    return f"epoch_ms(CAST(round({ts_num}) AS BIGINT))"


def br_sql(expr: str) -> str:
    """SQL turning ``<br />``, ``<br/>``, ``<br>`` (any case) into a newline; step 1 of cleaning.

    Plain ``replace`` handles the spellings the data uses; the regular expression runs only on
    the rare rows where some other ``<br`` remains (``<BR>``, ``<br  />``).
    """
    plain = expr
    for tag in ("<br />", "<br/>", "<br>"):
        plain = f"replace({plain}, '{tag}', chr(10))"
    rest = (f"CASE WHEN regexp_matches({plain}, '<[bB][rR]') THEN regexp_replace({plain}, "
            f"'<br\\s*/?>', chr(10), 'gi') ELSE {plain} END")
    return f"CASE WHEN contains({expr}, '<') THEN {rest} ELSE {expr} END"


def entities_sql(expr: str) -> str:
    """SQL decoding HTML entities, vectorised; step 2 of cleaning (after :func:`br_sql`).

    Named entities first, then numeric ones (``&#34;``, ``&#x27;``: split on ``&#`` and decode each
    piece's leading number with ``chr``), ``&amp;`` last so that ``&amp;lt;`` becomes ``&lt;`` as
    with :func:`html.unescape`. Rows without ``&`` skip all of it; unknown entities and code
    points that are not characters stay as written. No subqueries: plain scalar SQL.
    """
    named = expr
    for entity, char in (("&quot;", '"'), ("&lt;", "<"), ("&gt;", ">"), ("&apos;", "''"),
                         ("&nbsp;", "\u00a0")):
        named = f"replace({named}, '{entity}', '{char}')"
    number = "split_part(p, ';', 1)"
    code = (f"CASE WHEN regexp_matches(p, '^[0-9]{{1,7}};') THEN TRY_CAST({number} AS INTEGER) "
            f"WHEN regexp_matches(p, '^[xX][0-9a-fA-F]{{1,6}};') "
            f"THEN TRY_CAST('0x' || substr({number}, 2) AS INTEGER) END")
    char = (f"CASE WHEN ({code}) BETWEEN 1 AND 1114111 AND NOT ({code}) BETWEEN 55296 AND 57343 "
            f"THEN chr({code}) || substr(p, strpos(p, ';') + 1) END")
    piece = f"CASE WHEN i = 1 THEN p ELSE coalesce({char}, '&#' || p) END"
    numeric = (f"CASE WHEN contains({expr}, '&#') THEN array_to_string(list_transform("
               f"string_split({named}, '&#'), lambda p, i: {piece}), '') ELSE {named} END")
    return f"CASE WHEN contains({expr}, '&') THEN replace({numeric}, '&amp;', '&') ELSE {expr} END"


def clean_html_sql(expr: str) -> str:
    """Both cleaning steps in one expression (``expr`` is repeated: use it on column names, or
    apply :func:`br_sql` and :func:`entities_sql` in two nested SELECTs for big tables)."""
    return entities_sql(f"({br_sql(expr)})")


# ---------------------------------------------------------------------------------------------
# Staging
# ---------------------------------------------------------------------------------------------


@contextmanager
def insertion_order_kept(con: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """``preserve_insertion_order`` on while inside, so ``row_number() OVER ()`` is file order.

    The setting is global to the database: a loader staging files from several connections at
    once wraps all of them in one of these; nested uses leave the setting alone.
    """
    old = con.execute("SELECT current_setting('preserve_insertion_order')").fetchone()[0]
    if old:
        yield
        return
    con.execute("SET preserve_insertion_order = true")
    try:
        yield
    finally:
        con.execute("SET preserve_insertion_order = false")


@contextmanager
def serial_threads(con: duckdb.DuckDBPyConnection, when: bool = True) -> Iterator[None]:
    """``threads = 1`` while inside (when ``when``): for staging gzip streams.

    A gzip stream is decompressed by one thread, so more threads only parse ahead of it and hold
    the chunks they finished until the order-keeping sink takes them: on 1M reviews, twice the
    memory (365 vs 150 MiB) for no speed. Connections that run queries at the same time (the meta
    side) still each get their own calling thread. The setting is global to the database: one
    ``with`` around all concurrent staging, never one per connection.
    """
    if not when:
        yield
        return
    old = con.execute("SELECT current_setting('threads')").fetchone()[0]
    con.execute("SET threads = 1")
    try:
        yield
    finally:
        con.execute(f"SET threads = {int(old)}")


@dataclass
class StageSpec:
    """How one loader turns the lines of one kind of file into staged rows.

    :ivar table: the TEMP staging table.
    :ivar columns: DDL of the typed columns, e.g. ``"user_id VARCHAR, rating DOUBLE"``.
    :ivar parse: select-list items computed from ``line`` once (e.g. ``from_json(...) AS j``).
    :ivar safe_parse: the same, never throwing (``try(from_json(...)) AS j``); used only when
        ``parse`` threw an error whose message holds one of ``parse_errors``. (``try`` costs a
        quarter of the parse time even when nothing fails, so good files never pay it.)
    :ivar derive: select-list items computed once from the ``parse`` names (e.g. a TRY_CAST used
        both by the checks and by ``values``).
    :ivar ok: a cheap predicate (on ``line`` and the ``parse``/``derive`` names) that holds for a
        good line; it runs on every line, in the thread that also decompresses a ``.gz`` file.
    :ivar problem: SQL naming the problem of a line where ``ok`` does not hold (NULL if none).
    :ivar values: select list of the typed columns, in ``columns`` order; it may also use
        ``problem`` (the values of bad lines are never used).
    :ivar ignore: SQL predicate for lines dropped silently (a CSV header), on the ``parse`` names
        and ``line_no``; None for none.
    :ivar check_head: Python check of a file's first lines; returns ``(line, problem)`` when the
        whole file is the wrong format (raised in both modes), else None.
    :ivar fast_reader: optional table function that yields the ``parse`` struct ``j`` directly,
        ``@path@``, ``@compression@`` and ``@max_line@`` (the line limit in bytes, for
        ``maximum_object_size``) to be filled in (DuckDB's JSON reader: 40% less work
        than lines + ``from_json``). It numbers records, not lines, and cannot name problems, so
        it is only trusted when every record passes ``fast_ok``; anything else (a failing
        record, an error) sends the file down the line path, which finds the true lines.
    :ivar fast_ok: ``ok`` for the ``fast_reader`` rows (no ``line`` there).
    :ivar to_parquet: stage to Parquet files instead of a TEMP table, when the connection has an
        absolute ``temp_directory`` (as :func:`deepcart.pipeline.build.connect` sets): the rows stream to
        disk and never sit in DuckDB's memory. ``table`` is then a TEMP view over the files
        (:meth:`LineStager.staged_files`), which outlive :meth:`LineStager.close` so that a
        loader can keep reading them lazily (the review texts, for instance, until the final
        write); they live inside the temp directory and go with it.
    """

    table: str
    columns: str
    parse: str
    ok: str
    problem: str
    values: str
    derive: str = ""
    ignore: str | None = None
    safe_parse: str | None = None
    parse_errors: tuple[str, ...] = ()
    check_head: Callable[[Sniffed], tuple[int, str] | None] | None = None
    fast_reader: str | None = None
    fast_ok: str | None = None
    to_parquet: bool = False


#: Parquet options of staged files: fast to write and read back, small row groups so that the
#: writer's buffer stays a few megabytes per thread.
STAGE_PARQUET = "FORMAT parquet, COMPRESSION snappy, ROW_GROUP_SIZE 20000"


class LineStager:
    """Stages files into TEMP tables and applies the ``on_bad_records`` policy."""

    def __init__(self, con: duckdb.DuckDBPyConnection, on_bad_records: OnBad, report: IngestReport):
        if on_bad_records not in ("fail", "skip"):
            raise ValueError(f"on_bad_records must be 'fail' or 'skip', not {on_bad_records!r}")
        self.con, self.on_bad, self.report = con, on_bad_records, report
        self.limit = line_limit(con)
        self._scratch: Path | None = None
        self._rejects_dropped = 0
        self._parquet: dict[str, dict[int, Path]] = {}  # table -> file_no -> staged file
        self._stage_dirs: dict[str, Path] = {}
        self._ddl: dict[str, str] = {}  # table -> its column list, for helpers' schema tables
        self._own: set[int] | None = None  # a helper's own file numbers (None: not a helper)

    # -- lifecycle ---------------------------------------------------------------------------

    def create(self, spec: StageSpec) -> None:
        """(Re)create the staging table (or, with ``spec.to_parquet``, view) of ``spec``."""
        ddl = f"(file_no INTEGER, line_no BIGINT, {spec.columns}, problem VARCHAR, raw VARCHAR)"
        folder = self._temp_directory() if spec.to_parquet else None
        drop_relation(self.con, spec.table)
        if folder is None:
            self.con.execute(f"CREATE TEMP TABLE {spec.table} {ddl}")
            return
        # An empty table holds the column types; the view shows it until files are staged.
        self.con.execute(f"CREATE OR REPLACE TEMP TABLE {spec.table}__schema {ddl}")
        self._stage_dirs[spec.table] = Path(tempfile.mkdtemp(prefix=STAGE_PREFIX, dir=folder))
        self._parquet[spec.table] = {}
        self._ddl[spec.table] = ddl
        self._refresh_view(spec.table)

    def stages_to_files(self, spec: StageSpec) -> bool:
        """Whether ``spec`` (after :meth:`create`) stages each file to a Parquet file of its own, so
        that :meth:`helper` stagers on other connections can stage files at the same time."""
        return spec.table in self._parquet

    def helper(self, con: duckdb.DuckDBPyConnection, spec: StageSpec) -> LineStager:
        """A stager on ``con`` (another connection, for another thread) that stages files of ``spec``
        into this stager's folder with its own report; :meth:`refresh` shows them here afterwards."""
        other = LineStager(con, self.on_bad, IngestReport())
        other.limit, other._own = self.limit, set()
        other._parquet, other._stage_dirs = self._parquet, self._stage_dirs  # distinct file_no keys
        con.execute(f"CREATE OR REPLACE TEMP TABLE {spec.table}__schema {self._ddl[spec.table]}")
        other._refresh_view(spec.table)
        return other

    def absorb(self, helper: LineStager) -> None:
        """Add what a :meth:`helper` reported (its rejects, in its file's order, and notes) to this
        stager's report, within the same cap on listed rejects."""
        room = max(0, MAX_REJECTS_KEPT - len(self.report.rejected))
        self.report.rejected += helper.report.rejected[:room]
        self._rejects_dropped += max(0, len(helper.report.rejected) - room) + helper._rejects_dropped
        helper._rejects_dropped = 0
        self.report.notes += helper.report.notes

    def refresh(self, table: str) -> None:
        """Show every file staged so far (by helpers too) in the staging view of ``table``."""
        self._refresh_view(table)

    def staged_files(self, table: str) -> list[Path] | None:
        """The Parquet files behind a ``to_parquet`` staging view, in file order; None for a table."""
        if table not in self._parquet:
            return None
        return [self._parquet[table][n] for n in sorted(self._parquet[table])]

    def close(self, *tables: str) -> None:
        """Drop staging tables (and views) and scratch files; staged Parquet files stay."""
        for table in tables:
            drop_stage(self.con, table)
        if self._scratch is not None:
            shutil.rmtree(self._scratch, ignore_errors=True)
            self._scratch = None
        if self._rejects_dropped:
            self.report.notes.append(
                f"{self._rejects_dropped:,} more rejected lines were not listed "
                f"(only the first {MAX_REJECTS_KEPT:,} are kept)"
            )
            self._rejects_dropped = 0

    # -- one file ----------------------------------------------------------------------------

    def stage(self, spec: StageSpec, file_no: int, path: Path) -> int:
        """Stage every line of ``path``; return the number of (non-blank, non-ignored) lines.

        A :class:`~deepcart.toolkit.line_scan.LineScan` reads the file beside DuckDB; when it finds
        a line over the limit or gzip damage, what DuckDB staged is replaced (:meth:`_repair`).
        """
        path = Path(path)
        label = str(path)
        if not path.is_file():
            raise BadInputError(label, None, "the file does not exist" if not path.exists()
                                else "not a regular file")
        sniffed = sniff(path)
        if sniffed.empty:
            return self._bad_file(label, "the file is empty")
        if sniffed.readable and spec.check_head is not None:
            wrong = spec.check_head(sniffed)
            if wrong is not None:  # the wrong format altogether: an error in both modes
                if sniffed.compression == "gzip" and _damaged(path):
                    raise BadInputError(label, 1, _corrupt_problem(0))  # garbage from damage
                raise BadInputError(label, wrong[0], wrong[1])
        scan = LineScan(path, sniffed.compression, self.limit).start()
        try:
            return self._stage_scanned(spec, file_no, path, sniffed.compression, label, scan)
        finally:
            scan.stop()

    def _stage_scanned(self, spec: StageSpec, file_no: int, path: Path, compression: str,
                       label: str, scan: LineScan) -> int:
        """Stage ``path`` and check the staging against ``scan``."""
        mark = len(self.report.rejected)
        try:
            count = self._stage_source(spec, file_no, path, compression, label)
        except _ReaderTrouble as trouble:
            scan.wait()
            if not scan.trouble and compression != "gzip":
                raise BadInputError(label, None, f"cannot be read: {trouble}") from None
            # (an intact gzip stream that DuckDB cannot read, zero padding after the last
            # member for one, is read from its decompressed copy)
            return self._repair(spec, file_no, path, compression, label, scan, mark)
        except BadInputError as bad:  # fail mode: was something before this line worse?
            if bad.line is None:
                raise
            # Garbage lines in a gzip file may be damage that zlib only proves at the stream's
            # end; a value problem (a rating of 9) needs no more than the lines before it.
            scan.wait(None if compression == "gzip" and _garbled(bad.problem) else bad.line)
            if not (scan.damage in _CORRUPT or scan.long_before(bad.line)
                    or (scan.damage and scan.lines < bad.line)):
                raise
            return self._repair(spec, file_no, path, compression, label, scan, mark,
                                first_bad=bad.line)
        scan.wait()
        if not scan.trouble:
            return count
        self._unstage(spec, file_no, mark)
        return self._repair(spec, file_no, path, compression, label, scan, mark)

    def _repair(self, spec: StageSpec, file_no: int, path: Path, compression: str, label: str,
                scan: LineScan, mark: int, *, first_bad: int | None = None) -> int:
        """Stage a file with long lines or gzip damage from a repaired copy (see ``write_repaired``).

        Corruption is an error in both modes: past the damage nothing can be trusted, and the
        lines before it may already hold garbage. A truncated stream keeps its complete lines in
        skip mode, and long lines become rejects.
        """
        copy = self._scratch_dir() / f"{file_no}-{path.name}.repaired"
        if scan.damage in _CORRUPT:
            try:
                raise self._corruption(spec, file_no, path, compression, label, scan, mark,
                                       first_bad, copy)
            finally:
                copy.unlink(missing_ok=True)
        try:
            if self.on_bad == "fail":
                # Stage the lines before the first long line or the damage: an earlier bad line
                # there is the one to name.
                fixed = write_repaired(path, compression, self.limit, copy, stop_at_long=True)
                staged = self._stage_source(spec, file_no, copy, "none", label) if fixed.lines else 0
                if fixed.long:
                    raise BadInputError(label, fixed.long[0].line, self._long_problem(fixed.long[0]))
                if fixed.damage:
                    raise BadInputError(label, fixed.lines + 1, _damage_problem(fixed))
                return staged
            fixed = write_repaired(path, compression, self.limit, copy)
            if fixed.damage in _CORRUPT:  # never rejects for damage (the scan saw it: belt and braces)
                raise BadInputError(label, fixed.lines + 1, _corrupt_problem(fixed.lines))
            self._unstage(spec, file_no, mark)
            staged = self._stage_source(spec, file_no, copy, "none", label) if fixed.lines else 0
        finally:
            copy.unlink(missing_ok=True)
        for long in fixed.long:
            self._reject(Rejected(label, long.line, self._long_problem(long),
                                  long.head.decode("utf-8", "replace")[:MAX_RAW_CHARS]))
        if fixed.long_count > len(fixed.long):
            self._rejects_dropped += fixed.long_count - len(fixed.long)
        if fixed.damage:
            self._reject(Rejected(label, fixed.lines + 1, _damage_problem(fixed),
                                  fixed.tail[:MAX_RAW_CHARS].decode("utf-8", "replace")))
            self.report.notes.append(
                f"{label}: {_damage_problem(fixed)}; the {fixed.lines:,} complete lines were read")
        self.report.rejected[mark:] = sorted(self.report.rejected[mark:], key=lambda r: r.line)
        return staged + fixed.long_count

    def _corruption(self, spec: StageSpec, file_no: int, path: Path, compression: str,
                    label: str, scan: LineScan, mark: int, first_bad: int | None,
                    copy: Path) -> BadInputError:
        """The error for a damaged stream, naming the last line known to be intact.

        zlib stops at the damage or (the checksum) only at the end, and what it produced before
        may already be garbage: the intact part ends before the first garbled line, found by
        staging the lines before the damage in skip mode (unless that was just done). In fail
        mode a wrong value before the damage is named as any first bad line is.
        """
        rejects = self.report.rejected[mark:]
        if first_bad is not None and self.on_bad == "fail":
            rejects = []  # staging stopped at first_bad; look at every line up to the damage
        if not rejects:
            fixed = write_repaired(path, compression, self.limit, copy)
            on_bad, self.on_bad = self.on_bad, "skip"
            try:
                if fixed.lines:
                    self._stage_source(spec, file_no, copy, "none", label)
            finally:
                self.on_bad = on_bad
            rejects = self.report.rejected[mark:]
            self._unstage(spec, file_no, mark)
        first = min(rejects, key=lambda r: r.line) if rejects else None
        if self.on_bad == "fail" and first is not None and not _garbled(first.problem):
            return BadInputError(label, first.line, first.problem)
        garbled = [r.line for r in rejects if _garbled(r.problem)]
        if scan.damage == "checksum" and not garbled:
            return BadInputError(label, None, "the gzip stream does not match its checksum: the "
                                 "file is damaged and which lines are wrong cannot be told; fetch "
                                 "or copy it again")
        after = min([scan.lines] + [line - 1 for line in garbled])
        return BadInputError(label, after + 1, _corrupt_problem(after))

    def _long_problem(self, long) -> str:
        return (f"the line is {size_text(long.size)}, longer than the {size_text(self.limit)} limit "
                f"(deepcart build --max-line-size raises it)")

    def _unstage(self, spec: StageSpec, file_no: int, mark: int) -> None:
        """Forget what was staged from file ``file_no`` and the rejects listed since ``mark``."""
        del self.report.rejected[mark:]
        staged = self._parquet.get(spec.table, {}).pop(file_no, None)
        if spec.table not in self._parquet:
            self.con.execute(f"DELETE FROM {spec.table} WHERE file_no = {int(file_no)}")
        elif staged is not None:
            staged.unlink(missing_ok=True)
            self._refresh_view(spec.table)

    def _stage_source(self, spec: StageSpec, file_no: int, source: Path, compression: str,
                      label: str) -> int:
        if spec.fast_reader is not None:
            staged = self._fast_insert(spec, file_no, source, compression)
            if isinstance(staged, int):
                return staged
            if staged is not None and compression == "gzip" and _is_gzip_error(str(staged)):
                raise _ReaderTrouble(_first_line(str(staged)))
        try:
            return self._insert(spec, file_no, source, compression, label, rejects=None)
        except BadInputError:
            raise
        except Exception as exc:  # duckdb.Error; its module is not imported at top level
            message = str(exc)
            if type(exc).__name__ == "NotImplementedException" and "full read" in message:
                raise _ReaderTrouble("a line is longer than DuckDB's reader can hold") from None
            if type(exc).__name__ not in ("IOException", "InvalidInputException"):
                raise  # out of memory, interrupted, a bug: not a property of the input
            if compression == "gzip" and _is_gzip_error(message):
                raise _ReaderTrouble(_first_line(message)) from None
            csv_line = _CSV_LINE_RE.search(message)
            if csv_line is not None and "CSV Error" in message:
                problem = _csv_problem(message)
                if problem == _TOO_LONG:
                    raise _ReaderTrouble(f"line {csv_line.group(1)} is too long") from None
                if self.on_bad == "fail":
                    raise BadInputError(label, int(csv_line.group(1)), problem) from None
                return self._insert(spec, file_no, source, compression, label,
                                    rejects="_deepcart_csv_rejects")
            raise BadInputError(label, None, f"cannot be read: {_first_line(message)}") from None

    def _insert(self, spec: StageSpec, file_no: int, source: Path, compression: str, label: str,
                *, rejects: str | None) -> int:
        """The staging INSERT of one file; in fail mode the first bad line aborts it.

        The strict ``parse`` runs first; only when it throws (a malformed line somewhere) is the
        file read again with ``safe_parse``, which turns such lines into rejects.
        """
        parses = [spec.parse] + ([spec.safe_parse] if spec.safe_parse else [])
        problem = f"CASE WHEN {spec.ok} THEN NULL ELSE {spec.problem} END"
        for attempt, parse in enumerate(parses, start=1):
            try:
                rows = self._line_rows(spec, parse, source, compression, rejects)
                sql = self._sql(spec, file_no, rows, problem, self.on_bad)
                with insertion_order_kept(self.con):
                    count = self._store(spec, file_no, sql)
                break
            except Exception as exc:
                bad = _BAD_LINE_RE.search(str(exc))
                if bad is not None:
                    raise BadInputError(label, int(bad.group(1)), bad.group(2).strip()) from None
                if attempt == len(parses) or not any(m in str(exc) for m in spec.parse_errors):
                    raise
                if rejects is not None:  # the reader's rejects of the failed attempt
                    self.con.execute(f"DROP TABLE IF EXISTS {rejects}")
                    self.con.execute(f"DROP TABLE IF EXISTS {rejects}_scan")
        skipped: list[tuple[int, str, str]] = []
        if rejects is not None:
            skipped = self._reader_rejects(rejects)
            if skipped:  # the reader dropped lines: shift the staged numbers back to file lines
                self._renumber(spec.table, file_no, [line for line, _, _ in skipped])
        if self.on_bad == "skip":
            where = f"WHERE file_no = {file_no} AND problem IS NOT NULL"
            room = max(0, MAX_REJECTS_KEPT - len(self.report.rejected))
            rows = self.con.execute(
                f"SELECT line_no, problem, raw FROM {spec.table} {where} ORDER BY line_no "
                f"LIMIT {room}"
            ).fetchall()
            if len(rows) == room:
                total = self.con.execute(f"SELECT count(*) FROM {spec.table} {where}").fetchone()
                self._rejects_dropped += total[0] - room
            for line_no, problem, raw in sorted(rows + skipped):
                self._reject(Rejected(label, int(line_no), problem, raw or ""))
        return int(count) + len(skipped)

    def _fast_insert(self, spec: StageSpec, file_no: int, source: Path, compression: str
                     ) -> int | Exception | None:
        """Stage with ``spec.fast_reader``; the number of records, or else (nothing staged) the
        reader's error, or None when some record needs the line path to be judged."""
        reader = spec.fast_reader.replace("@path@", sql_str(str(source))).replace(
            "@compression@", sql_str("gzip" if compression == "gzip" else "none")).replace(
            "@max_line@", str(self.limit))
        rows = (f"SELECT row_number() OVER () AS line_no, NULL::VARCHAR AS line, r AS j "
                f"FROM {reader} AS r")
        check = f"CASE WHEN {spec.fast_ok} THEN NULL ELSE 'recheck' END"
        try:
            with insertion_order_kept(self.con):
                sql = self._sql(spec, file_no, rows, check, "fail")
                count = self._store(spec, file_no, sql)
        except Exception as exc:
            if type(exc).__name__ not in ("IOException", "InvalidInputException",
                                          "ConversionException"):
                raise  # out of memory, interrupted, a bug: not a property of the input
            # the failed INSERT left nothing behind
            return None if _BAD_LINE_RE.search(str(exc)) else exc
        return int(count)

    def _line_rows(self, spec: StageSpec, parse: str, source: Path, compression: str,
                   rejects: str | None) -> str:
        return (f"SELECT line_no, line, {parse} FROM (SELECT row_number() OVER () AS line_no, "
                f"line FROM {lines_sql(source, compression, rejects=rejects, limit=self.limit)}) "
                f"WHERE line IS NOT NULL")

    def _store(self, spec: StageSpec, file_no: int, select: str) -> int:
        """Run the staging ``select`` into the table, or into this file's Parquet file."""
        if spec.table not in self._parquet:
            return int(self.con.execute(f"INSERT INTO {spec.table} {select}").fetchone()[0])
        # A failed attempt (the fast reader, a strict parse) registered nothing; the next one
        # simply overwrites its partial file.
        target = self._stage_dirs[spec.table] / f"{file_no}.parquet"
        # Name and type each column as the schema table does (INSERT would cast implicitly).
        columns = self.con.execute(f"DESCRIBE {spec.table}__schema").fetchall()
        names = ", ".join(f"c{i}" for i in range(len(columns)))
        typed = ", ".join(f"CAST(c{i} AS {kind}) AS {name}"
                          for i, (name, kind, *_) in enumerate(columns))
        count = self.con.execute(
            f"COPY (SELECT {typed} FROM ({select}) AS staged({names})) "
            f"TO {sql_str(str(target))} ({STAGE_PARQUET})"
        ).fetchone()[0]
        self._parquet[spec.table][file_no] = target
        if self._own is not None:
            self._own.add(file_no)
        self._refresh_view(spec.table)
        return int(count)

    def _refresh_view(self, table: str) -> None:
        # a helper sees its own files only: the others may be half-written
        files = (self.staged_files(table) if self._own is None
                 else [f for n, f in sorted(self._parquet[table].items()) if n in self._own])
        source = (f"read_parquet([{', '.join(sql_str(str(f)) for f in files)}])" if files
                  else f"{table}__schema")
        self.con.execute(f"CREATE OR REPLACE TEMP VIEW {table} AS SELECT * FROM {source}")

    def _temp_directory(self) -> Path | None:
        temp = self.con.execute("SELECT current_setting('temp_directory')").fetchone()[0]
        if not temp or not Path(temp).is_absolute():
            return None  # DuckDB's default ('.tmp' under the working directory): not ours to fill
        Path(temp).mkdir(parents=True, exist_ok=True)
        return Path(temp)

    def _sql(self, spec: StageSpec, file_no: int, rows: str, problem: str, on_bad: str) -> str:
        """The staging SELECT over ``rows`` (``line_no``, ``line`` and the parse names)."""
        derive = f", {spec.derive}" if spec.derive else ""
        ignore = "FALSE" if spec.ignore is None else f"coalesce({spec.ignore}, FALSE)"
        guard = ""
        if on_bad == "fail":  # abort at the first bad line, naming it (error() is not pushed down)
            guard = (f" AND (problem IS NULL OR error('{_BAD_LINE_MARK} ' || line_no || ': ' "
                     f"|| problem) IS NULL)")
        # Whitespace-only lines are not records: dropped like blank ones (NULL rows, filtered
        # right after the numbering), never rejected; ascii() keeps trim() off the hot path.
        # Nothing filters on `problem` except the guard: DuckDB would push such a filter down
        # and evaluate the whole CASE twice.
        return f"""
            SELECT {file_no}, line_no, {spec.values}, problem,
                   CASE WHEN problem IS NOT NULL THEN left(line, {MAX_RAW_CHARS}) END
            FROM (
                SELECT *, CASE WHEN NOT ignored THEN {problem} END AS problem
                FROM (
                    SELECT *{derive}, {ignore}
                           OR coalesce(ascii(line) <= 32 AND {blank_sql('line')}, FALSE) AS ignored
                    FROM ({rows})
                )
            )
            WHERE NOT ignored{guard}
        """

    def _reader_rejects(self, table: str) -> list[tuple[int, str, str]]:
        rows = self.con.execute(
            f"SELECT line, error_type::VARCHAR, error_message, csv_line FROM {table} ORDER BY line"
        ).fetchall()
        self.con.execute(f"DROP TABLE IF EXISTS {table}")
        self.con.execute(f"DROP TABLE IF EXISTS {table}_scan")
        out = []
        for line, kind, message, raw in rows:
            out.append((int(line), _csv_problem(f"{kind} {message}"),
                        (raw or "").lstrip("\n")[:MAX_RAW_CHARS]))
        return out

    def _renumber(self, table: str, file_no: int, dropped: Sequence[int]) -> None:
        """Map staged numbers (counted without the dropped lines) back to true file lines.

        Staged row ``n`` comes after dropped line ``d_j`` (the j-th, 1-based) exactly when
        ``d_j - j < n``, so its true line is ``n`` plus the number of such ``j``.
        """
        keys = sorted(d - j for j, d in enumerate(sorted(dropped), start=1))
        self.con.execute("CREATE OR REPLACE TEMP TABLE _deepcart_shift (k BIGINT)")
        self.con.executemany("INSERT INTO _deepcart_shift VALUES (?)", [(k,) for k in keys])
        shift = "(SELECT count(*) FROM _deepcart_shift WHERE k < {}.line_no)"
        staged = self._parquet.get(table, {}).get(file_no)
        if staged is None:
            self.con.execute(f"UPDATE {table} SET line_no = line_no + {shift.format(table)} "
                             f"WHERE file_no = {file_no}")
        else:  # a Parquet file cannot be updated in place: rewrite it (a rare, small path)
            fixed = staged.with_suffix(".renumbered")
            self.con.execute(
                f"COPY (SELECT * REPLACE (line_no + {shift.format('s')} AS line_no) FROM "
                f"read_parquet({sql_str(str(staged))}) AS s ORDER BY line_no) "
                f"TO {sql_str(str(fixed))} ({STAGE_PARQUET})"
            )
            fixed.replace(staged)
            self._refresh_view(table)
        self.con.execute("DROP TABLE _deepcart_shift")

    def _bad_file(self, label: str, problem: str) -> int:
        if self.on_bad == "fail":
            raise BadInputError(label, None, problem)
        self._reject(Rejected(label, 0, problem, ""))
        self.report.notes.append(f"{label}: {problem}; skipped")
        return 0

    def _reject(self, record: Rejected) -> None:
        if len(self.report.rejected) < MAX_REJECTS_KEPT:
            self.report.rejected.append(record)
        else:
            self._rejects_dropped += 1

    def _scratch_dir(self) -> Path:
        if self._scratch is None:
            temp = self.con.execute("SELECT current_setting('temp_directory')").fetchone()[0]
            base = Path(temp) if temp else None
            if base is not None:
                base.mkdir(parents=True, exist_ok=True)
            self._scratch = Path(tempfile.mkdtemp(prefix="deepcart-salvage-", dir=base))
        return self._scratch


def drop_relation(con: duckdb.DuckDBPyConnection, name: str) -> None:
    """Drop the table or view ``name`` (temporary or not), whichever it is, if it exists."""
    kinds = con.execute(
        "SELECT 'VIEW' FROM duckdb_views() WHERE view_name = ? AND NOT internal "
        "UNION ALL SELECT 'TABLE' FROM duckdb_tables() WHERE table_name = ?", [name, name]
    ).fetchall()
    for (kind,) in kinds:
        con.execute(f"DROP {kind} IF EXISTS {name}")


STAGE_PREFIX = "deepcart-stage-"


def remove_staged_files(temp_directory: Path) -> None:
    """Remove the staged Parquet files of every stager that used ``temp_directory``, once nothing
    reads them any more (the build, when the kept texts are joined: they take about as much disk
    as the gzip input)."""
    for folder in Path(temp_directory).glob(STAGE_PREFIX + "*"):
        shutil.rmtree(folder, ignore_errors=True)


def drop_stage(con: duckdb.DuckDBPyConnection, table: str) -> None:
    """Drop a staging table, or a ``to_parquet`` staging view and its schema table (the staged
    files stay); for a stage a loader still read after :meth:`LineStager.close`."""
    drop_relation(con, table)
    con.execute(f"DROP TABLE IF EXISTS {table}__schema")


def _is_gzip_error(message: str) -> bool:
    return "gzip" in message.lower() or "zlib" in message.lower()


class _ReaderTrouble(Exception):
    """DuckDB's reader stopped for a reason :class:`LineScan` can explain (a long line, gzip)."""


#: Problems that garbage (damaged or binary data) produces, as opposed to a wrong value.
_GARBLED = ("not valid JSON", "not a JSON object", "not valid UTF-8 text", "binary data",
            "missing field", "too many fields")
_TOO_LONG = "the line is too long"


_CORRUPT = ("corrupt", "checksum")


def _damaged(path: Path) -> bool:
    """Whether the gzip stream of ``path`` is corrupt (read to its end)."""
    try:
        for _ in gunzip_chunks(path):
            pass
    except GzipDamage as damage:
        return damage.kind in _CORRUPT
    except OSError:  # unreadable: not a verdict on the stream
        return False
    return False


def _garbled(problem: str) -> bool:
    return problem.startswith(_GARBLED)


def _damage_problem(fixed: Repaired) -> str:
    if fixed.damage == "truncated":
        return f"the gzip stream is truncated (after {fixed.lines:,} complete lines)"
    return _corrupt_problem(fixed.lines)


def _corrupt_problem(after: int) -> str:
    where = f"after line {after:,}" if after else "from its start"
    return f"the gzip stream is damaged {where}; the file cannot be trusted: fetch or copy it again"


def _csv_problem(message: str) -> str:
    if "INVALID ENCODING" in message or "Invalid unicode" in message:
        return "not valid UTF-8 text"
    if "LINE SIZE" in message or "maximum line size" in message.lower():
        return _TOO_LONG
    return _first_line(message)


def _first_line(message: str) -> str:
    return message.strip().splitlines()[0] if message.strip() else message

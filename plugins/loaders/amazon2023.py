"""The ``amazon2023`` loader: Amazon Reviews 2023 review JSONL and item meta JSONL (``.gz`` or not).

Reads ``<Category>.jsonl[.gz]`` review files (several shards allowed) and ``meta_<Category>.jsonl
[.gz]`` item files into the three raw tables of a build, entirely inside DuckDB (see
:mod:`deepcart.toolkit.line_staging` for how lines are numbered and checked):

* ``interactions(user_id, parent_asin, rating, timestamp)``: one row per (user, item), the
  earliest review of repeated pairs kept, as the dataset's own processing scripts do;
* ``reviews(user_id, parent_asin, title, text, helpful_vote, verified_purchase)``: the text of the
  same rows, ``<br />`` tags and HTML entities decoded. On a connection from
  :func:`deepcart.pipeline.build.connect` this is a TEMP view over the review lines staged as Parquet in
  its ``temp_directory``: texts are read and cleaned only at the final write, only for the rows
  the filters kept (on 1M reviews with a 5-core, 40% of them). Elsewhere it is a table;
* ``items(parent_asin, title, main_category, store, price, average_rating, rating_number,
  categories, features, details)``: one row per item; ``price`` parsed from float, null or an
  odd string (``"—"``, ``"None"``, ``"$12.99"``); ``details`` as JSON text whether the file held
  a dict or (Hugging Face copies) a JSON string.

The pre-release key names ``sortTimestamp``, ``helpfulVotes`` and ``verifiedPurchase`` are accepted.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from contextlib import suppress
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar, Literal

import pydantic

from deepcart import hookimpl
from deepcart.toolkit import json_text, line_staging
from deepcart.toolkit.loader_base import (
    INTERACTIONS_DDL,
    ITEMS_DDL,
    StagedLoader,
    create_reviews,
    note_duplicates,
)
from deepcart.toolkit.parallel_staging import Running, stage_files
from deepcart.reports import IngestReport

if TYPE_CHECKING:
    import duckdb

#: Review keys read (everything else, e.g. ``images`` and ``asin``, is never materialised).
REVIEW_KEYS = (
    "user_id", "parent_asin", "rating", "timestamp", "title", "text", "helpful_vote",
    "verified_purchase", "sortTimestamp", "helpfulVotes", "verifiedPurchase",
)
#: Item meta keys read, with the JSON type each is extracted as.
META_KEYS = {
    "parent_asin": "VARCHAR", "title": "VARCHAR", "main_category": "VARCHAR", "store": "VARCHAR",
    "price": "JSON", "average_rating": "VARCHAR", "rating_number": "VARCHAR",
    "categories": "JSON", "features": "JSON", "details": "JSON",
}
SUFFIXES = (".jsonl", ".json", ".ndjson")
#: Price strings that say "no price" (upper-cased): NULL without a note.
_NO_PRICE = "('', 'NONE', 'NULL', 'N/A', 'NA', '-', '—')"

_REVIEW_STAGE = "_deepcart_review_stage"
_META_STAGE = "_deepcart_meta_stage"
_DUPS = "_deepcart_dups"


class Amazon2023Config(pydantic.BaseModel):
    """Options of the ``amazon2023`` loader."""

    model_config = pydantic.ConfigDict(extra="forbid")
    strip_html: bool = pydantic.Field(
        True, description="turn <br /> into newlines and decode HTML entities in titles and texts"
    )


class Amazon2023Loader(StagedLoader):
    """Amazon Reviews 2023 review + item meta JSONL(.gz)."""

    Config: ClassVar[type] = Amazon2023Config
    suffixes: ClassVar[tuple[str, ...]] = SUFFIXES
    first_line: ClassVar[str] = "a JSON object with user_id and parent_asin"

    def recognises(self, path: Path) -> bool:
        """The first line is a JSON object with ``user_id`` and ``parent_asin``."""
        lines = line_staging.sniff(path).head_lines(1)
        if not lines:
            return False
        try:
            record = json_text.loads(lines[0][1])
        except ValueError:
            return False
        return isinstance(record, dict) and "user_id" in record and "parent_asin" in record

    def ingest(self, con: duckdb.DuckDBPyConnection, reviews: Sequence[Path], items: Sequence[Path], *,
               on_bad_records: Literal["fail", "skip"]) -> IngestReport:
        """Create ``interactions``, ``reviews`` and ``items`` in ``con`` from the given files.

        The item meta is read on a second connection (``con.cursor()``) while the reviews are
        staged: reading a ``.gz`` file is single-threaded, so the two overlap on a 2-core machine.
        """
        report, meta_report = IngestReport(), IngestReport()
        # Review files are staged side by side, up to one per DuckDB thread (read before
        # serial_threads sets it to 1: each staging connection brings its own calling thread).
        workers = int(con.execute("SELECT current_setting('threads')").fetchone()[0])
        running = Running(con)
        meta_con = con.cursor() if items else None
        if meta_con is not None:  # a cursor is a connection of its own: pass the build's settings
            line_staging.set_line_limit(meta_con, line_staging.line_limit(con))
        meta = staged = None
        try:
            serial = all(line_staging.is_gzip(Path(path)) for path in reviews)
            with ThreadPoolExecutor(max_workers=1) as pool, line_staging.insertion_order_kept(con), \
                    line_staging.serial_threads(con, serial):
                if meta_con is not None:
                    meta = pool.submit(self._build_items, meta_con, items, on_bad_records,
                                       meta_report, running)
                try:
                    staged = self._stage_reviews(con, reviews, on_bad_records, report, workers, running)
                except BaseException:
                    if meta is not None:
                        meta_con.interrupt()
                    raise
                finally:
                    if meta is not None:
                        wait([meta])
                if meta is not None:
                    meta.result()  # re-raises a failure of the meta side
        except BaseException as exc:
            failure = meta.exception() if meta is not None and meta.done() else None
            if failure is not None and not _is_interrupt(failure) and _is_interrupt(exc):
                raise failure from None  # the meta side failed first and interrupted us
            raise
        finally:
            if meta_con is not None:
                meta_con.close()
        try:
            report.duplicates_dropped = _write_interactions(con, self.config.strip_html, staged)
        finally:
            line_staging.drop_stage(con, _REVIEW_STAGE)
            if staged is None:  # else the lazy ``reviews`` view still reads it
                con.execute(f"DROP TABLE IF EXISTS {_DUPS}")
        note_duplicates(report, "reviews")
        if not items:
            con.execute(ITEMS_DDL)
            return report

        report.items_read = meta_report.items_read
        report.rejected += meta_report.rejected
        report.notes += meta_report.notes
        missing, missing_items = con.execute(
            "SELECT count(*), count(DISTINCT parent_asin) "
            "FROM interactions ANTI JOIN items USING (parent_asin)"
        ).fetchone()
        report.reviews_without_meta = int(missing)
        if missing:
            report.notes.append(
                f"{missing:,} reviews ({missing_items:,} items) have no item meta row"
            )
        return report

    def _stage_reviews(self, con, paths: Sequence[Path], on_bad: str, report: IngestReport,
                       workers: int = 1, running: Running | None = None) -> list[Path] | None:
        """Stage the review files, up to ``workers`` at a time; return the staged Parquet files
        (None: a TEMP table)."""
        stager = line_staging.LineStager(con, on_bad, report)
        spec = self._review_spec()
        try:
            stager.create(spec)
            report.lines_read += stage_files(stager, spec, paths, workers=workers, running=running)
        except BaseException:
            stager.close(spec.table)
            raise
        stager.close()
        return stager.staged_files(spec.table)

    def _build_items(self, con, paths: Sequence[Path], on_bad: str, report: IngestReport,
                     reviews_running: Running) -> None:
        """Stage the meta files and fill ``items``, on the connection ``con`` (a thread's own).

        A bad meta file interrupts the review staging (every connection of ``reviews_running``), so
        ``fail`` fails fast.
        """
        stager = line_staging.LineStager(con, on_bad, report)
        spec = self._meta_spec()
        try:
            stager.create(spec)
            for file_no, path in enumerate(paths):
                stager.stage(spec, file_no, Path(path))
            con.execute(ITEMS_DDL)
            report.items_read, dropped = _write_items(con)
            unread, example = con.execute(
                f"SELECT count(*), min(unread_price) FROM {_META_STAGE} "
                f"WHERE problem IS NULL AND unread_price IS NOT NULL").fetchone()
            if unread:
                report.notes.append(
                    f"{unread:,} item prices could not be read (not in the form $1,299.99, "
                    f"e.g. {example!r}); those items have no price"
                )
            if dropped:
                report.notes.append(
                    f"{dropped:,} repeated item meta rows dropped (the first one of each kept)"
                )
        except BaseException as exc:
            with suppress(Exception):  # the staging table dies with this connection anyway
                stager.close(spec.table)
            if not _is_interrupt(exc):  # last: no query of ours may follow an interrupt
                reviews_running.interrupt()
            raise
        stager.close(spec.table)

    # -- SQL -------------------------------------------------------------------------------------

    def _review_spec(self) -> line_staging.StageSpec:
        schema = {key: "VARCHAR" for key in REVIEW_KEYS}
        ts = "coalesce(j.timestamp, j.sortTimestamp)"
        fast = line_staging.values_ok_sql("j.user_id", "j.parent_asin", "rating_num", "ts_num")
        problem = f"""CASE
            WHEN NOT json_valid(line) THEN 'not valid JSON'
            WHEN j IS NULL OR NOT starts_with(ltrim(line), '{{') THEN 'not a JSON object'
            {line_staging.duplicate_key_check_sql(REVIEW_KEYS)}
            {line_staging.value_checks_sql("j.user_id", "j.parent_asin", "j.rating", ts, "rating_num",
                                 "ts_num")}
        END"""
        values = f"""j.user_id, j.parent_asin, rating_num,
            CASE WHEN problem IS NULL THEN {line_staging.timestamp_sql('ts_num')} END,
            j.title, j.text,
            TRY_CAST(TRY_CAST(coalesce(j.helpful_vote, j.helpfulVotes) AS DOUBLE) AS INTEGER),
            TRY_CAST(coalesce(j.verified_purchase, j.verifiedPurchase) AS BOOLEAN)"""
        return line_staging.StageSpec(
            table=_REVIEW_STAGE,
            columns="user_id VARCHAR, parent_asin VARCHAR, rating DOUBLE, timestamp TIMESTAMP, "
            "title VARCHAR, text VARCHAR, helpful_vote INTEGER, verified_purchase BOOLEAN",
            **_json_parse(schema),
            derive=f"{line_staging.decimal_sql('j.rating')} AS rating_num, "
            f"{line_staging.decimal_sql(ts)} AS ts_num, {line_staging.keys_sql()}",
            ok=f"j IS NOT NULL AND prefix(line, '{{') AND {fast} AND {line_staging.unique_keys_sql()}",
            fast_ok=fast,
            problem=problem,
            values=values,
            check_head=_head_check("reviews"),
            to_parquet=True,  # the texts stream to disk; only the kept ones are read again
        )

    def _meta_spec(self) -> line_staging.StageSpec:
        title = "j.title"
        if self.config.strip_html:
            title = line_staging.clean_html_sql(title)
        # A price string counts only in the US form the data uses ("$1,299.00", "12.99"); any other
        # ("1.299,00", "12,99", "—") is no price (NULL), never a wrong number such as 1.299.
        price_raw = "trim(json_extract_string(j.price, '$'))"
        us_price = r"\$?\s*(\d{1,3}(,\d{3})+|\d+)(\.\d+)?"
        price_text = f"replace(replace(replace({price_raw}, '$', ''), ',', ''), ' ', '')"
        number = f"""CASE json_type(j.price)
            WHEN 'VARCHAR' THEN CASE WHEN regexp_full_match({price_raw}, '{us_price}')
                THEN TRY_CAST({price_text} AS DOUBLE) END
            WHEN 'NULL' THEN NULL ELSE TRY_CAST(j.price AS DOUBLE) END"""
        price = f"CASE WHEN isfinite({number}) AND {number} >= 0 THEN {number} END"
        # A price given but not read (not a "no price" marker): counted in the report with an
        # example, so that a file in another locale does not silently lose every price.
        unread = f"""CASE WHEN json_type(j.price) NOT IN ('NULL') AND ({price}) IS NULL
            AND upper({price_raw}) NOT IN {_NO_PRICE} THEN left({price_raw}, 40) END"""
        details_text = "json_extract_string(j.details, '$')"
        details = f"""CASE json_type(j.details)
            WHEN 'NULL' THEN NULL
            WHEN 'VARCHAR' THEN CASE
                WHEN trim({details_text}) IN ('', 'None', 'null') THEN NULL
                WHEN json_valid({details_text}) THEN json({details_text})::VARCHAR
                ELSE to_json({details_text})::VARCHAR END
            ELSE j.details::VARCHAR END"""
        problem = f"""CASE
            WHEN NOT json_valid(line) THEN 'not valid JSON'
            WHEN j IS NULL OR NOT starts_with(ltrim(line), '{{') THEN 'not a JSON object'
            {line_staging.duplicate_key_check_sql(META_KEYS)}
            WHEN {line_staging.blank_sql('j.parent_asin')} THEN 'missing parent_asin'
            {line_staging.id_checks_sql('j.parent_asin', 'parent_asin')}
        END"""
        id_ok = line_staging.id_ok_sql("j.parent_asin")
        # The mean stars and the count are shown, never computed with: one that cannot be what it
        # says (1e400, 7 stars, -3 ratings) is no value (NULL), like an unread price.
        stars = "TRY_CAST(j.average_rating AS DOUBLE)"
        count = "TRY_CAST(j.rating_number AS DOUBLE)"
        values = f"""j.parent_asin, {title}, j.main_category, j.store, {price},
            CASE WHEN {stars} BETWEEN 0 AND 5 THEN {stars} END,
            CASE WHEN {count} BETWEEN 0 AND 2147483647 THEN CAST({count} AS INTEGER) END,
            {_string_list('j.categories')}, {_string_list('j.features')}, {details}, {unread}"""
        return line_staging.StageSpec(
            table=_META_STAGE,
            columns="parent_asin VARCHAR, title VARCHAR, main_category VARCHAR, store VARCHAR, "
            "price DOUBLE, average_rating DOUBLE, rating_number INTEGER, categories VARCHAR[], "
            "features VARCHAR[], details VARCHAR, unread_price VARCHAR",
            **_json_parse(META_KEYS),
            derive=line_staging.keys_sql(),
            ok=f"j IS NOT NULL AND prefix(line, '{{') AND {id_ok} AND {line_staging.unique_keys_sql()}",
            fast_ok=id_ok,
            problem=problem,
            values=values,
            check_head=_head_check("meta"),
        )


def _json_parse(schema: dict[str, str]) -> dict:
    """The ways to parse a line against ``schema`` ({key: DuckDB type}); see ``line_staging.StageSpec``."""
    parse = f"from_json(line, {line_staging.sql_str(json.dumps(schema))})"
    columns = "{" + ", ".join(f"{line_staging.sql_str(k)}: {line_staging.sql_str(v)}" for k, v in schema.items()) + "}"
    reader = ("read_json(@path@, format='newline_delimited', compression=@compression@, "
              f"columns={columns}, maximum_object_size=@max_line@)")
    return {"parse": f"{parse} AS j", "safe_parse": f"try({parse}) AS j",
            "parse_errors": ("Malformed JSON",), "fast_reader": reader}


def _is_interrupt(exc: BaseException) -> bool:
    return type(exc).__name__ in ("InterruptException", "KeyboardInterrupt")


def _string_list(expr: str) -> str:
    """VARCHAR[] from a JSON array (or a JSON string holding one, as in Hugging Face copies)."""
    inner = f"json_extract_string({expr}, '$')"
    return (f"CASE json_type({expr}) WHEN 'ARRAY' THEN TRY_CAST({expr} AS VARCHAR[]) "
            f"WHEN 'VARCHAR' THEN TRY_CAST(TRY_CAST({inner} AS JSON) AS VARCHAR[]) END")


def _head_check(kind: Literal["reviews", "meta"]):
    """A ``check_head`` for ``kind`` files: the file must be JSON lines, and of that kind."""

    def check(sniffed: line_staging.Sniffed) -> tuple[int, str] | None:
        lines = sniffed.head_lines(50)
        if not lines:
            return None
        records = []
        for _, raw in lines:
            if line_staging.describe_non_text(raw) is None:
                try:
                    record = json_text.loads(raw)
                except ValueError:
                    continue
                if isinstance(record, dict):
                    records.append(record)
        number, first = lines[0]
        if not records:
            binary = line_staging.describe_non_text(first)
            if binary:
                looks = binary
            elif first.lstrip().startswith(b"["):
                looks = "a JSON array; one JSON object per line is expected"
            elif first.count(b",") >= 2 and not first.lstrip().startswith(b"{"):
                looks = "CSV"
            else:
                looks = "text"
            return number, f"not valid JSON: this is not a JSON-lines file (it looks like {looks})"
        # The other kind of file by mistake: one clear error, not a rejected line per record.
        if kind == "reviews" and not any("user_id" in r for r in records) and any(
            "main_category" in r or "rating_number" in r for r in records
        ):
            return number, "missing user_id: this looks like an item meta file, not reviews"
        if kind == "meta" and all("user_id" in r and "rating" in r for r in records):
            return number, "this looks like a review file, not item meta (it has user_id, rating)"
        return None

    return check


def _write_interactions(con: duckdb.DuckDBPyConnection, strip_html: bool,
                        staged: Sequence[Path] | None) -> int:
    """Deduplicate the staged reviews into ``interactions`` and ``reviews``; return the drops.

    Only keys seen more than once are ranked (a hash aggregate over all keys, a window over the
    few repeated ones): the earliest review wins, ties broken by file and line order.

    With ``staged`` Parquet files, ``reviews`` is a TEMP view over them: the texts are read (and
    cleaned of HTML) only at the final write, and only for the rows the filters kept. Without,
    it is a table, filled now.
    """
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE {_DUPS} AS
        WITH repeated AS (
            SELECT user_id, parent_asin FROM {_REVIEW_STAGE} WHERE problem IS NULL
            GROUP BY user_id, parent_asin HAVING count(*) > 1)
        SELECT file_no, line_no FROM (
            SELECT s.file_no, s.line_no, row_number() OVER (
                PARTITION BY s.user_id, s.parent_asin ORDER BY s.timestamp, s.file_no, s.line_no
            ) AS rank
            FROM {_REVIEW_STAGE} s SEMI JOIN repeated USING (user_id, parent_asin)
            WHERE s.problem IS NULL)
        WHERE rank > 1""")
    dropped = con.execute(f"SELECT count(*) FROM {_DUPS}").fetchone()[0]
    kept = f"{_REVIEW_STAGE} ANTI JOIN {_DUPS} USING (file_no, line_no) WHERE problem IS NULL"
    con.execute(INTERACTIONS_DDL)
    con.execute(
        f"INSERT INTO interactions SELECT user_id, parent_asin, rating, timestamp FROM {kept}"
    )
    if staged:  # an empty file stages nothing: read the (empty) stage view instead
        files = ", ".join(line_staging.sql_str(str(path)) for path in staged)
        kept = (f"read_parquet([{files}]) ANTI JOIN {_DUPS} USING (file_no, line_no) "
                "WHERE problem IS NULL")
    title, text, source = "title", "text", kept
    if strip_html:  # two steps in nested SELECTs: each expression sees a plain column
        title, text = line_staging.entities_sql("title"), line_staging.entities_sql("text")
        source = (f"(SELECT user_id, parent_asin, {line_staging.br_sql('title')} AS title, "
                  f"{line_staging.br_sql('text')} AS text, helpful_vote, verified_purchase FROM {kept})")
    rows = (f"SELECT user_id, parent_asin, {title} AS title, {text} AS text, helpful_vote, "
            f"verified_purchase FROM {source}")
    if staged:
        line_staging.drop_relation(con, "reviews")
        con.execute(f"CREATE TEMP VIEW reviews AS {rows}")
    else:
        create_reviews(con)
        con.execute(f"INSERT INTO reviews {rows}")
        con.execute(f"DROP TABLE {_DUPS}")
    return int(dropped)


def _write_items(con: duckdb.DuckDBPyConnection) -> tuple[int, int]:
    """Fill ``items`` from the staged meta rows, the first row of each ``parent_asin``."""
    read = con.execute(f"SELECT count(*) FROM {_META_STAGE} WHERE problem IS NULL").fetchone()[0]
    con.execute(f"""
        INSERT INTO items
        SELECT parent_asin, title, main_category, store, price, average_rating, rating_number,
               categories, features, details
        FROM {_META_STAGE} WHERE problem IS NULL
        QUALIFY row_number() OVER (PARTITION BY parent_asin ORDER BY file_no, line_no) = 1""")
    written = con.execute("SELECT count(*) FROM items").fetchone()[0]
    return int(read), int(read - written)


@hookimpl
def register_loaders(register) -> None:
    """Register ``amazon2023``."""
    register("amazon2023", Amazon2023Loader)

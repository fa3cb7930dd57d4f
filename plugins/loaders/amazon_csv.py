"""The ``amazon2023-csv`` loader: the official Amazon Reviews 2023 benchmark CSVs.

Rows are ``user_id,parent_asin,rating,timestamp`` with an optional fifth ``history`` column (the
``*_w_his`` files; ignored), with a header (hosted files) or without one (files written by the
dataset's scripts). Timestamps are Unix milliseconds, as in the review JSONL. The files carry no
text and no item meta, so ``reviews`` holds the same keys with NULL text columns and ``items`` is
created empty. Repeated (user, item) rows keep the earliest, as in the JSON loader.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar, Literal

import pydantic

from deepcart import hookimpl
from deepcart.toolkit import line_staging
from deepcart.plugins.loaders.amazon2023 import INTERACTIONS_DDL, ITEMS_DDL, create_reviews
from deepcart.reports import IngestReport

if TYPE_CHECKING:
    import duckdb

HEADER = ("user_id", "parent_asin", "rating", "timestamp")
_STAGE = "_deepcart_csv_stage"


class AmazonCsvConfig(pydantic.BaseModel):
    """Options of the ``amazon2023-csv`` loader (it has none)."""

    model_config = pydantic.ConfigDict(extra="forbid")


class AmazonCsvLoader:
    """Amazon Reviews 2023 benchmark CSV (user_id,parent_asin,rating,timestamp[,history])."""

    Config: ClassVar[type] = AmazonCsvConfig

    def __init__(self, config: AmazonCsvConfig | None = None):
        self.config = config or AmazonCsvConfig()

    def can_read(self, path: Path) -> bool:
        """A ``.csv`` (or ``.csv.gz``) whose first line is the header or a 2023 rating row."""
        path = Path(path)
        name = path.name.lower()
        if not (name.endswith(".csv") or name.endswith(".csv.gz")) or not path.is_file():
            return False
        try:
            lines = line_staging.sniff(path).head_lines(1)
        except OSError:
            return False
        if not lines or line_staging.describe_non_text(lines[0][1]):
            return False
        fields = _fields(lines[0][1].decode("utf-8"))
        if _is_header(fields):
            return True
        return _is_row(fields)

    def ingest(
        self,
        con: duckdb.DuckDBPyConnection,
        reviews: Sequence[Path],
        items: Sequence[Path],
        *,
        on_bad_records: Literal["fail", "skip"],
    ) -> IngestReport:
        """Create ``interactions``, ``reviews`` (NULL text) and an empty ``items``."""
        report = IngestReport()
        if items:
            report.notes.append(
                f"the benchmark CSVs have no item meta: {len(items)} item file(s) ignored"
            )
        stager = line_staging.LineStager(con, on_bad_records, report)
        spec = _spec()
        try:
            stager.create(spec)
            for file_no, path in enumerate(reviews):
                report.lines_read += stager.stage(spec, file_no, Path(path))
            good = con.execute(f"SELECT count(*) FROM {_STAGE} WHERE problem IS NULL").fetchone()[0]
            con.execute(INTERACTIONS_DDL)
            con.execute(f"""
                INSERT INTO interactions
                SELECT user_id, parent_asin, rating, timestamp FROM {_STAGE} WHERE problem IS NULL
                QUALIFY row_number() OVER (PARTITION BY user_id, parent_asin
                                           ORDER BY timestamp, file_no, line_no) = 1""")
            con.execute(f"DROP TABLE {_STAGE}")
            create_reviews(con)
            con.execute("INSERT INTO reviews (user_id, parent_asin) "
                        "SELECT user_id, parent_asin FROM interactions")
            con.execute(ITEMS_DDL)
            kept = con.execute("SELECT count(*) FROM interactions").fetchone()[0]
            report.duplicates_dropped = int(good - kept)
        finally:
            stager.close(_STAGE)
        if report.duplicates_dropped:
            report.notes.append(
                f"{report.duplicates_dropped:,} repeated (user, item) rows dropped "
                "(the earliest one of each kept)"
            )
        return report


def _fields(line: str) -> list[str]:
    return [f.strip().strip('"') for f in line.lstrip("\ufeff").rstrip("\r\n").split(",")]


def _is_header(fields: list[str]) -> bool:
    return tuple(f.lower() for f in fields[:4]) == HEADER and len(fields) in (4, 5)


def _is_row(fields: list[str]) -> bool:
    if len(fields) not in (4, 5) or not fields[0] or not fields[1]:
        return False
    try:
        rating, ts = float(fields[2]), float(fields[3])
    except ValueError:
        return False
    return 1 <= rating <= 5 and line_staging.MIN_MS <= ts < line_staging.MAX_MS


def _check_head(sniffed: line_staging.Sniffed) -> tuple[int, str] | None:
    """``(line, problem)`` when the file is not a benchmark CSV at all."""
    lines = sniffed.head_lines(1)
    if not lines:
        return None
    number, raw = lines[0]
    binary = line_staging.describe_non_text(raw)
    if binary:
        return number, f"not a CSV file (it looks like {binary})"
    text = raw.decode("utf-8")
    if text.lstrip().startswith(("{", "[")):
        return number, "not a CSV file (it looks like JSON; use the amazon2023 loader)"
    fields = _fields(text)
    if len(fields) in (4, 5) and not _is_header(fields):
        try:
            float(fields[2])
        except ValueError:  # a header, but not ours (e.g. the 2014 UserId,ItemId,rating,timestamp)
            return number, (f"unexpected header {text.strip()[:80]!r}: expected "
                            "user_id,parent_asin,rating,timestamp[,history]")
    return None


def _spec() -> line_staging.StageSpec:
    field = "trim(trim(f[{}]), '\"')"
    user, item, rating, ts = (field.format(i) for i in range(1, 5))
    fast = line_staging.values_ok_sql("user_id", "parent_asin", "rating_num", "ts_num")
    problem = f"""CASE
        WHEN len(f) < 4 THEN 'missing field: expected user_id,parent_asin,rating,timestamp, found '
            || len(f) || ' field' || CASE WHEN len(f) = 1 THEN '' ELSE 's' END
        WHEN len(f) > 5 THEN 'too many fields: expected 4 or 5, found ' || len(f)
        {line_staging.value_checks_sql("user_id", "parent_asin", rating, ts, "rating_num", "ts_num")}
    END"""
    values = f"""user_id, parent_asin, rating_num,
        CASE WHEN problem IS NULL THEN {line_staging.timestamp_sql("ts_num")} END"""
    return line_staging.StageSpec(
        table=_STAGE,
        columns="user_id VARCHAR, parent_asin VARCHAR, rating DOUBLE, timestamp TIMESTAMP",
        parse="string_split(line, ',') AS f",
        derive=f"{user} AS user_id, {item} AS parent_asin, "
        f"TRY_CAST({rating} AS DOUBLE) AS rating_num, TRY_CAST({ts} AS DOUBLE) AS ts_num",
        ok=f"len(f) BETWEEN 4 AND 5 AND {fast}",
        problem=problem,
        values=values,
        ignore=f"line_no = 1 AND lower(ltrim({user}, chr(65279))) = 'user_id'",
        check_head=_check_head,
    )


@hookimpl
def register_loaders(register) -> None:
    """Register ``amazon2023-csv``."""
    register("amazon2023-csv", AmazonCsvLoader)

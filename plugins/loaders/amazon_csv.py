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
from typing import ClassVar

import pydantic

from deepcart import hookimpl
from deepcart.toolkit import line_staging
from deepcart.toolkit.loader_base import RatingFileLoader
from deepcart.reports import IngestReport

HEADER = ("user_id", "parent_asin", "rating", "timestamp")
_STAGE = "_deepcart_csv_stage"


class AmazonCsvConfig(pydantic.BaseModel):
    """Options of the ``amazon2023-csv`` loader (it has none)."""

    model_config = pydantic.ConfigDict(extra="forbid")


class AmazonCsvLoader(RatingFileLoader):
    """Amazon Reviews 2023 benchmark CSV (user_id,parent_asin,rating,timestamp[,history])."""

    Config: ClassVar[type] = AmazonCsvConfig
    suffixes: ClassVar[tuple[str, ...]] = (".csv",)
    first_line: ClassVar[str] = "the header user_id,parent_asin,rating,timestamp or a rating row"
    stage_table: ClassVar[str] = _STAGE
    no_meta: ClassVar[str] = "the benchmark CSVs have no item meta"

    def recognises(self, path: Path) -> bool:
        """The first line is the header or a 2023 rating row."""
        lines = line_staging.sniff(path).head_lines(1)
        if not lines or line_staging.describe_non_text(lines[0][1]):
            return False
        fields = _fields(lines[0][1].decode("utf-8"))
        return _is_header(fields) or _is_row(fields)

    def stage_files(self, stager, reviews: Sequence[Path], report: IngestReport) -> None:
        """Stage every CSV with the one spec (header or not, the same columns)."""
        spec = _spec()
        stager.create(spec)
        for file_no, path in enumerate(reviews):
            report.lines_read += stager.stage(spec, file_no, path)


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
    # The files quote no field; a field quoted on one side only ("U1) means the row was cut or
    # joined somewhere, so which value it holds is a guess: a bad record, not the text without it.
    unbalanced = " OR ".join(f"(prefix(trim(f[{i}]), '\"') <> suffix(trim(f[{i}]), '\"') "
                             f"OR trim(f[{i}]) = '\"')" for i in range(1, 5))
    problem = f"""CASE
        WHEN len(f) BETWEEN 4 AND 5 AND ({unbalanced})
            THEN 'a field is quoted on one side only (a row cut or joined?)'
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
        f"{line_staging.decimal_sql(rating)} AS rating_num, {line_staging.decimal_sql(ts)} AS ts_num",
        ok=f"len(f) BETWEEN 4 AND 5 AND NOT ({unbalanced}) AND {fast}",
        problem=problem,
        values=values,
        ignore=f"line_no = 1 AND lower(ltrim({user}, chr(65279))) = 'user_id'",
        check_head=_check_head,
    )


@hookimpl
def register_loaders(register) -> None:
    """Register ``amazon2023-csv``."""
    register("amazon2023-csv", AmazonCsvLoader)

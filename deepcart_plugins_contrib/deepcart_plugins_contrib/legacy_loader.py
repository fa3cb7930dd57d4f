"""The ``amazon-legacy`` loader: the rating-only CSVs of the 2014 and 2018 Amazon releases.

Two older releases of the McAuley-lab data ship ratings as four-column CSVs with timestamps in Unix
**seconds** (the 2023 files use milliseconds), in two column orders:

========  ==========================  ====================================================
era       file                        columns
========  ==========================  ====================================================
2014      ``ratings_<Category>.csv``  ``user,item,rating,timestamp``
2018      ``<Category>.csv``          ``item,user,rating,timestamp``
========  ==========================  ====================================================

The originals have no header; copies found in the wild sometimes add one (``UserId,ItemId,
rating,timestamp``). The era of each file is detected from its first rows: item ids are ASINs
(10 characters, ``B`` + 9 letters or digits, or an ISBN-10 of digits), user ids are longer ids
starting with ``A``; the column that holds ASINs names the era. A recognised header decides when
the values cannot (and is skipped either way). The detected era is reported in the build's notes
(``Detected the 2014 era (user,item,rating,timestamp in seconds) in ...``).

The tables are those of the 2023 CSV loader (``amazon2023-csv``): ``interactions`` (the earliest
rating of each repeated (user, item) pair is kept), ``reviews`` with the same keys and NULL text,
and an empty ``items``. ``can_read`` never claims a 2023 file: a ``parent_asin`` header or
timestamps in milliseconds are not legacy.

Reading reuses deepcart's line stager (true line numbers, ``--on-bad-records``, damaged ``.gz``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Literal

import pydantic

from deepcart import hookimpl
from deepcart.errors import BadInputError
from deepcart.reports import IngestReport
from deepcart.toolkit.loader_base import RatingFileLoader

Era = Literal["2014", "2018"]

#: Column order of each era (the two id columns; rating and timestamp always follow).
COLUMNS: dict[str, str] = {
    "2014": "user,item,rating,timestamp in seconds",
    "2018": "item,user,rating,timestamp in seconds",
}
#: Unix seconds accepted as rating times: 1990-01-01 <= t < 2100-01-01. Milliseconds (the 2023
#: files) are all far above the upper bound, so the two can never be confused.
MIN_S, MAX_S = 631_152_000, 4_102_444_800

_ASIN = re.compile(r"^(?:B[0-9A-Z]{9}|[0-9]{9}[0-9X])$")
_USER_NAMES = {"user", "userid", "reviewerid", "reviewer", "customerid"}
_ITEM_NAMES = {"item", "itemid", "asin", "productid", "product"}
_STAGE = "_deepcart_legacy_stage"

#: Rows looked at to detect the era.
SAMPLE_ROWS = 200
#: Share of the sampled rows that must be valid ratings (the rest are bad lines, handled by
#: ``--on-bad-records``).
MIN_GOOD = 0.5
#: Share of sampled id values that must (not) look like ASINs for a column to decide the era.
DECISIVE = 0.9


class LegacyConfig(pydantic.BaseModel):
    """Options of the ``amazon-legacy`` loader."""

    model_config = pydantic.ConfigDict(extra="forbid")
    era: Literal["auto", "2014", "2018"] = pydantic.Field(
        "auto", description="column order: detected per file, or forced for every file"
    )


@dataclass(frozen=True)
class Detection:
    """What the first rows of a file say: its era (None: undecided), header line, and why."""

    era: Era | None
    header_line: int | None
    reason: str
    empty: bool = False


class AmazonLegacyLoader(RatingFileLoader):
    """Amazon 2014 (user,item,rating,ts) and 2018 (item,user,rating,ts) rating CSVs, ts in seconds."""

    Config: ClassVar[type] = LegacyConfig
    suffixes: ClassVar[tuple[str, ...]] = (".csv",)
    first_line: ClassVar[str] = "a 2014 (user,item,rating,ts) or 2018 (item,user,rating,ts) rating row"
    stage_table: ClassVar[str] = _STAGE
    no_meta: ClassVar[str] = "the legacy rating files have no item meta"

    def recognises(self, path: Path) -> bool:
        """The first rows are legacy ratings of a recognisable era."""
        return detect(path).era is not None

    def stage_files(self, stager, reviews: Sequence[Path], report: IngestReport) -> None:
        """Stage each file with the spec of its detected (or forced) era, noting the era."""
        stager.create(_spec("2014", None))
        for file_no, path in enumerate(reviews):
            era, header = self._era_of(path)
            report.lines_read += stager.stage(_spec(era, header), file_no, path)
            skipped = f"; its header (line {header}) was skipped" if header else ""
            report.notes.append(f"Detected the {era} era ({COLUMNS[era]}) in {path.name}{skipped}")

    def _era_of(self, path: Path) -> tuple[Era, int | None]:
        """The era to read ``path`` with, and its header line; a clear error when undecidable."""
        if not path.is_file():
            raise BadInputError(str(path), None, "the file does not exist" if not path.exists()
                                else "not a regular file")
        found = detect(path)
        if self.config.era != "auto":
            return self.config.era, found.header_line
        if found.empty:  # the stager reports it as any loader does ("the file is empty")
            return "2014", None
        if found.era is None:
            raise BadInputError(str(path), None, f"not a 2014/2018 Amazon rating file: {found.reason}")
        return found.era, found.header_line


def detect(path: Path) -> Detection:
    """The era of a legacy rating file from its first rows (see the module docstring)."""
    from deepcart.toolkit import line_staging

    sniffed = line_staging.sniff(Path(path))
    lines = sniffed.head_lines(SAMPLE_ROWS + 1)
    if not lines:
        return Detection(None, None, "the file is empty", empty=True)
    if line_staging.describe_non_text(lines[0][1]):
        return Detection(None, None, "it is not a text file")
    first = _fields(lines[0][1].decode("utf-8", errors="replace"))
    header_era: Era | None = None
    header_line = None
    if len(first) == 4 and _number(first[2]) is None:  # a header row
        header_line = lines[0][0]
        names = [re.sub(r"[^a-z]", "", f.lower()) for f in first]
        if "parentasin" in names:
            return Detection(None, header_line, "its header names parent_asin: a 2023 benchmark "
                             "CSV (use the amazon2023-csv loader)")
        if names[0] in _USER_NAMES and names[1] in _ITEM_NAMES:
            header_era = "2014"
        elif names[0] in _ITEM_NAMES and names[1] in _USER_NAMES:
            header_era = "2018"
        lines = lines[1:]
    rows = [_fields(raw.decode("utf-8", errors="replace")) for _, raw in lines[:SAMPLE_ROWS]]
    good = [r for r in rows if _is_rating_row(r)]
    if not rows:
        return Detection(header_era, header_line, "no rating rows after the header")
    millis = sum(len(r) >= 4 and (_number(r[3]) or 0) >= MAX_S for r in rows)
    if millis > len(rows) / 2:
        return Detection(None, header_line, "its timestamps are milliseconds: a 2023 file "
                         "(use the amazon2023-csv loader)")
    if len(good) < MIN_GOOD * len(rows):
        return Detection(None, header_line, f"only {len(good)} of its first {len(rows)} rows are "
                         "id,id,rating (1-5),timestamp (Unix seconds)")
    asin0 = sum(bool(_ASIN.match(r[0])) for r in good) / len(good)
    asin1 = sum(bool(_ASIN.match(r[1])) for r in good) / len(good)
    if asin1 >= DECISIVE and asin0 <= 1 - DECISIVE:
        return Detection("2014", header_line, "ASINs in the second column")
    if asin0 >= DECISIVE and asin1 <= 1 - DECISIVE:
        return Detection("2018", header_line, "ASINs in the first column")
    if header_era is not None:
        return Detection(header_era, header_line, "the header names the columns")
    return Detection(None, header_line, "neither id column holds ASINs (B + 9 characters or an "
                     "ISBN-10), so the column order is unknown; force it with the loader option "
                     "era=2014 (user,item,...) or era=2018 (item,user,...)")


def _fields(line: str) -> list[str]:
    return [f.strip().strip('"') for f in line.lstrip("\ufeff").rstrip("\r\n").split(",")]


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _is_rating_row(fields: list[str]) -> bool:
    if len(fields) != 4 or not fields[0] or not fields[1]:
        return False
    rating, ts = _number(fields[2]), _number(fields[3])
    return rating is not None and ts is not None and 1 <= rating <= 5 and MIN_S <= ts < MAX_S


def _spec(era: Era, header_line: int | None):
    """How the line stager reads a file of ``era`` (DuckDB lists are 1-based)."""
    from deepcart.toolkit import line_staging

    user_at, item_at = (1, 2) if era == "2014" else (2, 1)
    field = "trim(trim(f[{}]), '\"')"
    user, item, rating, ts = (field.format(i) for i in (user_at, item_at, 3, 4))
    quoted = line_staging.quoted_sql
    problem = f"""CASE
        WHEN len(f) < 4 THEN 'missing field: expected {COLUMNS[era]}, found ' || len(f)
            || ' field' || CASE WHEN len(f) = 1 THEN '' ELSE 's' END
        WHEN len(f) > 4 THEN 'too many fields: expected 4 ({COLUMNS[era]}), found ' || len(f)
        WHEN coalesce(trim({user}), '') = '' THEN 'missing user id'
        WHEN coalesce(trim({item}), '') = '' THEN 'missing item id (ASIN)'
        WHEN coalesce(trim({rating}), '') = '' THEN 'missing rating'
        WHEN rating_num IS NULL THEN 'rating ' || {quoted(rating)} || ' is not a number'
        WHEN NOT (rating_num BETWEEN 1 AND 5) THEN 'rating ' || trim({rating}) || ' is outside [1, 5]'
        WHEN coalesce(trim({ts}), '') = '' THEN 'missing timestamp'
        WHEN ts_num IS NULL THEN 'timestamp ' || {quoted(ts)} || ' is not a number'
        WHEN NOT (ts_num >= {MIN_S} AND ts_num < {MAX_S}) THEN 'timestamp ' || trim({ts})
            || ' is not a time in Unix seconds between 1990 and 2100'
    END"""
    ok = (f"len(f) = 4 AND ascii(user_id) > 32 AND ascii(parent_asin) > 32 "
          f"AND rating_num BETWEEN 1 AND 5 AND ts_num >= {MIN_S} AND ts_num < {MAX_S}")
    return line_staging.StageSpec(
        table=_STAGE,
        columns="user_id VARCHAR, parent_asin VARCHAR, rating DOUBLE, timestamp TIMESTAMP",
        parse="string_split(line, ',') AS f",
        derive=f"{user} AS user_id, {item} AS parent_asin, {line_staging.decimal_sql(rating)} AS rating_num, "
        f"{line_staging.decimal_sql(ts)} AS ts_num",
        ok=ok,
        problem=problem,
        values="user_id, parent_asin, rating_num, CASE WHEN problem IS NULL "
        "THEN epoch_ms(CAST(round(ts_num * 1000) AS BIGINT)) END",
        ignore=None if header_line is None else f"line_no = {int(header_line)}",
        check_head=_check_head,
    )


def _check_head(sniffed) -> tuple[int, str] | None:
    """``(line, problem)`` when the file is not a CSV at all (JSON, binary)."""
    from deepcart.toolkit import line_staging

    lines = sniffed.head_lines(1)
    if not lines:
        return None
    number, raw = lines[0]
    binary = line_staging.describe_non_text(raw)
    if binary:
        return number, f"not a CSV file (it looks like {binary})"
    if raw.decode("utf-8").lstrip().startswith(("{", "[")):
        return number, "not a CSV file (it looks like JSON; use the amazon2023 loader)"
    return None


@hookimpl
def register_loaders(register) -> None:
    """Register ``amazon-legacy``."""
    register("amazon-legacy", AmazonLegacyLoader)

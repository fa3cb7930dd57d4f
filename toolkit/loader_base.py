"""The skeleton that deepcart's loaders share, for plugin authors who write another one.

A loader fills three DuckDB tables (see :class:`deepcart.contracts.Loader`): ``interactions``,
``reviews`` and ``items``, with the schemas below. :class:`StagedLoader` gives a loader its config
handling and the cheap ``can_read`` test (file name suffix, a regular file, then the loader's own
look at the first lines). :class:`RatingFileLoader` is the whole ``ingest`` of a loader for
rating-only files (no texts, no item meta): stage every line with
:class:`deepcart.toolkit.line_staging.LineStager`, keep each person's earliest rating of an item,
and leave ``reviews`` without texts and ``items`` empty. A subclass says how to stage its files.

``amazon2023``, ``amazon2023-csv`` and the contrib ``amazon-legacy`` loader are built on it.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from deepcart.reports import IngestReport

if TYPE_CHECKING:
    import duckdb

    from deepcart.toolkit.line_staging import LineStager

INTERACTIONS_DDL = """CREATE OR REPLACE TABLE interactions (
    user_id VARCHAR NOT NULL, parent_asin VARCHAR NOT NULL,
    rating DOUBLE NOT NULL, timestamp TIMESTAMP NOT NULL)"""
#: ``{text}`` is :data:`ZSTD_TEXT` or empty (see :func:`create_reviews`).
REVIEWS_DDL = """CREATE OR REPLACE TABLE reviews (
    user_id VARCHAR NOT NULL, parent_asin VARCHAR NOT NULL, title VARCHAR, text VARCHAR{text},
    helpful_vote INTEGER, verified_purchase BOOLEAN)"""
#: Review texts compressed with zstd: half the CPU time of DuckDB's default choice (dictionary +
#: FSST analysis) and less than half the size on disk. DuckDB versions without zstd for strings
#: fall back to the default.
ZSTD_TEXT = " USING COMPRESSION zstd"
ITEMS_DDL = """CREATE OR REPLACE TABLE items (
    parent_asin VARCHAR NOT NULL PRIMARY KEY, title VARCHAR, main_category VARCHAR, store VARCHAR,
    price DOUBLE, average_rating DOUBLE, rating_number INTEGER, categories VARCHAR[],
    features VARCHAR[], details VARCHAR)"""


def create_reviews(con: duckdb.DuckDBPyConnection) -> None:
    """``CREATE OR REPLACE TABLE reviews``, with zstd for the texts where DuckDB has it."""
    from deepcart.toolkit.line_staging import drop_relation

    drop_relation(con, "reviews")  # e.g. the view of an earlier ingest on this connection
    try:
        con.execute(REVIEWS_DDL.format(text=ZSTD_TEXT))
    except Exception as exc:  # duckdb.Error: an older DuckDB without zstd for strings
        if "compression" not in str(exc).lower():
            raise
        con.execute(REVIEWS_DDL.format(text=""))


def has_suffix(path: Path, suffixes: Sequence[str]) -> bool:
    """Whether the file name ends in one of ``suffixes``, with or without a trailing ``.gz``."""
    name = Path(path).name.lower()
    if name.endswith(".gz"):
        name = name[:-3]
    return name.endswith(tuple(suffixes))


def note_duplicates(report: IngestReport, what: str = "rows") -> None:
    """Say in the report how many repeated (user, item) ``what`` were dropped, if any."""
    if report.duplicates_dropped:
        report.notes.append(
            f"{report.duplicates_dropped:,} repeated (user, item) {what} dropped "
            "(the earliest one of each kept)"
        )


class StagedLoader:
    """Config handling and ``can_read`` for a loader; subclasses set ``Config`` and ``suffixes``.

    ``can_read`` is true for a regular file with one of the ``suffixes`` (``.gz`` or not) that
    :meth:`recognises` accepts; a file that cannot be read or decoded is simply not recognised.
    """

    Config: ClassVar[type]
    #: File name endings this loader reads (before an optional ``.gz``), e.g. ``(".csv",)``.
    suffixes: ClassVar[tuple[str, ...]] = ()

    def __init__(self, config: Any = None):
        self.config = config if config is not None else self.Config()

    #: What :meth:`recognises` looks for, for messages: "a JSON object with user_id and parent_asin".
    first_line: ClassVar[str] = "a line of this format"

    def can_read(self, path: Path) -> bool:
        """A regular file with one of :attr:`suffixes` whose first lines :meth:`recognises` accepts."""
        return self.why_not(path) is None

    def why_not(self, path: Path) -> str | None:
        """Why this loader does not read ``path`` (None: it does), for the "no loader" message."""
        from deepcart.toolkit import line_staging

        path = Path(path)
        if not has_suffix(path, self.suffixes):
            return f"reads {', '.join(s + '[.gz]' for s in self.suffixes)} files, not {path.name}"
        if not path.is_file():
            return "not a regular file"
        try:
            if self.recognises(path):
                return None
            first = line_staging.sniff(path).head_lines(1)
        except (OSError, UnicodeDecodeError) as exc:
            return f"cannot read it ({exc})"
        if not first:
            return "the file is empty"
        problem = line_staging.describe_non_text(first[0][1])
        return problem or f"its first line is not {self.first_line}"

    def recognises(self, path: Path) -> bool:
        """Whether the first lines of ``path`` look like this loader's format."""
        raise NotImplementedError


class RatingFileLoader(StagedLoader):
    """``ingest`` for rating-only files: ``interactions``, text-less ``reviews``, an empty ``items``.

    A subclass sets :attr:`stage_table` (the name its :class:`~deepcart.toolkit.line_staging.StageSpec`
    stages into), :attr:`no_meta` (why item files are ignored) and implements :meth:`stage_files`.
    Of repeated (user, item) ratings the earliest is kept, ties broken by file and line order.
    """

    stage_table: ClassVar[str]
    #: Start of the note when item files are given, e.g. ``"the benchmark CSVs have no item meta"``.
    no_meta: ClassVar[str] = "these rating files have no item meta"

    def stage_files(self, stager: LineStager, reviews: Sequence[Path], report: IngestReport) -> None:
        """Create the stage table with ``stager`` and stage every file of ``reviews`` into it,
        adding the lines read to ``report.lines_read``."""
        raise NotImplementedError

    def ingest(self, con: duckdb.DuckDBPyConnection, reviews: Sequence[Path], items: Sequence[Path], *,
               on_bad_records: Literal["fail", "skip"]) -> IngestReport:
        """Create ``interactions``, ``reviews`` (NULL text) and an empty ``items``."""
        from deepcart.toolkit.line_staging import LineStager

        report = IngestReport()
        if items:
            report.notes.append(f"{self.no_meta}: {len(items)} item file(s) ignored")
        stager = LineStager(con, on_bad_records, report)
        stage = self.stage_table
        try:
            self.stage_files(stager, [Path(p) for p in reviews], report)
            good = con.execute(f"SELECT count(*) FROM {stage} WHERE problem IS NULL").fetchone()[0]
            con.execute(INTERACTIONS_DDL)
            con.execute(f"""
                INSERT INTO interactions
                SELECT user_id, parent_asin, rating, timestamp FROM {stage} WHERE problem IS NULL
                QUALIFY row_number() OVER (PARTITION BY user_id, parent_asin
                                           ORDER BY timestamp, file_no, line_no) = 1""")
            con.execute(f"DROP TABLE {stage}")
            create_reviews(con)
            con.execute("INSERT INTO reviews (user_id, parent_asin) "
                        "SELECT user_id, parent_asin FROM interactions")
            con.execute(ITEMS_DDL)
            kept = con.execute("SELECT count(*) FROM interactions").fetchone()[0]
            report.duplicates_dropped = int(good - kept)
        finally:
            stager.close(stage)
        note_duplicates(report)
        return report

"""The dataset build: loader -> filter chain -> validated Parquet tag, atomically.

Everything happens in a temporary folder next to the final tag, in a file-backed DuckDB database so
that large inputs spill to disk instead of exhausting memory. Only when every step has succeeded is
the folder renamed into place; any failure (bad input, an exception in a filter, Ctrl-C) removes it,
so a tag that exists is always complete, and an existing tag is only replaced with ``force``.
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import shutil
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from deepcart import __version__
from deepcart.config import config_to_dict
from deepcart.pipeline.tags import (
    INTERACTIONS, ITEMS, MANIFEST, REJECTS, SCHEMA_VERSION, atomic_folder, check_replaceable, tag_lock, tag_path,
)
from deepcart.errors import BadInputError, DeepcartError
from deepcart.reports import FilterReport, IngestReport
from deepcart.toolkit.sql import memory_limit as check_memory_limit
from deepcart.toolkit.sql import sql_str

Echo = Callable[[str], None]
#: The timed steps of a build, in order (the first one without a timing is the one running).
STEPS = ("ingest", "filters", "write", "validate", "hash")


@dataclass
class BuildSpec:
    """What to build; see ``deepcart build --help`` for the meaning of each field."""

    tag: str
    reviews: Sequence[str | Path]
    items: Sequence[str | Path] = ()
    loader: str | None = None
    filters: Sequence[tuple[str, dict[str, Any]]] = ()
    seed: int = 0
    data_dir: Path | None = None
    force: bool = False
    on_bad_records: str = "fail"
    memory_limit: str = "4GB"
    threads: int | None = None
    max_line_bytes: int | None = None  # None: the loaders' default (line_staging.MAX_LINE_BYTES)
    engine: str = "duckdb"
    engine_options: dict[str, Any] = field(default_factory=dict)
    source_note: dict[str, Any] = field(default_factory=dict)


@dataclass
class BuildResult:
    """The finished tag."""

    path: Path
    manifest: dict[str, Any]


def expand_inputs(patterns: Sequence[str | Path], what: str) -> list[Path]:
    """Expand globs; every pattern must match at least one regular file.

    A path that exists but is no regular file (a folder, a named pipe, a device) is refused by what
    it is: reading a pipe would wait forever, a folder is a mistake worth naming.
    """
    paths: list[Path] = []
    for pattern in patterns:
        pattern = str(pattern)
        matches = sorted(glob.glob(os.path.expanduser(pattern))) if glob.has_magic(pattern) else [pattern]
        existing = [Path(m) for m in matches if Path(m).is_file()]
        if not existing:
            kinds = [not_a_file(Path(m)) for m in matches if os.path.lexists(m)]
            if kinds and kinds[0]:
                raise DeepcartError(f"{what} {pattern!r}: {kinds[0]}; give a JSON lines or CSV file")
            raise DeepcartError(f"{what} {pattern!r}: no such file")
        paths.extend(existing)
    return paths


def not_a_file(path: Path) -> str | None:
    """What ``path`` is when it is no regular file (``is a directory``, ...), else None."""
    import stat

    try:
        mode = os.stat(path).st_mode
    except OSError as exc:
        return f"cannot be read ({exc.strerror})"
    if stat.S_ISREG(mode):
        return None
    for test, what in ((stat.S_ISDIR, "is a directory"), (stat.S_ISFIFO, "is a named pipe (FIFO)"),
                       (stat.S_ISSOCK, "is a socket"), (stat.S_ISCHR, "is a character device"),
                       (stat.S_ISBLK, "is a block device")):
        if test(mode):
            return f"{what}, not a regular file"
    return "is not a regular file"


def pick_loader(registry, name: str | None, first_review_file: Path):
    """The named loader, or the first registered loader that recognises the file."""
    if name:
        return registry.create("loader", name)
    reasons = []
    for component in registry.components("loader"):
        loader = registry.create("loader", component.name)
        why_not = getattr(loader, "why_not", None)  # (the loader skeleton's; can_read asks it too)
        if why_not is None:
            if loader.can_read(first_review_file):
                return loader
            why = None
        else:
            why = why_not(first_review_file)
            if why is None:
                return loader
        reasons.append(f"{component.name}: {why or 'does not recognise it'}")
    raise BadInputError(
        str(first_review_file), None,
        f"no loader recognises this file ({'; '.join(reasons)}); name one with --loader",
    )


def file_fingerprint(path: Path, progress: bool = False) -> dict[str, Any]:
    """Name, size and SHA-256 of an input file (streamed in 8 MiB blocks)."""
    from tqdm import tqdm

    digest = hashlib.sha256()
    size = path.stat().st_size
    with open(path, "rb") as fh, tqdm(
        total=size, unit="B", unit_scale=True, desc=f"hashing {path.name}", disable=not progress,
        file=sys.stderr, leave=False,
    ) as bar:
        while block := fh.read(8 << 20):
            digest.update(block)
            bar.update(len(block))
    return {"name": path.name, "path": str(path.resolve()), "bytes": size, "sha256": digest.hexdigest()}


def _default_line_limit() -> int:
    from deepcart.toolkit.line_staging import MAX_LINE_BYTES

    return MAX_LINE_BYTES


def connect(folder: Path, *, memory_limit: str, threads: int | None):
    """A file-backed DuckDB connection tuned for streaming builds."""
    import duckdb

    con = duckdb.connect(str(folder / "build.duckdb"))
    spill = folder / "spill"
    spill.mkdir(exist_ok=True)
    con.execute(f"SET memory_limit = {sql_str(check_memory_limit(memory_limit))}")
    con.execute(f"SET temp_directory = {sql_str(spill)}")
    con.execute(f"SET threads = {int(threads or os.cpu_count() or 1)}")
    # Row order is irrelevant until the final sorted write; not preserving it saves memory.
    con.execute("SET preserve_insertion_order = false")
    return con


def table_counts(con, table: str = "interactions") -> dict[str, int]:
    """Users, items and ratings of a table with ``user_id`` and ``parent_asin``."""
    users, items, ratings = con.execute(
        f"SELECT count(DISTINCT user_id), count(DISTINCT parent_asin), count(*) FROM {table}"
    ).fetchall()[0]  # fetchall: DuckDB 2 keeps a fetchone() result open, blocking later register()
    return {"users": users, "items": items, "ratings": ratings}


def build_dataset(spec: BuildSpec, registry, *, echo: Echo = print, progress: bool = False) -> BuildResult:
    """Run the build described by ``spec`` with components from ``registry``.

    :raises DeepcartError: the tag exists (without ``force``), an input is missing or malformed, a
        component is unknown, or a schema check fails. Nothing is left behind in that case.
    """
    target = tag_path(spec.tag, spec.data_dir)
    with tag_lock(target):  # a second build of this tag fails at once, naming the first
        return _build_locked(spec, registry, target, echo=echo, progress=progress)


def _build_locked(spec: BuildSpec, registry, target: Path, *, echo: Echo, progress: bool) -> BuildResult:
    # The build's heavy modules, imported before the work folder exists: a Ctrl-C or SIGTERM that
    # lands inside an extension module's import surfaces as an ImportError and a traceback.
    import duckdb  # noqa: F401
    import pyarrow.parquet  # noqa: F401

    import deepcart.schemas.validate  # noqa: F401  (pandera: the slowest import of all)

    if target.exists() and not spec.force:
        raise DeepcartError(f"dataset tag {spec.tag!r} already exists at {target}; use --force to replace it")
    check_replaceable(target, "dataset tag")  # --force replaces a tag, never a models folder or your files
    filters = [(name, registry.create("filter", name, options)) for name, options in spec.filters]
    engine = registry.create("engine", spec.engine, spec.engine_options)
    unportable = [name for name, step in filters if not getattr(step, "portable", False)]
    if unportable and not engine.runs_duckdb_sql:  # refused before anything is read
        raise DeepcartError(
            f"filter(s) {', '.join(map(repr, unportable))} have no portable form (they run DuckDB SQL), so the "
            f"{spec.engine} engine cannot run them; build with --engine duckdb, or leave them out")
    reviews = expand_inputs(spec.reviews, "reviews file")
    items = expand_inputs(spec.items, "items file")
    loader = pick_loader(registry, spec.loader, reviews[0])

    started = time.perf_counter()
    timings: dict[str, float] = {}
    try:
        with atomic_folder(target, prefix=f".build-{spec.tag}-") as work:
            con = connect(work, memory_limit=spec.memory_limit, threads=spec.threads)
            if spec.max_line_bytes is not None:
                from deepcart.toolkit.line_staging import set_line_limit

                set_line_limit(con, spec.max_line_bytes)
            con.execute(f"SET enable_progress_bar = {'true' if progress else 'false'}")
            tick = time.perf_counter()
            report: IngestReport = loader.ingest(con, reviews, items, on_bad_records=spec.on_bad_records)
            timings["ingest"] = time.perf_counter() - tick
            ingested = table_counts(con)
            echo(f"Read {report.lines_read:,} review lines: {ingested['ratings']:,} ratings by "
                 f"{ingested['users']:,} users of {ingested['items']:,} items.")
            if report.rejected:
                echo(f"Skipped {len(report.rejected):,} bad lines (see {REJECTS}).")
            for note in report.notes:
                echo(note)

            steps: list[FilterReport] = []
            tick = time.perf_counter()
            where = None
            if filters:
                with engine.open(con, work) as frame:
                    where = frame.where
                    if frame.engine != "duckdb":
                        echo(f"Filtering on {spec.engine} ({where}).")
                    for _, step in filters:
                        result = step.apply(frame if getattr(step, "portable", False) else con, seed=spec.seed)
                        steps.append(result)
                        echo(result.message)
                    frame.finish(con)
            timings["filters"] = time.perf_counter() - tick
            counts = table_counts(con)
            if ingested["ratings"] == 0:
                raise DeepcartError(f"no ratings were read from {', '.join(map(str, reviews))} (empty, or every "
                                    "line was bad and skipped): nothing to build")
            if counts["ratings"] == 0:
                names = ", ".join(name for name, _ in filters)
                raise DeepcartError(f"the filters ({names}) left no ratings: loosen their thresholds")

            tick = time.perf_counter()
            _write_tables(con, work)
            con.close()
            timings["write"] = time.perf_counter() - tick

            tick = time.perf_counter()
            from deepcart.schemas.validate import validate_table

            limits = {"memory_limit": spec.memory_limit, "threads": spec.threads}
            validate_table("interactions", work / INTERACTIONS, seed=spec.seed, **limits)
            validate_table("items", work / ITEMS, seed=spec.seed, **limits)
            timings["validate"] = time.perf_counter() - tick

            if report.rejected:
                with open(work / REJECTS, "w") as fh:
                    for rejected in report.rejected:
                        fh.write(json.dumps(rejected.to_json()) + "\n")

            tick = time.perf_counter()
            manifest = {
                "tag": spec.tag,
                "schema_version": SCHEMA_VERSION,
                "deepcart_version": __version__,
                "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "seed": spec.seed,
                "loader": {"name": _name_of(registry, "loader", loader), "on_bad_records": spec.on_bad_records,
                           "max_line_bytes": spec.max_line_bytes or _default_line_limit()},
                "sources": {
                    "reviews": [file_fingerprint(p, progress) for p in reviews],
                    "items": [file_fingerprint(p, progress) for p in items],
                    **spec.source_note,
                },
                "ingest": {
                    "lines_read": report.lines_read,
                    "rejected": len(report.rejected),
                    "duplicates_dropped": report.duplicates_dropped,
                    "reviews_without_meta": report.reviews_without_meta,
                    "items_read": report.items_read,
                    "notes": report.notes,
                    **{f"after_ingest_{k}": v for k, v in ingested.items()},
                },
                "engine": {"name": spec.engine, "options": config_to_dict(engine.config), "where": where},
                "filters": [s.to_json() for s in steps],
                "counts": counts,
                "files": {name: (work / name).stat().st_size for name in (INTERACTIONS, ITEMS)},
            }
            timings["hash"] = time.perf_counter() - tick
            manifest["timings_s"] = {k: round(v, 3) for k, v in timings.items()}
            (work / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
            for leftover in ("build.duckdb", "build.duckdb.wal", "spill"):
                path = work / leftover
                if path.is_dir():
                    shutil.rmtree(path)
                elif path.exists():
                    path.unlink()
    except BaseException as exc:
        if type(exc).__name__ == "OutOfMemoryException":  # duckdb's; not imported at top level
            step = next((s for s in STEPS if s not in timings), "the build")
            raise DeepcartError(
                f"DuckDB ran out of memory during {step} with --memory-limit {spec.memory_limit} and "
                f"{spec.threads or os.cpu_count()} thread(s); nothing was written. Raise "
                "--memory-limit or lower --threads."
            ) from None
        raise
    elapsed = time.perf_counter() - started
    echo(f"Found {counts['users']:,} users with {counts['ratings']:,} ratings of {counts['items']:,} items.")
    echo(f"Wrote dataset tag {spec.tag!r} to {target} in {elapsed:.1f} s.")
    return BuildResult(target, manifest)


def _name_of(registry, kind: str, instance: Any) -> str:
    for component in registry.components(kind):
        if isinstance(instance, component.obj):
            return component.name
    return type(instance).__name__


def _write_tables(con, folder: Path) -> None:
    """Write the tag's Parquet files: ratings joined with their review text, and the rated items."""
    from deepcart.toolkit.line_staging import drop_relation, remove_staged_files

    # Join first, into a table of the file-backed database, then sort that. As one statement
    # (the join feeding the sort) DuckDB ran out of memory on 11M reviews at 1 GB (and 43.9M at
    # 4 GB); apart, the join streams and the sort spills: 9.9 + 3.0 s there, at 1 GB.
    # The hash table is built on the kept ratings (the right side of the RIGHT JOIN), and the
    # reviews, texts and all, stream past it. Left to its estimates (a view over Parquet files
    # with a filter looks 25x smaller than it is) DuckDB built it on the reviews instead and
    # spilled every text: 43.9M reviews needed 3.5x the input's size in disk.
    try:  # an older DuckDB without this optimizer keeps its own plan: slower, not wrong
        con.execute("SET disabled_optimizers = 'build_side_probe_side'")
    except Exception:  # duckdb.Error; not imported at top level
        pass
    con.execute("""
        CREATE OR REPLACE TABLE _deepcart_kept AS
        SELECT i.user_id, i.parent_asin, i.rating, i.timestamp,
               r.title, r.text, r.helpful_vote, r.verified_purchase
        FROM reviews r RIGHT JOIN interactions i USING (user_id, parent_asin)""")
    con.execute("RESET disabled_optimizers")  # (a failed build drops the connection anyway)
    # The texts are in the table now: the loader's staged files (as large as the input) go
    # before the sort spills, which keeps the peak disk use of 43.9M reviews under 2x the input.
    drop_relation(con, "reviews")
    remove_staged_files(folder / "spill")
    con.execute(
        f"""
        COPY (
            SELECT * FROM _deepcart_kept ORDER BY user_id, timestamp, parent_asin
        ) TO {sql_str(folder / INTERACTIONS)} (FORMAT parquet, COMPRESSION zstd)
        """
    )
    con.execute("DROP TABLE _deepcart_kept")
    con.execute(
        f"""
        COPY (
            SELECT it.* FROM items it
            WHERE it.parent_asin IN (SELECT DISTINCT parent_asin FROM interactions)
            ORDER BY it.parent_asin
        ) TO {sql_str(folder / ITEMS)} (FORMAT parquet, COMPRESSION zstd)
        """
    )

"""Staging several input files at once, each on a connection and a thread of its own.

A ``.gz`` file is decompressed by one thread from start to end, so one big file keeps one core
busy however many the machine has. The same reviews as shards (``deepcart synth --shards N``, or
the per-part files a download often comes in) can be staged side by side: each file is one
:meth:`~deepcart.toolkit.line_staging.LineStager.stage` on its own cursor, into its own Parquet
file of the one staging folder (so only specs that stage to files qualify). The result is the
same as staging them one after another: file numbers, line numbers, rejects in file order, and in
``fail`` mode the error of the first file (in file order) that has one: when a file fails, the
files before it go on and the files after it stop.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from contextlib import suppress
from pathlib import Path
from typing import TYPE_CHECKING

from deepcart.toolkit.line_staging import LineStager, StageSpec

if TYPE_CHECKING:
    import duckdb


class Running:
    """The connections running a loader's queries now, so that one failure, or Ctrl-C, stops all."""

    def __init__(self, *cons: duckdb.DuckDBPyConnection):
        self._cons = list(cons)
        self._lock = threading.Lock()

    def add(self, con: duckdb.DuckDBPyConnection) -> None:
        with self._lock:
            self._cons.append(con)

    def remove(self, con: duckdb.DuckDBPyConnection) -> None:
        with self._lock:
            self._cons.remove(con)

    def interrupt(self) -> None:
        """Interrupt the query of every connection."""
        with self._lock:
            cons = list(self._cons)
        for con in cons:
            with suppress(Exception):
                con.interrupt()


def stage_files(stager: LineStager, spec: StageSpec, paths: Sequence[Path], *, workers: int,
                running: Running | None = None) -> int:
    """Stage ``paths`` (file number = position) with ``stager``, up to ``workers`` files at a time;
    the number of lines, as :meth:`LineStager.stage` counts them, over all files.

    One file, one worker or a spec that stages into a table (a TEMP table belongs to one
    connection) stage one after another on ``stager``'s own connection.
    """
    paths = [Path(p) for p in paths]
    if workers <= 1 or len(paths) <= 1 or not stager.stages_to_files(spec):
        return sum(stager.stage(spec, file_no, path) for file_no, path in enumerate(paths))
    running = running or Running(stager.con)
    results: dict[int, tuple[int, LineStager]] = {}
    lock = threading.Lock()
    cursors: dict[int, duckdb.DuckDBPyConnection] = {}  # file number -> its connection, while staging
    stop = [len(paths)]  # files after this one are not staged (one before it failed)

    def stage_one(file_no: int, path: Path) -> None:
        cursor = stager.con.cursor()
        with lock:
            if file_no > stop[0]:
                cursor.close()
                return
            cursors[file_no] = cursor
        running.add(cursor)
        helper = None
        try:
            helper = stager.helper(cursor, spec)
            results[file_no] = (helper.stage(spec, file_no, path), helper)
        except BaseException:
            if helper is not None:
                helper.close()  # its scratch folder
            raise
        finally:
            with lock:
                del cursors[file_no]
            running.remove(cursor)
            cursor.close()

    def stop_after(file_no: int) -> None:
        """A file failed: the files before it go on (one of them may fail first, in file order,
        and that is the error to report); the files after it stop."""
        with lock:
            stop[0] = min(stop[0], file_no)
            later = [c for n, c in cursors.items() if n > stop[0]]
        for future, n in futures.items():
            if n > file_no:
                future.cancel()
        for cursor in later:
            with suppress(Exception):
                cursor.interrupt()

    with ThreadPoolExecutor(max_workers=min(workers, len(paths)), thread_name_prefix="deepcart-stage") as pool:
        futures = {pool.submit(stage_one, n, p): n for n, p in enumerate(paths)}
        pending = set(futures)
        try:
            while pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    if not future.cancelled() and future.exception() is not None:
                        stop_after(futures[future])
        except BaseException:  # Ctrl-C while waiting: stop every file, then go
            stop_after(-1)
            raise
    failed = sorted((n, f.exception()) for f, n in futures.items()
                    if not f.cancelled() and f.exception() is not None)
    if failed:
        raise failed[0][1]
    stager.refresh(spec.table)
    total = 0
    for file_no in sorted(results):
        count, helper = results[file_no]
        total += count
        stager.absorb(helper)
        helper.close()  # its scratch folder; the staged file stays
    return total


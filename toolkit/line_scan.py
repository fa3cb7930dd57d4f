"""A second reading of each input file, in Python, for what DuckDB's readers cannot be trusted with.

Two properties of a file decide whether the rows DuckDB staged from it are the file's rows:

* **Line size.** DuckDB's line reader refuses a line over its ``max_line_size`` (or, past twice
  that, stops with "not implemented"), while its JSON reader, the fast path, accepts objects far
  over its ``maximum_object_size``. So the limit is ours: a line longer than it is a bad record
  whichever reader ran, and :class:`LineScan` finds every such line.
* **gzip damage.** DuckDB's gzip reader does not check the stream's CRC, so flipped bytes in the
  middle of a file come out as garbage lines (146,948 "rejects" in the review that found it).
  :class:`LineScan` decompresses with zlib, which checks it, and says whether and where the
  stream is truncated or corrupt.

:class:`LineScan` runs in a thread while DuckDB stages the same file: reading a plain file is
I/O, and a gzip stream is staged by one DuckDB thread (``serial_threads``), so the scan mostly
uses a core that would idle. It touches each chunk a constant number of times (``find``,
``rfind``, ``count``), never each line in Python: with chunks no longer than the limit, only a line
that spans chunks can be too long.

:func:`write_repaired` then makes, on the rare bad file, the copy that DuckDB can read: long lines
replaced by empty lines (so that every later line keeps its number) and the stream cut at damage.
"""

from __future__ import annotations

import threading
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

#: Bytes of a line kept to show in a reject.
HEAD_BYTES = 2_000
#: Long lines listed per file; beyond this they are counted (a file of nothing but long lines
#: would otherwise fill memory with their heads).
MAX_LONG_KEPT = 10_000
_GZIP_MAGIC = b"\x1f\x8b"


class GzipDamage(Exception):
    """The gzip stream ends early (``kind="truncated"``), does not decompress (``"corrupt"``), or
    decompresses to data that does not match the stream's checksum (``"checksum"``)."""

    def __init__(self, kind: str):
        super().__init__(kind)
        self.kind = kind


def gunzip_chunks(path: Path, block: int = 2**20) -> Iterator[bytes]:
    """Decompressed chunks of a (possibly multi-member) gzip file, each at most ``block`` bytes.

    Raises :class:`GzipDamage` after the last good chunk. zlib is used directly (not :mod:`gzip`)
    so that every decompressible byte comes out before the error; it checks each member's CRC.
    """
    dec = zlib.decompressobj(31)
    in_member = False
    with open(path, "rb") as fh:
        while True:
            data = fh.read(block)
            if not data:
                break
            while data:
                if not in_member and not data.strip(b"\x00"):
                    data = b""  # zero padding after the last member
                    break
                in_member = True
                try:
                    chunk = dec.decompress(data, block)
                    while chunk:  # drain in pieces of at most `block` bytes
                        yield chunk
                        if dec.eof:
                            break
                        chunk = dec.decompress(dec.unconsumed_tail, block)
                except zlib.error as exc:
                    raise GzipDamage(_kind(exc)) from None
                if dec.eof:
                    data = dec.unused_data
                    dec = zlib.decompressobj(31)
                    in_member = False
                else:
                    data = b""
    if in_member:
        try:
            tail = dec.flush()
        except zlib.error as exc:
            raise GzipDamage(_kind(exc)) from None
        for start in range(0, len(tail), block):
            yield tail[start:start + block]
        raise GzipDamage("truncated")


def _kind(error: zlib.error) -> str:
    return "checksum" if "check" in str(error) else "corrupt"  # "incorrect data/length check"


def chunks(path: Path, compression: str, block: int) -> Iterator[bytes]:
    """The file's (decompressed) bytes in chunks of at most ``block``."""
    if compression == "gzip":
        yield from gunzip_chunks(path, block)
        return
    with open(path, "rb") as fh:
        while data := fh.read(block):
            yield data


@dataclass(frozen=True)
class LongLine:
    """A line over the limit: its 1-based number, its size in bytes (no line break), its start."""

    line: int
    size: int
    head: bytes


class _Walker:
    """Follows line numbers and line sizes through a stream of chunks (see the module doc).

    With ``keep=True`` it also returns, per chunk, the bytes of a copy in which every long line is
    an empty line; the current line is held back (at most ``limit`` bytes) until it is known to fit.
    """

    def __init__(self, limit: int, *, keep: bool):
        self.limit, self.keep = limit, keep
        self.lines = 0  # complete lines so far
        self.long: list[LongLine] = []
        self.long_count = 0
        self._size = 0  # bytes of the current (unfinished) line so far
        self._head = bytearray()
        self._held: bytearray | None = bytearray() if keep else None
        self._last_byte = b""

    def feed(self, chunk: bytes) -> list[bytes]:
        """Take the next chunk (no longer than ``limit``); return the copy's bytes for it."""
        out: list[bytes] = []
        first = chunk.find(b"\n")
        if first < 0:
            self._grow(chunk)
            self._last_byte = chunk[-1:] or self._last_byte
            return out
        self._grow(chunk[:first])
        before = chunk[first - 1:first] if first else self._last_byte
        ended = self._end_line(crlf=before == b"\r")
        last = chunk.rfind(b"\n")
        if self.keep:  # (the scan beside DuckDB only counts: no copies of its chunks)
            out.append(ended + b"\n")
            if last > first:
                out.append(chunk[first + 1:last + 1])
        if last > first:  # whole lines inside one chunk: shorter than the chunk, so never long
            self.lines += chunk.count(b"\n", first + 1, last + 1)
        self._grow(chunk[last + 1:])
        self._last_byte = chunk[-1:]
        return out

    def finish(self) -> bytes:
        """End of a complete stream: an unterminated last line counts as a line."""
        if not self._size:
            return b""
        return self._end_line(crlf=self._last_byte == b"\r")

    @property
    def tail(self) -> bytes:
        """The start of the unfinished line (where a stream was cut)."""
        return bytes(self._head)

    def _grow(self, piece: bytes) -> None:
        if not piece:
            return
        self._size += len(piece)
        if len(self._head) < HEAD_BYTES:
            self._head += piece[:HEAD_BYTES - len(self._head)]
        if self._held is not None:
            if self._size > self.limit + 1:  # too long even without a final "\r": stop holding
                self._held = None
            else:
                self._held += piece

    def _end_line(self, *, crlf: bool) -> bytes:
        size = self._size - (1 if crlf and self._size else 0)
        held = b"" if self._held is None else bytes(self._held)
        if size > self.limit:
            self.long_count += 1
            if len(self.long) < MAX_LONG_KEPT:
                self.long.append(LongLine(self.lines + 1, size, bytes(self._head)))
            held = b""
        self.lines += 1
        self._size = 0
        self._head = bytearray()
        self._held = bytearray() if self.keep else None
        return held


class LineScan:
    """Line sizes and gzip damage of one file, found in a background thread.

    :ivar lines: complete lines read so far (all of them once :attr:`done`).
    :ivar long: the lines over ``limit`` (at most :data:`MAX_LONG_KEPT`).
    :ivar damage: ``""``, ``"truncated"``, ``"corrupt"`` or ``"checksum"`` (gzip only, see
        :class:`GzipDamage`); ``lines`` is then the number of complete lines before zlib stopped.
    """

    def __init__(self, path: Path, compression: str, limit: int):
        self.path, self.compression, self.limit = Path(path), compression, limit
        self.lines = 0
        self.long: list[LongLine] = []
        self.damage = ""
        self.done = False
        self._stop = threading.Event()
        self._progress = threading.Condition()
        self._thread = threading.Thread(target=self._run, name=f"deepcart-scan-{self.path.name}",
                                        daemon=True)

    def start(self) -> LineScan:
        """Start reading; returns ``self``."""
        self._thread.start()
        return self

    def wait(self, up_to_line: int | None = None) -> None:
        """Block until the whole file is read, or until line ``up_to_line`` is."""
        with self._progress:
            self._progress.wait_for(
                lambda: self.done or (up_to_line is not None and self.lines >= up_to_line))

    def stop(self) -> None:
        """Stop reading (at the next chunk) and wait for the thread."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def long_before(self, line: int) -> LongLine | None:
        """The first long line before ``line``, if one was found."""
        return self.long[0] if self.long and self.long[0].line < line else None

    @property
    def trouble(self) -> bool:
        """Whether the file needs the repaired copy: a long line or damage."""
        return bool(self.long or self.damage)

    def _run(self) -> None:
        walker = _Walker(self.limit, keep=False)
        try:
            for chunk in chunks(self.path, self.compression, min(2**20, self.limit)):
                walker.feed(chunk)
                self._publish(walker)
                if self._stop.is_set():
                    return
            walker.finish()
        except GzipDamage as damage:
            self.damage = damage.kind
        except OSError:  # unreadable: DuckDB's own read of the file says so, with its reason
            pass
        finally:
            self._publish(walker, done=True)

    def _publish(self, walker: _Walker, *, done: bool = False) -> None:
        with self._progress:
            self.lines, self.long = walker.lines, walker.long
            self.done = self.done or done
            self._progress.notify_all()


@dataclass
class Repaired:
    """What :func:`write_repaired` wrote."""

    lines: int  # lines in the copy (complete lines before damage or the stop)
    long: list[LongLine]
    long_count: int
    damage: str  # "", "truncated", "corrupt" or "checksum"
    tail: bytes  # start of the partial line at damage


def write_repaired(path: Path, compression: str, limit: int, dest: Path, *,
                   stop_at_long: bool = False) -> Repaired:
    """Copy ``path`` (decompressed) to ``dest`` with long lines made empty, cut at gzip damage.

    Line ``n`` of the copy is line ``n`` of the file. With ``stop_at_long`` the copy ends just
    before the first long line (to find an earlier bad line, for ``on_bad_records="fail"``).
    """
    walker = _Walker(limit, keep=True)
    damage = ""
    with open(dest, "wb") as out:
        try:
            for chunk in chunks(Path(path), compression, min(2**20, limit)):
                pieces = walker.feed(chunk)
                if stop_at_long and walker.long:
                    # A long line always ends first in its chunk (lines inside one are shorter
                    # than it): nothing of this chunk belongs before it.
                    return Repaired(walker.long[0].line - 1, walker.long[:1], 1, "", b"")
                out.writelines(pieces)
            out.write(walker.finish())
        except GzipDamage as exc:
            damage = exc.kind
    if stop_at_long and walker.long:
        return Repaired(walker.long[0].line - 1, walker.long[:1], 1, "", b"")
    return Repaired(walker.lines, walker.long, walker.long_count, damage,
                    walker.tail if damage else b"")


def is_gzip(path: Path) -> bool:
    """Whether ``path`` starts with the gzip magic bytes (False if it cannot be read)."""
    try:
        with open(path, "rb") as fh:
            return fh.read(2) == _GZIP_MAGIC
    except OSError:
        return False

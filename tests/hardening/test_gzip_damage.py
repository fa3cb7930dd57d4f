"""Damage to a gzip stream is an error in both modes, never a pile of garbage "rejects".

DuckDB's gzip reader does not check the stream's CRC: flipped bytes in the middle of a file came
out as 146,948 rejected garbage lines in skip mode, and as "line 1" in fail mode. The truncated
stream keeps its behaviour (skip keeps the complete lines: nothing after them was garbage).
"""

from __future__ import annotations

import gzip
import json
import random
import struct

import pytest

from deepcart.errors import BadInputError
from deepcart.plugins.loaders.amazon2023 import Amazon2023Loader
from deepcart.plugins.loaders.amazon_csv import AmazonCsvLoader

TS = 1_600_000_000_000


def review_lines(count: int) -> list[bytes]:
    rng = random.Random(7)
    return [json.dumps({"rating": float(rng.randint(1, 5)), "user_id": f"U{n}",
                        "parent_asin": f"I{n % 97}", "timestamp": TS + n,
                        "text": " ".join(rng.choice(["good", "bad", "fine", "meh"])
                                         for _ in range(rng.randint(5, 60)))}).encode()
            for n in range(count)]


def damaged(path, lines: list[bytes], *, where: float, width: int = 64):
    """A gzip file of ``lines`` with ``width`` bytes flipped at fraction ``where`` of the stream."""
    data = bytearray(gzip.compress(b"\n".join(lines) + b"\n", 6))
    start = int(len(data) * where)
    for k in range(start, start + width):
        data[k] ^= 0x5A
    path.write_bytes(bytes(data))
    return path


def assert_damaged_in_both_modes(loader, con, path, *, before: int):
    """Fail and skip both raise "damaged after line N", N at most ``before``; nothing is kept."""
    for mode in ("fail", "skip"):
        with pytest.raises(BadInputError) as err:
            loader().ingest(con, [path], [], on_bad_records=mode)
        assert err.value.path == str(path)
        assert "the gzip stream is damaged" in err.value.problem
        assert "cannot be trusted" in err.value.problem
        assert 1 <= err.value.line <= before + 1, (mode, err.value.line)
        if err.value.line > 1:
            assert f"after line {err.value.line - 1:,}" in err.value.problem


@pytest.mark.parametrize("where", [0.3, 0.5, 0.8])
def test_flipped_bytes_in_the_middle(where, loader_con, tmp_path):
    lines = review_lines(120_000)
    path = damaged(tmp_path / "reviews.jsonl.gz", lines, where=where)
    # the first line that differs from the original: the damage is at or before it
    out = []
    try:
        with gzip.open(path, "rb") as fh:
            for line in fh:
                out.append(line.rstrip(b"\n"))
    except (OSError, EOFError, gzip.BadGzipFile):
        pass
    first_wrong = next((n for n, (a, b) in enumerate(zip(out, lines), start=1) if a != b),
                       len(out) + 1)
    assert first_wrong < len(lines)  # the damage did change the content
    assert_damaged_in_both_modes(Amazon2023Loader, loader_con, path, before=first_wrong)


def test_damage_that_only_the_checksum_shows(loader_con, tmp_path):
    """Every byte decompresses and every line parses; only the CRC says the data is not the data."""
    lines = review_lines(2_000)
    data = bytearray(gzip.compress(b"\n".join(lines) + b"\n"))
    crc = struct.unpack("<I", data[-8:-4])[0]
    data[-8:-4] = struct.pack("<I", crc ^ 1)
    path = tmp_path / "reviews.jsonl.gz"
    path.write_bytes(bytes(data))
    for mode in ("fail", "skip"):
        with pytest.raises(BadInputError) as err:
            Amazon2023Loader().ingest(loader_con, [path], [], on_bad_records=mode)
        assert (err.value.path, err.value.line) == (str(path), None)
        assert err.value.problem.startswith("the gzip stream does not match its checksum")


def test_damage_at_the_start(loader_con, tmp_path):
    data = gzip.compress(b"\n".join(review_lines(5_000)) + b"\n")
    path = tmp_path / "reviews.jsonl.gz"  # the 10-byte header intact, the deflate data not
    path.write_bytes(data[:10] + bytes(a ^ 0xFF for a in data[10:60]) + data[60:])
    assert_damaged_in_both_modes(Amazon2023Loader, loader_con, path, before=1)


def test_csv_damage(loader_con, tmp_path):
    rows = [f"U{n},I{n % 50},{1 + n % 5}.0,{TS + n}".encode() for n in range(200_000)]
    path = damaged(tmp_path / "ratings.csv.gz", rows, where=0.5)
    assert_damaged_in_both_modes(AmazonCsvLoader, loader_con, path, before=200_000)


def test_a_bad_value_before_the_damage_is_named_at_once(loader_con, tmp_path):
    lines = review_lines(120_000)
    lines[10] = json.dumps({"rating": 9, "user_id": "U", "parent_asin": "I", "timestamp": TS}).encode()
    path = damaged(tmp_path / "reviews.jsonl.gz", lines, where=0.7)
    with pytest.raises(BadInputError) as err:
        Amazon2023Loader().ingest(loader_con, [path], [], on_bad_records="fail")
    assert (err.value.line, err.value.problem) == (11, "rating 9 is outside [1, 5]")


def test_intact_multi_member_and_padded_streams_are_read(loader_con, tmp_path):
    lines = review_lines(3_000)
    path = tmp_path / "reviews.jsonl.gz"
    path.write_bytes(gzip.compress(b"\n".join(lines[:1000]) + b"\n")
                     + gzip.compress(b"\n".join(lines[1000:]) + b"\n") + b"\x00" * 512)
    for mode in ("fail", "skip"):
        report = Amazon2023Loader().ingest(loader_con, [path], [], on_bad_records=mode)
        assert report.lines_read == 3_000 and report.rejected == []

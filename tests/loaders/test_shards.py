"""Reviews in shards: ``deepcart synth --shards N`` writes them, the loader stages them side by side.

The shards hold exactly the lines of the one file; staging them in parallel gives the same tables,
line numbers, rejects and errors as staging the one file, or the shards one after another.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import duckdb
import pytest

from deepcart.errors import BadInputError
from deepcart.pipeline.synthetic import generate
from deepcart.plugins.loaders.amazon2023 import Amazon2023Loader

TS = 1_600_000_000_000


@pytest.fixture(scope="module")
def sources(tmp_path_factory) -> tuple[Path, list[Path], Path]:
    """(one file, its 3 shards, the meta file) of 100,000 synthetic reviews (41,667 users), seed 3."""
    root = tmp_path_factory.mktemp("shards")
    one = generate(root / "one", 100_000, seed=3)
    three = generate(root / "three", 100_000, seed=3, shards=3)
    return one.reviews, list(three.shards), three.meta


def test_shards_hold_exactly_the_lines_of_the_one_file(sources):
    one, shards, _ = sources
    assert [p.name for p in shards] == [f"Synthetic_Electronics-0000{k}-of-00003.jsonl.gz" for k in (1, 2, 3)]
    joined = b"".join(gzip.decompress(p.read_bytes()) for p in shards)
    assert joined == gzip.decompress(one.read_bytes())
    assert all(p.stat().st_size > 0 for p in shards)


def test_more_shards_than_runs_of_users_is_refused(tmp_path):
    with pytest.raises(ValueError, match="shards must be between 1 and 1"):
        generate(tmp_path, 1_000, shards=2)


def connect(tmp_path: Path, threads: int) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute(f"SET threads={threads}; SET preserve_insertion_order=false; "
                f"SET temp_directory='{tmp_path / 'tmp'}'")
    return con


def tables(con) -> tuple:
    interactions = con.execute("SELECT * FROM interactions ORDER BY ALL").fetchall()
    reviews = con.execute("SELECT user_id, parent_asin, title, text FROM reviews ORDER BY ALL").fetchall()
    items = con.execute("SELECT parent_asin, title, price FROM items ORDER BY ALL").fetchall()
    return interactions, reviews, items


def test_parallel_shards_give_the_tables_of_the_one_file(sources, tmp_path):
    one, shards, meta = sources
    con = connect(tmp_path, threads=1)  # one file, one thread
    single = Amazon2023Loader().ingest(con, [one], [meta], on_bad_records="fail")
    expected = tables(con)
    con = connect(tmp_path, threads=2)  # two shards at a time
    sharded = Amazon2023Loader().ingest(con, shards, [meta], on_bad_records="fail")
    assert tables(con) == expected
    assert (sharded.lines_read, sharded.duplicates_dropped, sharded.items_read) == (
        single.lines_read, single.duplicates_dropped, single.items_read)
    assert len(expected[0]) > 90_000


def write(path: Path, lines: list[str]) -> Path:
    path.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode()))
    return path


def review(n: int, **changes) -> str:
    record = {"rating": 4.0, "parent_asin": f"I{n % 7}", "user_id": f"U{n}", "timestamp": TS + n}
    return json.dumps(record | changes)


@pytest.fixture
def bad_shards(tmp_path) -> list[Path]:
    """Four shards: a bad rating in shard 2 (line 30) and bad JSON in shard 4 (line 5); shard 1 is
    big so that it is still staging when the others fail."""
    lines = [[review(n) for n in range(100_000 * (k + 1), 100_000 * (k + 1) + (20_000 if k == 0 else 40))]
             for k in range(4)]
    lines[1][29] = review(200_029, rating=9)
    lines[3][4] = "{not json"
    return [write(tmp_path / f"s{k}.jsonl.gz", part) for k, part in enumerate(lines)]


@pytest.mark.parametrize("threads", [1, 2])
def test_fail_names_the_first_bad_file_in_file_order(bad_shards, tmp_path, threads):
    with pytest.raises(BadInputError) as err:
        Amazon2023Loader().ingest(connect(tmp_path, threads), bad_shards, [], on_bad_records="fail")
    assert (err.value.path, err.value.line, err.value.problem) == (
        str(bad_shards[1]), 30, "rating 9 is outside [1, 5]")


@pytest.mark.parametrize("threads", [1, 2])
def test_skip_lists_the_rejects_in_file_order(bad_shards, tmp_path, threads):
    con = connect(tmp_path, threads)
    report = Amazon2023Loader().ingest(con, bad_shards, [], on_bad_records="skip")
    assert [(r.path, r.line) for r in report.rejected] == [(str(bad_shards[1]), 30), (str(bad_shards[3]), 5)]
    assert report.lines_read == 20_000 + 3 * 40
    assert con.execute("SELECT count(*) FROM interactions").fetchone() == (20_000 + 3 * 40 - 2,)


def test_a_bad_meta_file_stops_parallel_review_staging(sources, tmp_path):
    """The meta side fails at once; the review connections staging shards are interrupted."""
    _, shards, _ = sources
    meta = tmp_path / "meta.jsonl"
    meta.write_text('{"parent_asin": "I1"}\n{broken\n')
    with pytest.raises(BadInputError) as err:
        Amazon2023Loader().ingest(connect(tmp_path, 2), shards, [meta], on_bad_records="fail")
    assert (err.value.path, err.value.line) == (str(meta), 2)


def test_a_late_error_in_an_earlier_file_wins_over_an_early_error_in_a_later_one(tmp_path):
    """Shard 2 fails at once; shard 1 (big) fails near its end, later in time: the error named is
    shard 1's, as staging them one after another would name it."""
    big = [review(n) for n in range(100_000, 130_000)]
    big[29_990] = review(129_990, rating=0)
    shards = [write(tmp_path / "s0.jsonl.gz", big),
              write(tmp_path / "s1.jsonl.gz", [review(n) for n in range(200_000, 200_040)]),
              write(tmp_path / "s2.jsonl.gz", ["{not json"] + [review(n) for n in range(300_000, 300_040)])]
    with pytest.raises(BadInputError) as err:
        Amazon2023Loader().ingest(connect(tmp_path, 2), shards, [], on_bad_records="fail")
    assert (err.value.path, err.value.line) == (str(shards[0]), 29_991)

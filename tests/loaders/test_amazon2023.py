"""The ``amazon2023`` loader against real slices, checked by independent Python computations."""

import gzip
import html
import json
import re
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

import duckdb
import pydantic
import pytest

from deepcart.plugin_manager import load_plugins
from deepcart.plugins import BUILTIN_PLUGINS
from deepcart.plugins.loaders.amazon2023 import Amazon2023Config, Amazon2023Loader

MAGAZINE = "Magazine_Subscriptions.jsonl.gz"
MAGAZINE_META = "meta_Magazine_Subscriptions.jsonl.gz"
ELECTRONICS = "Electronics_head10k_partial.jsonl.gz"
PRERELEASE = "prerelease_review10.json"
LOADERS = ("deepcart.plugins.loaders.amazon2023", "deepcart.plugins.loaders.amazon_csv")
REAL_DATA = Path(__file__).resolve().parents[3] / "shared" / "data" / "amazon-real"


def connect(folder: Path) -> duckdb.DuckDBPyConnection:
    """A connection set up the way the build sets it up."""
    db = duckdb.connect(str(folder / "b.duckdb"))
    db.execute(f"SET memory_limit='2GB'; SET threads=2; SET preserve_insertion_order=false; "
               f"SET temp_directory='{folder / 'duckdb_tmp'}'")
    return db


@pytest.fixture
def con(tmp_path):
    db = connect(tmp_path)
    yield db
    db.close()


@pytest.fixture(scope="module")
def magazine(tmp_path_factory):
    """The Magazine reviews and meta, ingested once for the tests that only read the result."""
    if not REAL_DATA.is_dir():  # as the real_data fixture does (it is function-scoped)
        pytest.skip(f"real data slices not found at {REAL_DATA}")
    db = connect(tmp_path_factory.mktemp("magazine"))
    report = Amazon2023Loader().ingest(
        db, [REAL_DATA / MAGAZINE], [REAL_DATA / MAGAZINE_META], on_bad_records="fail"
    )
    yield db, report
    db.close()


def read_jsonl(path: Path) -> list[dict]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def earliest(records: list[dict], ts_key: str = "timestamp") -> dict[tuple[str, str], dict]:
    """The independent dedup: per (user, item) the earliest review, first in file order on ties."""
    kept: dict[tuple[str, str], dict] = {}
    for record in records:
        key = (record["user_id"], record["parent_asin"])
        if key not in kept or record[ts_key] < kept[key][ts_key]:
            kept[key] = record
    return kept


def as_ms(ts: datetime) -> int:
    return round(ts.replace(tzinfo=timezone.utc).timestamp() * 1000)


def expected_text(text):
    """What the loader's SQL cleaning must give: html.unescape after <br> -> newline."""
    if text is None:
        return None
    return html.unescape(re.sub(r"<br\s*/?>", "\n", text, flags=re.I))


def test_magazine_matches_an_independent_computation(magazine, real_data):
    con, report = magazine
    raw = read_jsonl(real_data / MAGAZINE)
    kept = earliest(raw)
    assert report.lines_read == len(raw) == 10_000
    assert report.duplicates_dropped == len(raw) - len(kept) == 25
    assert report.rejected == []

    rows = con.execute("SELECT user_id, parent_asin, rating, timestamp FROM interactions").fetchall()
    got = {(u, i): (r, as_ms(t)) for u, i, r, t in rows}
    assert len(got) == len(rows)  # one row per pair
    assert got == {k: (float(v["rating"]), v["timestamp"]) for k, v in kept.items()}
    users, items = {u for u, _ in kept}, {i for _, i in kept}
    assert len(users) == 7_386 and len(items) == 1_635  # the README's numbers
    assert con.execute("SELECT count(DISTINCT user_id), count(DISTINCT parent_asin) "
                       "FROM interactions").fetchone() == (7_386, 1_635)
    distribution = dict(con.execute("SELECT rating, count(*) FROM interactions GROUP BY 1").fetchall())
    assert distribution == Counter(float(v["rating"]) for v in kept.values())

    # reviews: same keys, cleaned text of the kept (earliest) review
    texts = con.execute("SELECT user_id, parent_asin, title, text, helpful_vote, verified_purchase "
                        "FROM reviews").fetchall()
    assert {(u, i) for u, i, *_ in texts} == set(kept) and len(texts) == len(kept)
    for u, i, title, text, votes, verified in texts:
        source = kept[(u, i)]
        assert title == expected_text(source["title"])
        assert text == expected_text(source["text"])
        assert (votes, verified) == (source["helpful_vote"], source["verified_purchase"])
    assert any("<br" in v["text"] or "&#34;" in v["text"] for v in kept.values())  # there was HTML
    assert con.execute("SELECT count(*) FROM reviews WHERE text LIKE '%<br%' OR text LIKE '%&#34;%' "
                       "OR text LIKE '%&amp;%' OR title LIKE '%&#39;%'").fetchone() == (0,)


def test_magazine_meta(magazine, real_data):
    con, report = magazine
    meta = read_jsonl(real_data / MAGAZINE_META)
    assert report.items_read == len(meta) == 3_391
    assert report.reviews_without_meta == 0
    assert not any("no item meta" in note for note in report.notes)
    by_asin = {m["parent_asin"]: m for m in meta}
    rows = con.execute("SELECT parent_asin, title, main_category, store, price, average_rating, "
                       "rating_number, categories, features, details FROM items").fetchall()
    assert len(rows) == len(by_asin)
    for asin, title, main, store, price, avg, number, cats, feats, details in rows:
        source = by_asin[asin]
        assert title == expected_text(source["title"])
        assert (main, store, avg, number) == (source["main_category"], source["store"],
                                              source["average_rating"], source["rating_number"])
        assert cats == source["categories"] and feats == source["features"]
        assert json.loads(details) == source["details"]  # JSON text, nested values included
        expected_price = source["price"] if isinstance(source["price"], (int, float)) else None
        assert price == expected_price
    dash = [m["parent_asin"] for m in meta if m["price"] == "—"]
    assert len(dash) == 1
    assert con.execute("SELECT price FROM items WHERE parent_asin = ?", dash).fetchone() == (None,)


def test_electronics_partial_loads_with_nulls(con, real_data):
    raw = read_jsonl(real_data / ELECTRONICS)
    assert "title" not in raw[0] and "verified_purchase" not in raw[0]
    kept = earliest(raw)
    report = Amazon2023Loader().ingest(con, [real_data / ELECTRONICS], [], on_bad_records="fail")
    assert report.lines_read == 10_000 and report.reviews_without_meta == 0
    users, items = {u for u, _ in kept}, {i for _, i in kept}
    assert (len(users), len(items)) == (1_561, 8_907)
    assert con.execute("SELECT count(DISTINCT user_id), count(DISTINCT parent_asin), count(*) "
                       "FROM interactions").fetchone() == (1_561, 8_907, len(kept))
    assert con.execute("SELECT count(title), count(verified_purchase), count(text), "
                       "count(helpful_vote) FROM reviews").fetchone() == (0, 0, len(kept), len(kept))
    assert con.execute("SELECT count(*) FROM items").fetchone() == (0,)  # no meta given: empty


def test_prerelease_aliases(con, real_data):
    raw = read_jsonl(real_data / PRERELEASE)  # JSON lines despite the .json name
    assert len(raw) == 10 and "sortTimestamp" in raw[0] and "timestamp" not in raw[0]
    loader = Amazon2023Loader()
    assert loader.can_read(real_data / PRERELEASE)
    report = loader.ingest(con, [real_data / PRERELEASE], [], on_bad_records="fail")
    assert report.lines_read == 10 and report.rejected == []
    rows = con.execute("SELECT i.parent_asin, i.timestamp, r.helpful_vote, r.verified_purchase "
                       "FROM interactions i JOIN reviews r USING (user_id, parent_asin)").fetchall()
    got = {asin: (as_ms(ts), votes, verified) for asin, ts, votes, verified in rows}
    kept = earliest(raw, "sortTimestamp")
    assert got == {i: (v["sortTimestamp"], v["helpfulVotes"], v["verifiedPurchase"])
                   for (_, i), v in kept.items()}


def test_missing_meta_is_counted(con, real_data, tmp_path):
    meta = read_jsonl(real_data / MAGAZINE_META)
    kept = earliest(read_jsonl(real_data / MAGAZINE))
    reviewed = sorted({i for _, i in kept})
    dropped = set(reviewed[::3])  # a meta file without every third reviewed item
    part = tmp_path / "meta_part.jsonl"
    part.write_text("".join(json.dumps(m) + "\n" for m in meta if m["parent_asin"] not in dropped))
    report = Amazon2023Loader().ingest(con, [real_data / MAGAZINE], [part], on_bad_records="fail")
    expected = sum(1 for (_, i) in kept if i in dropped)
    assert report.reviews_without_meta == expected > 0
    assert f"{expected:,} reviews ({len(dropped):,} items) have no item meta row" in report.notes


def test_shards_give_the_same_tables(con, magazine, real_data, tmp_path):
    lines = gzip.open(real_data / MAGAZINE, "rt", encoding="utf-8").read().splitlines(True)
    first, second = tmp_path / "part-0.jsonl.gz", tmp_path / "part-1.jsonl"
    with gzip.open(first, "wt", encoding="utf-8") as fh:
        fh.writelines(lines[:4_000])
    second.write_text("".join(lines[4_000:]), encoding="utf-8")
    report = Amazon2023Loader().ingest(con, [first, second], [], on_bad_records="fail")
    assert report.lines_read == 10_000 and report.duplicates_dropped == 25
    for table in ("interactions", "reviews"):
        query = f"SELECT * FROM {table} ORDER BY ALL"
        assert con.execute(query).fetchall() == magazine[0].execute(query).fetchall()


def review(user="U1", item="I1", rating=5.0, ts=1_600_000_000_000, **extra) -> str:
    return json.dumps({"rating": rating, "title": "t", "text": "x", "parent_asin": item,
                       "user_id": user, "timestamp": ts, **extra})


def test_duplicates_keep_the_earliest_then_the_first_line(con, tmp_path):
    path = tmp_path / "dups.jsonl"
    path.write_text("\n".join([
        review(rating=1.0, ts=3_000_000_000_000, text="newest"),
        review(rating=2.0, ts=1_000_000_000_000, text="earliest, first"),
        review(rating=3.0, ts=1_000_000_000_000, text="earliest, second"),
        review(user="U2", rating=4.0),
    ]) + "\n")
    report = Amazon2023Loader().ingest(con, [path], [], on_bad_records="fail")
    assert report.duplicates_dropped == 2
    assert con.execute("SELECT user_id, rating FROM interactions ORDER BY 1").fetchall() == [
        ("U1", 2.0), ("U2", 4.0)]
    assert con.execute("SELECT text FROM reviews WHERE user_id = 'U1'").fetchone() == (
        "earliest, first",)


def test_hugging_face_style_meta(con, tmp_path):
    """details as a JSON string, price as "None"/"$12.99"/"1,299.00", lists, repeated rows."""
    reviews = tmp_path / "r.jsonl"
    reviews.write_text(review(item="A") + "\n" + review(item="Z") + "\n")
    meta = tmp_path / "meta.jsonl"
    details = {"Brand": "X", "Best Sellers Rank": {"Electronics": 87106}}
    rows = [
        {"parent_asin": "A", "title": "Tom &amp; Jerry&#39;s", "price": "None",
         "details": json.dumps(details), "categories": ["a", "b"], "features": [],
         "main_category": "Computers", "store": None, "average_rating": 4.5, "rating_number": 10},
        {"parent_asin": "B", "price": "$12.99", "details": details, "categories": [],
         "features": ["f"]},
        {"parent_asin": "C", "price": "1,299.00", "details": "None"},
        {"parent_asin": "D", "price": 7, "details": {}},
        {"parent_asin": "A", "title": "a repeated row: dropped", "price": 1.0},
    ]
    meta.write_text("".join(json.dumps(r) + "\n" for r in rows))
    report = Amazon2023Loader().ingest(con, [reviews], [meta], on_bad_records="fail")
    assert report.items_read == 5
    assert any("1 repeated item meta rows dropped" in note for note in report.notes)
    assert report.reviews_without_meta == 1  # item Z
    got = {r[0]: r[1:] for r in con.execute(
        "SELECT parent_asin, title, price, details, categories, features, main_category, store, "
        "average_rating, rating_number FROM items").fetchall()}
    assert set(got) == {"A", "B", "C", "D"}
    assert got["A"][0] == "Tom & Jerry's" and got["A"][1] is None
    assert json.loads(got["A"][2]) == details and json.loads(got["B"][2]) == details
    assert got["A"][3:] == (["a", "b"], [], "Computers", None, 4.5, 10)
    assert (got["B"][1], got["C"][1], got["D"][1]) == (12.99, 1299.0, 7.0)
    assert got["C"][2] is None and json.loads(got["D"][2]) == {}


def test_strip_html_can_be_turned_off(con, tmp_path):
    path = tmp_path / "r.jsonl"
    path.write_text(review(text="a<br />b &amp; c") + "\n")
    Amazon2023Loader(Amazon2023Config(strip_html=False)).ingest(con, [path], [], on_bad_records="fail")
    assert con.execute("SELECT text FROM reviews").fetchone() == ("a<br />b &amp; c",)
    Amazon2023Loader().ingest(con, [path], [], on_bad_records="fail")
    assert con.execute("SELECT text FROM reviews").fetchone() == ("a\nb & c",)
    with pytest.raises(pydantic.ValidationError):
        Amazon2023Config(strip_html=True, nonsense=1)


def test_table_schemas(con, tmp_path):
    path = tmp_path / "r.jsonl"
    path.write_text(review() + "\n")
    Amazon2023Loader().ingest(con, [path], [], on_bad_records="fail")

    def schema(table):
        return [(name, kind, null) for name, kind, null, *_ in con.execute(f"DESCRIBE {table}").fetchall()]

    assert schema("interactions") == [("user_id", "VARCHAR", "NO"), ("parent_asin", "VARCHAR", "NO"),
                                      ("rating", "DOUBLE", "NO"), ("timestamp", "TIMESTAMP", "NO")]
    assert [c[:2] for c in schema("reviews")] == [
        ("user_id", "VARCHAR"), ("parent_asin", "VARCHAR"), ("title", "VARCHAR"), ("text", "VARCHAR"),
        ("helpful_vote", "INTEGER"), ("verified_purchase", "BOOLEAN")]
    assert [c[:2] for c in schema("items")] == [
        ("parent_asin", "VARCHAR"), ("title", "VARCHAR"), ("main_category", "VARCHAR"),
        ("store", "VARCHAR"), ("price", "DOUBLE"), ("average_rating", "DOUBLE"),
        ("rating_number", "INTEGER"), ("categories", "VARCHAR[]"), ("features", "VARCHAR[]"),
        ("details", "VARCHAR")]
    # nothing of the loader's scratch work is left behind: ``reviews`` is a view over the staged
    # Parquet files (the texts are read at the final write), backed by the table of repeated reviews
    tables = {t for (t,) in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
    views = {v for (v,) in con.execute("SELECT view_name FROM duckdb_views() WHERE NOT internal").fetchall()}
    assert tables == {"interactions", "items", "_deepcart_dups"}
    assert views == {"reviews"}
    assert con.execute("SELECT current_setting('preserve_insertion_order')").fetchone() == (False,)


def test_can_read(real_data, tmp_path):
    loader = Amazon2023Loader()
    assert loader.can_read(real_data / MAGAZINE)
    assert loader.can_read(real_data / ELECTRONICS)
    assert not loader.can_read(real_data / MAGAZINE_META)  # item meta, not reviews
    assert not loader.can_read(real_data / "All_Beauty.5core.rating_only.csv")
    assert not loader.can_read(tmp_path / "missing.jsonl")
    odd = tmp_path / "reviews.jsonl"
    odd.write_bytes(b"\x00\x01binary")
    assert not loader.can_read(odd)


def test_fast_reader_and_line_path_agree(con, real_data, tmp_path, monkeypatch):
    """Good files go through DuckDB's JSON reader; the line path must give the same tables."""
    from deepcart.toolkit import line_staging

    used = []
    original = line_staging.LineStager._fast_insert

    def spy(self, *args):
        result = original(self, *args)
        used.append(result is not None)
        return result

    monkeypatch.setattr(line_staging.LineStager, "_fast_insert", spy)
    files = ([real_data / MAGAZINE], [real_data / MAGAZINE_META])

    def tables():
        return [con.execute(f"SELECT * FROM {t} ORDER BY ALL").fetchall()
                for t in ("interactions", "reviews", "items")]

    loader = Amazon2023Loader()
    fast_report = loader.ingest(con, *files, on_bad_records="fail")
    assert used == [True, True]  # reviews and meta both took the fast reader
    fast = tables()
    monkeypatch.setattr(line_staging.LineStager, "_fast_insert", lambda self, *a: None)
    line_report = loader.ingest(con, *files, on_bad_records="fail")
    assert tables() == fast
    assert fast_report == line_report

    bad = tmp_path / "bad.jsonl"
    bad.write_text(review(rating=0) + "\n")
    used.clear()
    monkeypatch.setattr(line_staging.LineStager, "_fast_insert", spy)
    loader.ingest(con, [bad], [], on_bad_records="skip")
    assert used == [False]  # a bad record sends the file down the line path


def test_registered_as_amazon2023():
    plugins = load_plugins(builtins=tuple(dict.fromkeys(BUILTIN_PLUGINS + LOADERS)),
                           entry_points=False)
    loader = plugins.registry.create("loader", "amazon2023")
    assert isinstance(loader, Amazon2023Loader)
    assert "amazon2023-csv" in plugins.registry.names("loader")


def test_importing_the_module_does_not_import_duckdb():
    import subprocess
    import sys

    code = ("import sys, deepcart.plugins.loaders.amazon2023, deepcart.plugins.loaders.amazon_csv; "
            "print('duckdb' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_parquet_staging_and_table_staging_agree(real_data, tmp_path):
    """With an absolute temp_directory, reviews stage to Parquet and ``reviews`` is a lazy view;
    without one, everything is a table. Both must give the same tables and report."""
    files = ([real_data / MAGAZINE], [real_data / MAGAZINE_META])
    lazy, eager = connect(tmp_path), duckdb.connect()  # eager: DuckDB's default '.tmp'
    try:
        eager.execute("SET threads=2; SET preserve_insertion_order=false")
        reports = [Amazon2023Loader().ingest(db, *files, on_bad_records="fail") for db in (lazy, eager)]
        kinds = [db.execute("SELECT count(*) FROM duckdb_views() WHERE view_name = 'reviews'").fetchone()[0]
                 for db in (lazy, eager)]
        assert kinds == [1, 0]
        assert list((tmp_path / "duckdb_tmp").glob("deepcart-stage-*/0.parquet"))
        for table in ("interactions", "reviews", "items"):
            rows = [db.execute(f"SELECT * FROM {table} ORDER BY ALL").fetchall() for db in (lazy, eager)]
            assert rows[0] == rows[1] and rows[0], table
        assert reports[0] == reports[1]
    finally:
        lazy.close()
        eager.close()


def test_gzip_reviews_stage_on_one_thread(con, real_data, monkeypatch):
    """A gzip stream is decompressed serially: staging runs with threads = 1 (half the memory),
    and the connection's own setting is back for the filters."""
    from deepcart.toolkit import line_staging

    seen = []
    original = line_staging.LineStager._store

    def spy(self, spec, file_no, select):
        seen.append(self.con.execute("SELECT current_setting('threads')").fetchone()[0])
        return original(self, spec, file_no, select)

    monkeypatch.setattr(line_staging.LineStager, "_store", spy)
    Amazon2023Loader().ingest(con, [real_data / MAGAZINE], [real_data / MAGAZINE_META],
                              on_bad_records="fail")
    assert seen and set(seen) == {1}
    assert con.execute("SELECT current_setting('threads')").fetchone() == (2,)

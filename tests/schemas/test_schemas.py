"""The table schemas: valid tables pass; each rule, broken in a small table, fails readably."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from deepcart.errors import DeepcartError
from deepcart.schemas.validate import SchemaValidationError, validate_table

T0 = dt.datetime(2020, 5, 1, 12, 0)


def interactions(n: int = 4, **columns) -> pa.Table:
    """A valid interactions table of ``n`` rows (with the review columns); override any column."""
    data = {
        "user_id": pa.array([f"U{i:03d}" for i in range(n)]),
        "parent_asin": pa.array([f"B{i % 3:09d}" for i in range(n)]),
        "rating": pa.array([float(1 + i % 5) for i in range(n)]),
        "timestamp": pa.array([T0 + dt.timedelta(days=i) for i in range(n)], pa.timestamp("us")),
        "title": pa.array(["Nice"] + [None] * (n - 1), pa.string()),
        "text": pa.array(["Works.<br />Good"] * n),
        "helpful_vote": pa.array([i % 3 for i in range(n)], pa.int32()),
        "verified_purchase": pa.array([i % 2 == 0 for i in range(n)]),
    }
    for name, values in columns.items():
        if values is None:
            del data[name]
        else:
            data[name] = values if isinstance(values, pa.Array) else pa.array(values)
    return pa.table(data)


def items(n: int = 3, **columns) -> pa.Table:
    """A valid items table of ``n`` rows; override any column."""
    data = {
        "parent_asin": pa.array([f"B{i:09d}" for i in range(n)]),
        "title": pa.array([f"Thing {i}" for i in range(n)]),
        "main_category": pa.array(["All Beauty"] * n),
        "store": pa.array([None] * n, pa.string()),
        "price": pa.array([None] + [9.99] * (n - 1), pa.float64()),
        "average_rating": pa.array([4.5] * n),
        "rating_number": pa.array([10] * n, pa.int32()),
        "categories": pa.array([["Beauty", "Hair"]] + [[]] * (n - 1), pa.list_(pa.string())),
        "features": pa.array([None] * n, pa.list_(pa.string())),
        "details": pa.array(['{"UPC": "617390882781", "Rank": {"Beauty": 3}}'] + [None] * (n - 1), pa.string()),
    }
    for name, values in columns.items():
        if values is None:
            del data[name]
        else:
            data[name] = values if isinstance(values, pa.Array) else pa.array(values)
    return pa.table(data)


def replace(values: list, row: int, value):
    out = list(values)
    out[row] = value
    return out


def failure(name: str, table, **kwargs) -> str:
    with pytest.raises(SchemaValidationError) as info:
        validate_table(name, table, **kwargs)
    assert isinstance(info.value, DeepcartError)
    return info.value.message


# -- valid tables pass ----------------------------------------------------------------------------


def test_valid_interactions_pass():
    report = validate_table("interactions", interactions(50))
    assert report.rows == 50 and report.checked == 50
    assert report.summary.startswith("interactions: 50 rows valid")


def test_slim_interactions_without_review_columns_pass():
    slim = interactions(5).select(["user_id", "parent_asin", "rating", "timestamp"])
    assert validate_table("interactions", slim).rows == 5


def test_valid_items_pass_and_an_empty_items_table_passes():
    assert validate_table("items", items(3)).rows == 3
    assert validate_table("items", items(3).slice(0, 0)).rows == 0


def test_reviews_may_repeat_a_pair_and_lack_the_text():
    raw = interactions(4, user_id=["U1"] * 4, parent_asin=["B1"] * 4, title=None, text=None)
    assert validate_table("reviews", raw).rows == 4


def test_a_parquet_file_written_by_duckdb_passes(tmp_path):
    con = duckdb.connect()
    con.execute(
        """CREATE TABLE interactions AS SELECT 'U' || (i // 3) AS user_id, 'B' || (i % 97) AS parent_asin,
                  (1 + i % 5)::DOUBLE AS rating, TIMESTAMP '2015-01-01' + to_seconds(i) AS timestamp,
                  NULL::VARCHAR AS title, NULL::VARCHAR AS text, NULL::INTEGER AS helpful_vote,
                  NULL::BOOLEAN AS verified_purchase FROM range(3000) t(i)"""
    )
    con.execute(f"COPY interactions TO '{tmp_path / 'interactions.parquet'}' (FORMAT parquet)")
    con.execute(
        """CREATE TABLE items (parent_asin VARCHAR, title VARCHAR, main_category VARCHAR, store VARCHAR,
           price DOUBLE, average_rating DOUBLE, rating_number INTEGER, categories VARCHAR[],
           features VARCHAR[], details VARCHAR)"""
    )
    con.execute(f"COPY items TO '{tmp_path / 'items.parquet'}' (FORMAT parquet)")
    con.close()
    report = validate_table("interactions", tmp_path / "interactions.parquet", sample=500, seed=3)
    assert (report.rows, report.checked) == (3000, 500)
    assert validate_table("items", str(tmp_path / "items.parquet")).rows == 0


def test_the_real_benchmark_csv_passes(real_data):
    con = duckdb.connect()
    con.execute(
        f"""CREATE TABLE t AS SELECT user_id, parent_asin, rating::DOUBLE AS rating,
                   make_timestamp(timestamp * 1000) AS timestamp
            FROM read_csv('{real_data / "All_Beauty.5core.rating_only.csv"}', header = true)"""
    )
    table = pa.table(
        {name: [row[i] for row in con.execute("SELECT * FROM t").fetchall()] for i, name in
         enumerate(["user_id", "parent_asin", "rating", "timestamp"])}
    )
    con.close()
    assert validate_table("interactions", table).rows == 2535


# -- each rule, broken ----------------------------------------------------------------------------


BASE = interactions(4)
COL = {name: BASE[name].to_pylist() for name in BASE.column_names}


@pytest.mark.parametrize(
    "table, column, check, shown",
    [
        (interactions(user_id=replace(COL["user_id"], 2, "")), "user_id", "str_length(1, None)", "''"),
        (interactions(user_id=replace(COL["user_id"], 2, None)), "user_id", "not_nullable", "B000000002"),
        (interactions(parent_asin=replace(COL["parent_asin"], 1, None)), "parent_asin", "not_nullable", "U001"),
        (interactions(rating=replace(COL["rating"], 3, 0.0)), "rating", "in_range(1.0, 5.0)", "U003"),
        (interactions(rating=replace(COL["rating"], 3, 5.5)), "rating", "in_range(1.0, 5.0)", "5.5"),
        (interactions(rating=replace(COL["rating"], 0, None)), "rating", "not_nullable", "U000"),
        (
            interactions(timestamp=pa.array(replace(COL["timestamp"], 2, None), pa.timestamp("us"))),
            "timestamp", "not_nullable", "U002",
        ),
        (
            # seconds read as milliseconds land in January 1970
            interactions(timestamp=pa.array(replace(COL["timestamp"], 1, dt.datetime(1970, 1, 19)), pa.timestamp("us"))),
            "timestamp", "in_range(1994-01-01 00:00:00, 2100-01-01 00:00:00)", "1970-01-19",
        ),
        (
            interactions(helpful_vote=pa.array(replace(COL["helpful_vote"], 2, -1), pa.int32())),
            "helpful_vote", "greater_than_or_equal_to(0)", "-1",
        ),
        (
            interactions(user_id=replace(COL["user_id"], 3, "U000"), parent_asin=replace(COL["parent_asin"], 3, "B000000000")),
            "user_id, parent_asin", "multiple_fields_uniqueness (1 key repeated) fails on 2 rows", "U000",
        ),
        (interactions(rating=["5", "4", "3", "2"]), "rating", "dtype('float64')", "found dtype str"),
        (interactions(helpful_vote=["1", "2", "3", "4"]), "helpful_vote", "dtype('Int64')", "found dtype str"),
        (interactions(verified_purchase=[1, 0, 1, 0]), "verified_purchase", "dtype('boolean')", "found dtype Int64"),
        (interactions(rating=None), "rating", "column_in_dataframe", "the column is missing"),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_each_interactions_rule(table, column, check, shown):
    message = failure("interactions", table)
    assert message.startswith("table 'interactions' failed validation: 1 check failed")
    assert f"- {column}: {check}" in message
    assert shown in message


@pytest.mark.parametrize(
    "table, column, check, shown",
    [
        (items(parent_asin=["B1", "B2", "B1"]), "parent_asin", "field_uniqueness (1 key repeated)", "B1"),
        (items(parent_asin=["B1", "", "B3"]), "parent_asin", "str_length(1, None)", "''"),
        (items(price=[1.0, -0.5, None]), "price", "greater_than_or_equal_to(0.0)", "-0.5"),
        (items(average_rating=[4.0, 5.1, 0.0]), "average_rating", "in_range(0.0, 5.0)", "5.1"),
        (items(rating_number=pa.array([3, -3, 0], pa.int32())), "rating_number", "greater_than_or_equal_to(0)", "-3"),
        (items(price=["9.99", "—", None]), "price", "dtype('float64')", "found dtype str"),
        (items(details=['{"a": 1}', "not json", None]), "details", "is_json_object", "not json"),
        (items(details=['["a list"]', None, None]), "details", "is_json_object", "a list"),
        (
            items(categories=pa.array([[3], [1, 2], None], pa.list_(pa.int64()))),
            "categories", "is_string_list", "B000000000",
        ),
        (items(store=None, title=None), "title, store", "column_in_dataframe", "the columns are missing"),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_each_items_rule(table, column, check, shown):
    message = failure("items", table)
    assert f"- {column}: {check}" in message
    assert shown in message


def test_reviews_rules():
    message = failure("reviews", interactions(rating=[5.0, 0.0, 3.0, 2.0]))
    assert "- rating: in_range(1.0, 5.0) fails on 1 row" in message


def test_failing_rows_are_numbered_and_at_most_five_are_shown():
    ratings = [3.0] * 20
    for row in (4, 7, 8, 11, 12, 13, 19):
        ratings[row] = 0.0
    message = failure("interactions", interactions(20, rating=ratings))
    assert "- rating: in_range(1.0, 5.0) fails on 7 rows; first 5:" in message
    lines = message.splitlines()
    table = lines[lines.index(next(line for line in lines if "fails on 7 rows" in line)) + 1 :]
    assert table[0].split() == ["row", "user_id", "parent_asin", "rating"]
    assert [line.split()[0] for line in table[1:]] == ["4", "7", "8", "11", "12"]
    assert "U004" in table[1] and "0.0" in table[1]


def test_every_failing_check_is_reported_at_once():
    bad = interactions(rating=[5.0, 0.0, 3.0, 2.0], helpful_vote=pa.array([0, 0, -4, 0], pa.int32()))
    message = failure("interactions", bad)
    assert message.startswith("table 'interactions' failed validation: 2 checks failed")
    assert "- rating:" in message and "- helpful_vote:" in message


def test_rules_with_sql_equivalents_see_every_row_even_with_a_small_sample():
    ratings = [4.0] * 10_000
    ratings[6_543] = 0.0
    message = failure("interactions", interactions(10_000, rating=ratings), sample=10)
    assert "- rating: in_range(1.0, 5.0) fails on 1 row; first 1:" in message
    assert "6543" in message and "U6543" in message
    assert "the whole schema on a sample of 10 rows (seed 0)" in message


def test_custom_checks_see_the_sample_and_every_row_without_one():
    details = [None] * 1_000
    details[777] = "not json"
    table = items(1_000, details=details)
    assert validate_table("items", table, sample=5).checked == 5  # row 777 was not drawn
    message = failure("items", table, sample=None)
    assert "- details: is_json_object fails on 1 of 1,000 checked rows" in message and "777" in message


def test_the_sample_is_seeded():
    details = [None] * 200
    for row in range(0, 200, 10):
        details[row] = "not json"  # 20 bad rows, of which a sample of 50 sees some
    table = items(200, details=details)

    def outcome(seed: int) -> str:
        return failure("items", table, sample=50, seed=seed)

    assert outcome(1) == outcome(1)
    assert len({outcome(seed).split("fails on ")[1].split(" ")[0] for seed in range(6)}) > 1


def test_unknown_table_and_unreadable_file(tmp_path):
    with pytest.raises(DeepcartError, match="no schema for table 'ratings'; known tables: reviews, interactions, items"):
        validate_table("ratings", interactions())
    (tmp_path / "x.parquet").write_text("not parquet")
    with pytest.raises(DeepcartError, match="cannot read .*x.parquet as Parquet"):
        validate_table("interactions", tmp_path / "x.parquet")


def test_importing_the_schema_modules_does_not_import_pandera():
    code = (
        "import sys, deepcart.schemas.validate, deepcart.schemas.reviews, deepcart.schemas.items, "
        "deepcart.schemas.interactions; "
        "heavy = [m for m in ('pandera', 'pandas', 'duckdb', 'pyarrow') if m in sys.modules]; "
        "assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_pq_round_trip_keeps_the_types(tmp_path):
    """What build.py writes (DuckDB COPY) and pyarrow reads back must satisfy the schema's dtypes."""
    path = tmp_path / "i.parquet"
    pq.write_table(interactions(10), path)
    assert validate_table("interactions", path).rows == 10

"""Parsing: values that mean something else are bad records or no value, never a wrong value.

Each class: ambiguous JSON (a key twice), non-scalar ids, numbers in a syntax other than plain
decimals, prices in another locale, whitespace-only lines, and which bad line is named first.
"""

from __future__ import annotations

import gzip
import json

import pytest

from deepcart.errors import BadInputError
from deepcart.plugins.loaders.amazon2023 import Amazon2023Loader
from deepcart.plugins.loaders.amazon_csv import AmazonCsvLoader
from deepcart.reports import Rejected

TS = 1_600_000_000_000


@pytest.fixture
def con(loader_con):
    return loader_con


def review(n: int, **changes) -> str:
    record = {"rating": 4.0, "title": "ok", "text": "fine", "parent_asin": f"I{n}",
              "user_id": f"U{n}", "timestamp": TS + n, "helpful_vote": 0, "verified_purchase": True}
    record.update(changes)
    return json.dumps(record)


def ingest(con, path, mode, loader=Amazon2023Loader, meta=()):
    return loader().ingest(con, [path], list(meta), on_bad_records=mode)


def assert_bad_line(con, path, line: int, problem: str, *, loader=Amazon2023Loader, kept: int):
    """Fail names ``line`` and ``problem``; skip rejects exactly that line and keeps ``kept``."""
    with pytest.raises(BadInputError) as err:
        ingest(con, path, "fail", loader)
    assert (err.value.line, err.value.problem) == (line, problem)
    report = ingest(con, path, "skip", loader)
    assert [(r.line, r.problem) for r in report.rejected] == [(line, problem)]
    assert con.execute("SELECT count(*) FROM interactions").fetchone() == (kept,)


# -- a key twice ---------------------------------------------------------------------------------

DUPLICATED = {
    # from_json keeps the first value: the rating would silently be 5
    "rating": '{"rating": 5.0, "rating": 1.0, "user_id": "U9", "parent_asin": "I9", '
              '"timestamp": 1600000000009}',
    "user_id": '{"rating": 5.0, "user_id": "U9", "parent_asin": "I9", "user_id": "U10", '
               '"timestamp": 1600000000009}',
}


@pytest.mark.parametrize("key", list(DUPLICATED))
@pytest.mark.parametrize("gz", [False, True])
def test_a_key_given_twice_is_a_bad_record(key, gz, con, tmp_path):
    lines = [review(n) for n in range(4)] + [DUPLICATED[key]] + [review(n) for n in range(5, 8)]
    text = ("\n".join(lines) + "\n").encode()
    path = tmp_path / ("r.jsonl.gz" if gz else "r.jsonl")
    path.write_bytes(gzip.compress(text) if gz else text)
    assert_bad_line(con, path, 5, f"key '{key}' appears more than once", kept=7)


def test_a_key_the_loader_does_not_read_may_repeat(con, tmp_path):
    path = tmp_path / "r.jsonl"
    path.write_text(review(1) + "\n" + review(2)[:-1] + ', "images": [], "images": []}\n')
    assert ingest(con, path, "fail").rejected == []
    assert con.execute("SELECT count(*) FROM interactions").fetchone() == (2,)


def test_a_meta_key_given_twice_is_a_bad_record(con, tmp_path):
    reviews = tmp_path / "r.jsonl"
    reviews.write_text(review(1) + "\n")
    meta = tmp_path / "meta.jsonl"
    meta.write_text('{"parent_asin": "I1", "title": "a"}\n'
                    '{"parent_asin": "I2", "price": 5.0, "price": 50.0}\n')
    with pytest.raises(BadInputError) as err:
        ingest(con, reviews, "fail", meta=[meta])
    assert (err.value.path, err.value.line, err.value.problem) == (
        str(meta), 2, "key 'price' appears more than once")


# -- ids that are no ids, numbers that are no plain decimals -------------------------------------

JSON_VALUES = {
    "user_id an object": (review(9, user_id={"id": "U9"}), "user_id is a list or an object, not an id"),
    "parent_asin a list": (review(9, parent_asin=["I9", "I10"]),
                           "parent_asin is a list or an object, not an id"),
    # DuckDB's cast reads '0_5' as 5 and '1_6' as 16, the way Python's float() does
    "rating with a digit separator": (review(9, rating="0_5"), "rating '0_5' is not a number"),
    "timestamp with digit separators": (review(9, timestamp="1_600_000_000_000"),
                                        "timestamp '1_600_000_000_000' is not a number"),
}


@pytest.mark.parametrize("case", list(JSON_VALUES))
def test_json_values_of_the_wrong_kind(case, con, tmp_path):
    bad, problem = JSON_VALUES[case]
    path = tmp_path / "r.jsonl"
    path.write_text("\n".join([review(1), review(2), bad, review(3)]) + "\n")
    assert_bad_line(con, path, 3, problem, kept=3)


@pytest.mark.parametrize("bad, problem", [
    ("U9,I9,4_5,1600000000000", "rating '4_5' is not a number"),
    ("U9,I9,4.0,1_600_000_000_000", "timestamp '1_600_000_000_000' is not a number"),
])
def test_csv_numbers_with_digit_separators(bad, problem, con, tmp_path):
    path = tmp_path / "r.csv"
    path.write_text(f"U1,I1,4.0,{TS}\n{bad}\nU2,I2,5.0,{TS}\n")
    assert_bad_line(con, path, 2, problem, loader=AmazonCsvLoader, kept=2)


# -- prices --------------------------------------------------------------------------------------


def test_prices_in_another_form_are_no_price_and_are_counted(con, tmp_path):
    reviews = tmp_path / "r.jsonl"
    reviews.write_text(review(1) + "\n")
    prices = {"A": "$1,299.00", "B": "12.99", "C": 7, "D": " $ 1,299 ", "E": "None", "F": "—",
              "G": None, "H": "1.299,00", "I": "12,99", "J": "from $5", "K": -3}
    meta = tmp_path / "meta.jsonl"
    meta.write_text("".join(json.dumps({"parent_asin": k, "price": v}) + "\n"
                            for k, v in prices.items()))
    report = ingest(con, reviews, "fail", meta=[meta])
    got = dict(con.execute("SELECT parent_asin, price FROM items").fetchall())
    assert got == {"A": 1299.0, "B": 12.99, "C": 7.0, "D": 1299.0, "E": None, "F": None,
                   "G": None, "H": None, "I": None, "J": None, "K": None}
    # "None", "—" and null say there is no price; the other four were prices not read
    assert ("4 item prices could not be read (not in the form $1,299.99, e.g. '-3'); "
            "those items have no price") in report.notes


# -- whitespace-only lines and the first bad line ------------------------------------------------


@pytest.mark.parametrize("gz", [False, True])
def test_whitespace_only_lines_are_blank_lines(gz, con, tmp_path):
    lines = [review(n) for n in range(300)]
    lines[23], lines[24], lines[40] = "\t", " \t \f ", "\x0b\r"
    lines[200] = review(200, rating=9)
    text = ("\n".join(lines) + "\n").encode()
    path = tmp_path / ("r.jsonl.gz" if gz else "r.jsonl")
    path.write_bytes(gzip.compress(text) if gz else text)
    assert_bad_line(con, path, 201, "rating 9 is outside [1, 5]", kept=296)
    assert ingest(con, path, "skip").lines_read == 297  # blank lines are no records


def test_csv_whitespace_only_lines_are_blank_lines(con, tmp_path):
    rows = [f"U{n},I{n},4.0,{TS + n}" for n in range(100)]
    rows[10], rows[50] = "\t", "U9,I9,9,1600000000000"
    path = tmp_path / "r.csv"
    path.write_text("\n".join(rows) + "\n")
    assert_bad_line(con, path, 51, "rating 9 is outside [1, 5]", loader=AmazonCsvLoader, kept=98)


@pytest.mark.parametrize("gz", [False, True])
def test_the_first_bad_line_is_the_one_named(gz, con, tmp_path):
    """Bad lines of every kind late in a large file; fail names the earliest, skip lists all."""
    lines = [review(n, text="t" * 200) for n in range(200_000)]
    lines[23] = review(23, rating=0.0)
    lines[77] = '{"rating": 5'
    lines[150_000] = "\x00 binary"
    lines[180_000] = review(1, user_id=None)
    text = ("\n".join(lines) + "\n").encode()
    path = tmp_path / ("r.jsonl.gz" if gz else "r.jsonl")
    path.write_bytes(gzip.compress(text, 1) if gz else text)
    with pytest.raises(BadInputError) as err:
        ingest(con, path, "fail")
    assert (err.value.line, err.value.problem) == (24, "rating 0.0 is outside [1, 5]")
    report = ingest(con, path, "skip")
    assert [r.line for r in report.rejected] == [24, 78, 150_001, 180_001]
    assert report.rejected[0] == Rejected(str(path), 24, "rating 0.0 is outside [1, 5]", lines[23])

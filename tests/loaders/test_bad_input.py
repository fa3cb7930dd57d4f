"""Bad input: a clear error naming file, line and field ("fail"), or the line set aside ("skip")."""

import gzip
import json
import zlib

import pytest

from deepcart.errors import BadInputError
from deepcart.plugins.loaders.amazon2023 import Amazon2023Loader
from deepcart.plugins.loaders.amazon_csv import AmazonCsvLoader
from deepcart.reports import Rejected

TS = 1_600_000_000_000


@pytest.fixture
def con(loader_con):
    return loader_con


def review(n: int, **changes) -> dict:
    record = {"rating": 4.0, "title": "ok", "text": "fine", "images": [], "asin": f"I{n}",
              "parent_asin": f"I{n}", "user_id": f"U{n}", "timestamp": TS + n,
              "helpful_vote": 0, "verified_purchase": True}
    for key, value in changes.items():
        if value is ...:
            del record[key]
        else:
            record[key] = value
    return record


def good_lines(count: int, start: int = 0) -> list[str]:
    return [json.dumps(review(n)) for n in range(start, start + count)]


def write_lines(path, lines: list[str], *, crlf_at: int = 2) -> None:
    """Write lines with a blank line and a CRLF ending early on, so the numbering has to be true."""
    text = ""
    for number, line in enumerate(lines, start=1):
        text += line + ("\r\n" if number == crlf_at else "\n")
    path.write_bytes(text.encode("utf-8"))


# (bad line, the problem the loader must name)
JSON_CASES = {
    "malformed JSON": ('{"rating": 5.0, "user_id": "U9", "parent_asin": ', "not valid JSON"),
    "missing user_id": (json.dumps(review(9, user_id=...)), "missing user_id"),
    "null user_id": (json.dumps(review(9, user_id=None)), "missing user_id"),
    "empty user_id": (json.dumps(review(9, user_id="")), "missing user_id"),
    "missing parent_asin": (json.dumps(review(9, parent_asin=...)), "missing parent_asin"),
    "empty parent_asin": (json.dumps(review(9, parent_asin=" ")), "missing parent_asin"),
    "rating 0.0": (json.dumps(review(9, rating=0.0)), "rating 0.0 is outside [1, 5]"),
    "rating 6": (json.dumps(review(9, rating=6)), "rating 6 is outside [1, 5]"),
    "rating text": (json.dumps(review(9, rating="five")), "rating 'five' is not a number"),
    "missing rating": (json.dumps(review(9, rating=...)), "missing rating"),
    "timestamp text": (json.dumps(review(9, timestamp="abc")), "timestamp 'abc' is not a number"),
    "missing timestamp": (json.dumps(review(9, timestamp=...)), "missing timestamp"),
    "timestamp in seconds": (json.dumps(review(9, timestamp=1_600_000_000)),
                             "timestamp 1600000000 is not a time in Unix milliseconds between "
                             "1990 and 2100 (seconds?)"),
    "not an object": ("[1, 2, 3]", "not a JSON object"),
}


@pytest.mark.parametrize("case", list(JSON_CASES))
def test_json_bad_line_fails_naming_file_line_and_field(case, con, tmp_path):
    bad, problem = JSON_CASES[case]
    path = tmp_path / "reviews.jsonl"
    lines = good_lines(3) + [""] + good_lines(2, start=3) + [bad] + good_lines(3, start=10)
    write_lines(path, lines)  # the bad line is line 7 (a blank line 4, a CRLF on line 2)
    with pytest.raises(BadInputError) as err:
        Amazon2023Loader().ingest(con, [path], [], on_bad_records="fail")
    assert (err.value.path, err.value.line, err.value.problem) == (str(path), 7, problem)
    assert str(err.value.message) == f"{path}, line 7: {problem}"


@pytest.mark.parametrize("case", list(JSON_CASES))
def test_json_bad_line_is_skipped_and_returned(case, con, tmp_path):
    bad, problem = JSON_CASES[case]
    path = tmp_path / "reviews.jsonl.gz"
    lines = good_lines(3) + [""] + good_lines(2, start=3) + [bad] + good_lines(3, start=10)
    with gzip.open(path, "wb") as fh:
        fh.write(("\n".join(lines[:1]) + "\r\n" + "\n".join(lines[1:]) + "\n").encode())
    report = Amazon2023Loader().ingest(con, [path], [], on_bad_records="skip")
    assert report.rejected == [Rejected(str(path), 7, problem, bad)]
    assert report.lines_read == 9  # non-blank lines, the bad one included
    assert con.execute("SELECT count(*) FROM interactions").fetchone() == (8,)
    assert con.execute("SELECT count(*) FROM reviews").fetchone() == (8,)


def test_skip_returns_every_bad_line_with_its_true_number(con, tmp_path):
    path = tmp_path / "reviews.jsonl"
    lines = good_lines(1000)
    lines[9] = "not json at all"
    lines[499] = json.dumps(review(499, rating=0.0))
    lines[997] = "x" * 5_000  # a long bad line: raw text capped
    write_lines(path, lines, crlf_at=5)
    report = Amazon2023Loader().ingest(con, [path], [], on_bad_records="skip")
    assert [(r.line, r.problem) for r in report.rejected] == [
        (10, "not valid JSON"), (500, "rating 0.0 is outside [1, 5]"), (998, "not valid JSON")]
    assert report.rejected[1].raw == lines[499]
    assert report.rejected[2].raw == "x" * 2_000
    assert con.execute("SELECT count(*) FROM interactions").fetchone() == (997,)


def truncated_gzip(tmp_path, lines: list[str]) -> tuple:
    """A gzip file cut in the middle, and the number of complete lines before the cut."""
    data = gzip.compress(("\n".join(lines) + "\n").encode())
    cut = data[: len(data) // 2]
    path = tmp_path / "cut.jsonl.gz"
    path.write_bytes(cut)
    readable = zlib.decompressobj(31).decompress(cut)  # independent count
    return path, readable.count(b"\n")


def test_truncated_gzip_fails(con, tmp_path):
    path, complete = truncated_gzip(tmp_path, good_lines(3_000))
    assert 0 < complete < 3_000
    with pytest.raises(BadInputError) as err:
        Amazon2023Loader().ingest(con, [path], [], on_bad_records="fail")
    assert err.value.line == complete + 1
    assert err.value.problem == f"the gzip stream is truncated (after {complete:,} complete lines)"


def test_truncated_gzip_skip_keeps_the_complete_lines(con, tmp_path):
    path, complete = truncated_gzip(tmp_path, good_lines(3_000))
    report = Amazon2023Loader().ingest(con, [path], [], on_bad_records="skip")
    assert [(r.path, r.line, r.problem) for r in report.rejected] == [
        (str(path), complete + 1, f"the gzip stream is truncated (after {complete:,} complete lines)")]
    assert report.lines_read == complete
    assert con.execute("SELECT count(*) FROM interactions").fetchone() == (complete,)
    assert any("truncated" in note for note in report.notes)


@pytest.mark.parametrize("gzipped", [False, True])
def test_empty_file(gzipped, con, tmp_path):
    empty = tmp_path / ("empty.jsonl.gz" if gzipped else "empty.jsonl")
    if gzipped:
        with gzip.open(empty, "wb"):
            pass
    else:
        empty.write_bytes(b"")
    good = tmp_path / "good.jsonl"
    write_lines(good, good_lines(5))
    with pytest.raises(BadInputError) as err:
        Amazon2023Loader().ingest(con, [good, empty], [], on_bad_records="fail")
    assert (err.value.path, err.value.line, err.value.problem) == (str(empty), None, "the file is empty")
    report = Amazon2023Loader().ingest(con, [good, empty], [], on_bad_records="skip")
    assert report.rejected == [Rejected(str(empty), 0, "the file is empty", "")]
    assert con.execute("SELECT count(*) FROM interactions").fetchone() == (5,)


@pytest.mark.parametrize("mode", ["fail", "skip"])
@pytest.mark.parametrize("content, looks", [
    (b"user_id,parent_asin,rating,timestamp\nU1,I1,5.0,1600000000000\n", "CSV"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00" * 20, "binary"),
    (b'[{"user_id": "U1"},\n{"user_id": "U2"}]\n', "JSON array"),
])
def test_not_json_lines_at_all(mode, content, looks, con, tmp_path):
    path = tmp_path / "reviews.jsonl"
    path.write_bytes(content)
    with pytest.raises(BadInputError) as err:  # the wrong file: an error even in skip mode
        Amazon2023Loader().ingest(con, [path], [], on_bad_records=mode)
    assert err.value.line == 1 and err.value.path == str(path)
    assert err.value.problem.startswith("not valid JSON: this is not a JSON-lines file")
    assert looks in err.value.problem


def test_invalid_utf8_in_the_middle(con, tmp_path):
    path = tmp_path / "reviews.jsonl"
    lines = [line.encode() for line in good_lines(50)]
    lines[19] = b'{"user_id": "U\xff\xfe", "parent_asin": "I", "rating": 5, "timestamp": 1}'
    lines[29] = json.dumps(review(29, rating=0.0)).encode()
    path.write_bytes(b"\n".join(lines) + b"\n")
    with pytest.raises(BadInputError) as err:
        Amazon2023Loader().ingest(con, [path], [], on_bad_records="fail")
    assert (err.value.line, err.value.problem) == (20, "not valid UTF-8 text")
    report = Amazon2023Loader().ingest(con, [path], [], on_bad_records="skip")
    # the reader drops the undecodable line itself; line numbers after it must still be true
    assert [(r.line, r.problem) for r in report.rejected] == [
        (20, "not valid UTF-8 text"), (30, "rating 0.0 is outside [1, 5]")]
    assert report.lines_read == 50
    assert con.execute("SELECT count(*) FROM interactions").fetchone() == (48,)


def test_bad_meta_line(con, tmp_path):
    reviews = tmp_path / "reviews.jsonl"
    write_lines(reviews, good_lines(3))
    meta = tmp_path / "meta.jsonl"
    meta.write_text(json.dumps({"parent_asin": "I0", "title": "a"}) + "\n"
                    + json.dumps({"title": "no asin"}) + "\n"
                    + json.dumps({"parent_asin": "I1", "title": "b"}) + "\n")
    with pytest.raises(BadInputError) as err:
        Amazon2023Loader().ingest(con, [reviews], [meta], on_bad_records="fail")
    assert (err.value.path, err.value.line, err.value.problem) == (str(meta), 2, "missing parent_asin")
    report = Amazon2023Loader().ingest(con, [reviews], [meta], on_bad_records="skip")
    assert [(r.path, r.line) for r in report.rejected] == [(str(meta), 2)]
    assert report.items_read == 2 and report.reviews_without_meta == 1


def test_missing_file(con, tmp_path):
    with pytest.raises(BadInputError) as err:
        Amazon2023Loader().ingest(con, [tmp_path / "nope.jsonl"], [], on_bad_records="skip")
    assert err.value.problem == "the file does not exist"


# -- the CSV loader ---------------------------------------------------------------------------

CSV_CASES = {
    "missing field": ("U9,I9,5.0", "missing field: expected user_id,parent_asin,rating,timestamp, "
                                   "found 3 fields"),
    "non-numeric rating": ("U9,I9,five,1600000000000", "rating 'five' is not a number"),
    "empty rating": ("U9,I9,,1600000000000", "missing rating"),
    "rating 0": ("U9,I9,0.0,1600000000000", "rating 0.0 is outside [1, 5]"),
    "empty user_id": (",I9,5.0,1600000000000", "missing user_id"),
    "timestamp text": ("U9,I9,5.0,abc", "timestamp 'abc' is not a number"),
    "too many fields": ("U9,I9,5.0,1600000000000,h,extra", "too many fields: expected 4 or 5, found 6"),
}


def csv_rows(count: int, start: int = 0) -> list[str]:
    return [f"U{n},I{n},4.0,{TS + n}" for n in range(start, start + count)]


@pytest.mark.parametrize("header", [True, False])
@pytest.mark.parametrize("case", list(CSV_CASES))
def test_csv_bad_row(case, header, con, tmp_path):
    bad, problem = CSV_CASES[case]
    path = tmp_path / "ratings.csv"
    top = ["user_id,parent_asin,rating,timestamp"] if header else []
    lines = top + csv_rows(3) + [bad] + csv_rows(2, start=5)
    write_lines(path, lines)
    line = len(top) + 4
    with pytest.raises(BadInputError) as err:
        AmazonCsvLoader().ingest(con, [path], [], on_bad_records="fail")
    assert (err.value.path, err.value.line, err.value.problem) == (str(path), line, problem)
    report = AmazonCsvLoader().ingest(con, [path], [], on_bad_records="skip")
    assert report.rejected == [Rejected(str(path), line, problem, bad)]
    assert report.lines_read == 6  # data rows: the header is not one
    assert con.execute("SELECT count(*) FROM interactions").fetchone() == (5,)


@pytest.mark.parametrize("mode", ["fail", "skip"])
def test_csv_loader_refuses_other_files(mode, con, tmp_path):
    jsonl = tmp_path / "reviews.csv"
    jsonl.write_text(json.dumps(review(1)) + "\n")
    with pytest.raises(BadInputError) as err:
        AmazonCsvLoader().ingest(con, [jsonl], [], on_bad_records=mode)
    assert err.value.line == 1 and "looks like JSON" in err.value.problem
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    if mode == "fail":
        with pytest.raises(BadInputError, match="the file is empty"):
            AmazonCsvLoader().ingest(con, [empty], [], on_bad_records=mode)
    else:
        report = AmazonCsvLoader().ingest(con, [empty], [], on_bad_records=mode)
        assert report.rejected == [Rejected(str(empty), 0, "the file is empty", "")]
        assert con.execute("SELECT count(*) FROM interactions").fetchone() == (0,)


def test_csv_truncated_gzip(con, tmp_path):
    data = gzip.compress(("\n".join(csv_rows(5_000)) + "\n").encode())
    path = tmp_path / "ratings.csv.gz"
    path.write_bytes(data[: len(data) // 2])
    complete = zlib.decompressobj(31).decompress(data[: len(data) // 2]).count(b"\n")
    with pytest.raises(BadInputError) as err:
        AmazonCsvLoader().ingest(con, [path], [], on_bad_records="fail")
    assert err.value.line == complete + 1 and "truncated" in err.value.problem
    report = AmazonCsvLoader().ingest(con, [path], [], on_bad_records="skip")
    assert con.execute("SELECT count(*) FROM interactions").fetchone() == (complete,)
    assert [r.line for r in report.rejected] == [complete + 1]


@pytest.mark.parametrize("mode", ["fail", "skip"])
def test_files_swapped(mode, con, tmp_path):
    """A meta file given as reviews (or the reverse) is one clear error, not a reject per line."""
    reviews = tmp_path / "reviews.jsonl"
    write_lines(reviews, good_lines(3))
    meta = tmp_path / "meta.jsonl"
    meta.write_text("".join(json.dumps({"main_category": "X", "title": "t", "rating_number": 3,
                                        "parent_asin": f"I{n}"}) + "\n" for n in range(3)))
    with pytest.raises(BadInputError) as err:
        Amazon2023Loader().ingest(con, [meta], [], on_bad_records=mode)
    assert err.value.path == str(meta) and err.value.line == 1
    assert err.value.problem.startswith("missing user_id: this looks like an item meta file")
    with pytest.raises(BadInputError) as err:
        Amazon2023Loader().ingest(con, [reviews], [reviews], on_bad_records=mode)
    assert "looks like a review file" in err.value.problem


def test_rejects_kept_are_capped(con, tmp_path, monkeypatch):
    from deepcart.toolkit import line_staging

    monkeypatch.setattr(line_staging, "MAX_REJECTS_KEPT", 5)
    path = tmp_path / "reviews.jsonl"
    write_lines(path, good_lines(2) + [json.dumps(review(n, rating=0)) for n in range(2, 22)])
    report = Amazon2023Loader().ingest(con, [path], [], on_bad_records="skip")
    assert [r.line for r in report.rejected] == [3, 4, 5, 6, 7]
    assert "15 more rejected lines were not listed (only the first 5 are kept)" in report.notes
    assert con.execute("SELECT count(*) FROM interactions").fetchone() == (2,)

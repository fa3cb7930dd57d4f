"""A hostile-file corpus through every loader: a bad record is named or rejected, never a crash.

The corpus is generated here (nothing binary is committed): review JSONL, item meta JSONL and
benchmark CSV files, each with one hostile line among good ones (broken encodings, NUL bytes,
deep nesting, numbers beyond double, ids of every wrong type, lines that are not objects...) or
hostile as a whole (random bytes, gzip that is not, a gzip bomb of blank lines).

Two checks:

* **Its own loader**, both modes: ``--on-bad-records fail`` names the hostile line (file, line and
  the expected problem); ``skip`` rejects exactly that line and keeps every good one. A whole-file
  case is refused in both modes with a message naming the file.
* **Every installed loader** (the contrib ``amazon-legacy`` too, when installed), on every corpus
  file, both modes: the only possible outcomes are a report or a ``DeepcartError`` naming the file;
  what a report keeps obeys the table contract (ids non-empty text, ratings in [1, 5], real
  timestamps) and never holds a hostile record.

One corpus file goes through ``deepcart build`` end to end as well (skip mode), so that the schema
validation after the loader sees the same values.
"""

from __future__ import annotations

import gzip
import json
import random
from dataclasses import dataclass
from pathlib import Path

import pytest

from deepcart.errors import BadInputError, DeepcartError

TS = 1_600_000_000_000
GOOD = 6  # good lines per file; the hostile one is line HOSTILE_LINE
HOSTILE_LINE = 4
MARK = "HOSTILE"  # in the ids of every hostile record, so that the tables can be searched for it


def review(n: int, **changes) -> dict:
    record = {"rating": 4.0, "title": "ok", "text": "fine", "parent_asin": f"I{n}", "user_id": f"U{n}",
              "timestamp": TS + n, "helpful_vote": 0, "verified_purchase": True}
    record.update(changes)
    return record


def hostile(**changes) -> bytes:
    return json.dumps(review(0, user_id=f"{MARK}-user", parent_asin=f"{MARK}-item") | changes).encode()


def raw_hostile(fields: str) -> bytes:
    """A hostile review written by hand (``fields`` is spliced into an object with good ids)."""
    return (f'{{"user_id": "{MARK}-user", "parent_asin": "{MARK}-item", "timestamp": {TS}, ' + fields
            + "}").encode()


@dataclass(frozen=True)
class Case:
    """One corpus file: its kind (``reviews``, ``meta`` or ``csv``), its hostile line and what its own
    loader must say about it (a substring of the problem)."""

    name: str
    kind: str
    line: bytes | None  # None: the whole file is hostile (``whole`` builds it)
    problem: str | None  # None: a value that is no problem, kept (as its text, or as no value)
    whole: bytes | None = None
    suffix: str = ""


REVIEW_CASES = [
    Case("invalid utf-8", "reviews", b'{"user_id": "' + MARK.encode() + b'\xff\xfe", "parent_asin": "I0", '
         b'"rating": 5, "timestamp": 1600000000000}', "UTF-8"),
    Case("raw nul byte", "reviews", hostile(title="a\x00b").replace(b"\\u0000", b"\x00"), "not valid JSON"),
    Case("escaped nul in id", "reviews", hostile(user_id=MARK + "\x00"), "user_id contains a control character"),
    Case("terminal escape in id", "reviews", hostile(parent_asin=MARK + "\x1b[2J"),
         "parent_asin contains a control character"),
    Case("tab in id", "reviews", hostile(user_id=MARK + "\tx"), "user_id contains a control character"),
    Case("lone surrogate id", "reviews", raw_hostile('"rating": 5, "title": "\\ud800"').replace(
        f'"{MARK}-user"'.encode(), f'"{MARK}\\udc00"'.encode()), "not valid JSON"),
    Case("deep nesting", "reviews", raw_hostile('"rating": 5, "x": ' + "[" * 100_000 + "]" * 100_000), None),  # unread: kept
    Case("rating beyond double", "reviews", raw_hostile('"rating": 1e400'), "rating"),
    Case("rating NaN", "reviews", raw_hostile('"rating": NaN'), ""),
    Case("rating Infinity", "reviews", raw_hostile('"rating": Infinity'), ""),
    Case("rating a word", "reviews", hostile(rating="five"), "rating 'five' is not a number"),
    Case("rating true", "reviews", hostile(rating=True), "rating"),
    Case("rating 6", "reviews", hostile(rating=6), "outside [1, 5]"),
    Case("rating 0", "reviews", hostile(rating=0), "outside [1, 5]"),
    Case("rating a list", "reviews", hostile(rating=[5]), "rating"),
    Case("timestamp beyond int64", "reviews", raw_hostile('"rating": 5').replace(
        str(TS).encode(), b"99999999999999999999999"), "timestamp"),
    Case("timestamp negative", "reviews", hostile(timestamp=-1), "timestamp"),
    Case("timestamp a date", "reviews", hostile(timestamp="2020-01-01"), "timestamp"),
    Case("user_id null", "reviews", hostile(user_id=None), "missing user_id"),
    Case("user_id empty", "reviews", hostile(user_id=""), "missing user_id"),
    Case("user_id blank", "reviews", hostile(user_id="  \t"), "missing user_id"),
    Case("user_id an object", "reviews", hostile(user_id={"id": MARK}), "user_id is a list or an object"),
    Case("user_id a number", "reviews", hostile(user_id=12345.5), None),  # kept: its text is the id
    Case("parent_asin a list", "reviews", hostile(parent_asin=[MARK]), "parent_asin is a list or an object"),
    Case("array line", "reviews", b'["' + MARK.encode() + b'", "I0", 5, 1600000000000]', ""),
    Case("number line", "reviews", b"42", ""),
    Case("string line", "reviews", b'"' + MARK.encode() + b'"', ""),
    Case("null line", "reviews", b"null", ""),
    Case("truncated object", "reviews", hostile()[:-20], ""),
    Case("trailing garbage", "reviews", hostile() + b" xyz", ""),
    Case("two objects", "reviews", hostile() + hostile(), ""),
    Case("byte order mark mid-file", "reviews", b"\xef\xbb\xbf" + hostile(user_id=None), "not valid JSON"),
    Case("key twice", "reviews", raw_hostile('"rating": 5, "rating": 1'), "appears more than once"),
]

META_CASES = [
    Case("meta invalid utf-8", "meta", b'{"parent_asin": "I1", "title": "\xff' + MARK.encode() + b'"}', "UTF-8"),
    Case("meta nul byte", "meta", b'{"parent_asin": "I1", "title": "a\x00' + MARK.encode() + b'"}', "not valid JSON"),
    Case("meta id missing", "meta", json.dumps({"title": MARK}).encode(), "parent_asin"),
    Case("meta id an object", "meta", json.dumps({"parent_asin": {"x": MARK}}).encode(), "parent_asin"),
    Case("meta array line", "meta", json.dumps([MARK]).encode(), ""),
    Case("meta deep nesting", "meta", b'{"parent_asin": "I9", "details": ' + b'{"a":' * 50_000 + b"1"
         + b"}" * 50_000 + b"}", None),  # kept, its details as read
    Case("meta rating beyond double", "meta", b'{"parent_asin": "I7", "average_rating": 1e400}', None),  # kept, no mean stars
    Case("meta stars 7", "meta", b'{"parent_asin": "I8", "average_rating": 7, "rating_number": -3}', None),
    Case("meta control character in id", "meta", json.dumps({"parent_asin": MARK + "\x07"}).encode(),
         "parent_asin contains a control character"),
    Case("meta key twice", "meta", b'{"parent_asin": "I1", "parent_asin": "' + MARK.encode() + b'"}',
         "appears more than once"),
    Case("meta truncated", "meta", b'{"parent_asin": "I1", "title": "' + MARK.encode(), ""),
]

CSV_CASES = [
    Case("csv unbalanced quote", "csv", f'"{MARK}-user,I0,5.0,{TS}'.encode(), "quoted on one side"),
    Case("csv too many fields", "csv", f"{MARK}-user,I0,5.0,{TS},h,extra".encode(), ""),
    Case("csv too few fields", "csv", f"{MARK}-user,I0,5.0".encode(), ""),
    Case("csv rating a word", "csv", f"{MARK}-user,I0,five,{TS}".encode(), "rating"),
    Case("csv rating 1_0", "csv", f"{MARK}-user,I0,1_0,{TS}".encode(), "rating"),
    Case("csv timestamp huge", "csv", f"{MARK}-user,I0,5.0,99999999999999999999999".encode(), "timestamp"),
    Case("csv empty user", "csv", f",{MARK}-item,5.0,{TS}".encode(), "missing user_id"),
    Case("csv invalid utf-8", "csv", f"{MARK}\xff-user,I0,5.0,{TS}".encode("latin-1"), "UTF-8"),
    Case("csv nul byte", "csv", f"{MARK}\x00-user,I0,5.0,{TS}".encode(), "control character"),
]


def random_bytes(size: int, seed: int = 7) -> bytes:
    return random.Random(seed).randbytes(size)


WHOLE_CASES = [
    Case("random bytes", "reviews", None, "", whole=random_bytes(64 * 1024), suffix=".jsonl"),
    Case("random bytes .gz", "reviews", None, "", whole=random_bytes(64 * 1024), suffix=".jsonl.gz"),
    Case("gzip bomb of blank lines", "reviews", None, "", whole=gzip.compress(b"\n" * (64 << 20)),
         suffix=".jsonl.gz"),
    Case("csv random bytes", "csv", None, "", whole=random_bytes(64 * 1024, seed=8), suffix=".csv"),
    Case("csv only a header", "csv", None, "", whole=b"user_id,parent_asin,rating,timestamp\n", suffix=".csv"),
    Case("empty .gz", "reviews", None, "", whole=gzip.compress(b""), suffix=".jsonl.gz"),
]


def good_line(kind: str, n: int) -> bytes:
    if kind == "reviews":
        return json.dumps(review(n)).encode()
    if kind == "meta":
        return json.dumps({"parent_asin": f"I{n}", "title": f"item {n}", "price": 9.99}).encode()
    return f"U{n},I{n},4.0,{TS + n}".encode()


def write_case(case: Case, folder: Path) -> Path:
    """The corpus file of ``case`` in ``folder`` (a reviews, meta or CSV file)."""
    folder.mkdir(parents=True, exist_ok=True)
    name = "".join(c if c.isalnum() else "_" for c in case.name)
    if case.whole is not None:
        path = folder / (name + case.suffix)
        path.write_bytes(case.whole)
        return path
    lines = [good_line(case.kind, n) for n in range(1, GOOD + 1)]
    lines.insert(HOSTILE_LINE - 1, case.line)
    if case.kind == "csv":
        lines.insert(0, b"user_id,parent_asin,rating,timestamp")
    suffix = {"reviews": ".jsonl", "meta": ".jsonl", "csv": ".csv"}[case.kind]
    prefix = "meta_" if case.kind == "meta" else ""
    path = folder / (prefix + name + suffix)
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


def good_reviews(folder: Path) -> Path:
    path = folder / "good.jsonl"
    path.write_bytes(b"\n".join(good_line("reviews", n) for n in range(1, GOOD + 1)) + b"\n")
    return path


def hostile_line_number(case: Case) -> int:
    return HOSTILE_LINE + (1 if case.kind == "csv" else 0)  # the CSV header is line 1


@pytest.fixture(scope="module")
def registry():
    from deepcart.plugin_manager import load_plugins

    return load_plugins(strict=False, only=None).registry


@pytest.fixture
def con(loader_con):
    return loader_con


def own_loader(registry, case: Case):
    name = "amazon2023-csv" if case.kind == "csv" else "amazon2023"
    return registry.create("loader", name, {})


def ingest(loader, con, case: Case, path: Path, mode: str):
    if case.kind == "meta":
        return loader.ingest(con, [good_reviews(path.parent)], [path], on_bad_records=mode)
    return loader.ingest(con, [path], [], on_bad_records=mode)


def assert_contract(con, hostile_kept: bool = False) -> None:
    """What a loader kept obeys the table contract (and holds no hostile record unless one was a
    value that is no problem, ``hostile_kept``)."""
    bad = con.execute(f"""
        SELECT count(*) FILTER (WHERE user_id IS NULL OR trim(user_id) = '' OR parent_asin IS NULL
                                   OR trim(parent_asin) = ''
                                   OR regexp_matches(user_id || parent_asin, '[\\x00-\\x1f\\x7f]')),
               count(*) FILTER (WHERE rating IS NULL OR NOT (rating BETWEEN 1 AND 5) OR isnan(rating)),
               count(*) FILTER (WHERE timestamp IS NULL OR year(timestamp) NOT BETWEEN 1990 AND 2100),
               count(*) FILTER (WHERE contains(user_id, '{MARK}') OR contains(parent_asin, '{MARK}'))
        FROM interactions""").fetchone()
    assert bad[:3] == (0, 0, 0), "missing or control-character ids, bad ratings, bad timestamps"
    assert hostile_kept or bad[3] == 0, "a hostile record was kept"
    items = con.execute(f"""
        SELECT count(*) FILTER (WHERE contains(parent_asin, '{MARK}')),
               count(*) FILTER (WHERE NOT (average_rating BETWEEN 0 AND 5) OR rating_number < 0
                                   OR NOT isfinite(price) OR price < 0)
        FROM items""").fetchone()
    assert items == (0, 0), "hostile items, impossible stars, counts or prices"


LINE_CASES = REVIEW_CASES + META_CASES + CSV_CASES


@pytest.mark.parametrize("case", LINE_CASES, ids=[c.name for c in LINE_CASES])
def test_its_own_loader_names_or_rejects_the_hostile_line(case, registry, con, tmp_path):
    path = write_case(case, tmp_path / "in")
    loader = own_loader(registry, case)
    table = "items" if case.kind == "meta" else "interactions"
    if case.problem is None:  # no problem: both modes keep every line
        for mode in ("fail", "skip"):
            assert ingest(loader, con, case, path, mode).rejected == []
            assert con.execute(f"SELECT count(*) FROM {table}").fetchone()[0] == GOOD + 1
            assert_contract(con, hostile_kept=True)
        return
    with pytest.raises(BadInputError) as err:
        ingest(loader, con, case, path, "fail")
    assert (err.value.path, err.value.line) == (str(path), hostile_line_number(case)), err.value.message
    assert case.problem in err.value.problem
    report = ingest(loader, con, case, path, "skip")
    assert [(r.path, r.line) for r in report.rejected] == [(str(path), hostile_line_number(case))]
    assert case.problem in report.rejected[0].problem
    assert con.execute(f"SELECT count(*) FROM {table}").fetchone()[0] == GOOD
    assert_contract(con)


@pytest.mark.parametrize("mode", ["fail", "skip"])
@pytest.mark.parametrize("case", WHOLE_CASES, ids=[c.name for c in WHOLE_CASES])
def test_a_hostile_file_is_refused_naming_it(case, mode, tmp_path):
    """``deepcart build`` on the file: a clear error naming it (exit 1, no traceback), no tag left."""
    path = write_case(case, tmp_path / "in")
    result = build(tmp_path / "data", path, mode, csv=case.kind == "csv")
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit), result.exception  # a handled error, no traceback
    assert path.name in result.output and "Traceback" not in result.output
    assert not (tmp_path / "data" / "hostile").exists()


def test_gzip_is_read_whatever_the_name_says(tmp_path):
    """A gzip file named ``.jsonl`` (or a plain one named ``.gz``) is read by what it holds."""
    lines = b"\n".join(good_line("reviews", n) for n in range(1, 10)) + b"\n"
    for name, data in (("r.jsonl", gzip.compress(lines)), ("r.jsonl.gz", lines)):
        path = tmp_path / name
        path.write_bytes(data)
        result = build(tmp_path / name.replace(".", "_"), path, "fail")
        assert result.exit_code == 0, result.output


def build(data_dir: Path, reviews: Path, mode: str, csv: bool = False):
    from click.testing import CliRunner

    from deepcart.cli import cli

    args = ["build", "--data-dir", str(data_dir), "--tag", "hostile", "--reviews-file", str(reviews),
            "--on-bad-records", mode, "--min-interactions", "1", "--min-ratings", "1", "-q"]
    if csv:
        args += ["--loader", "amazon2023-csv"]
    return CliRunner().invoke(cli, args, env={"DEEPCART_LOAD_PLUGINS": ""})


ALL_CASES = LINE_CASES + WHOLE_CASES


@pytest.mark.parametrize("mode", ["fail", "skip"])
def test_every_loader_on_every_corpus_file_reports_or_refuses(mode, registry, tmp_path):
    """The cross product: every installed loader on every corpus file (reviews, meta or CSV)."""
    import duckdb

    failures = []
    for loader_name in registry.names("loader"):
        for case in ALL_CASES:
            path = write_case(case, tmp_path / "in")
            con = duckdb.connect()
            con.execute("SET threads=2; SET memory_limit='1GB'")
            try:
                ingest(registry.create("loader", loader_name, {}), con, case, path, mode)
                assert_contract(con, hostile_kept=case.problem is None)
            except DeepcartError as exc:
                if str(path) not in exc.message and str(path.parent / "good.jsonl") not in exc.message:
                    failures.append(f"{loader_name} / {case.name}: the error does not name the file: {exc.message}")
            except Exception as exc:  # noqa: BLE001 - anything else is the failure this test looks for
                failures.append(f"{loader_name} / {case.name}: {type(exc).__name__}: {str(exc)[:300]}")
            finally:
                con.close()
    assert not failures, "\n".join(failures)


def test_a_corpus_file_through_the_whole_build(tmp_path):
    """Every hostile review line in one file, ``deepcart build --on-bad-records skip``: the good lines
    (and the values that are no problem) become the tag, each hostile line is in ``rejects.jsonl``."""
    lines = [good_line("reviews", n) for n in range(1, 40)] + [c.line for c in REVIEW_CASES]
    path = tmp_path / "all.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    result = build(tmp_path / "data", path, "skip")
    assert result.exit_code == 0, result.output
    tag = tmp_path / "data" / "hostile"
    rejects = [json.loads(line) for line in (tag / "rejects.jsonl").read_text().splitlines()]
    bad = [40 + i for i, c in enumerate(REVIEW_CASES) if c.problem is not None]
    assert sorted(r["line"] for r in rejects) == bad
    manifest = json.loads((tag / "manifest.json").read_text())
    assert manifest["counts"]["ratings"] == 39 + len(REVIEW_CASES) - len(bad)


@pytest.mark.parametrize("case", REVIEW_CASES, ids=[c.name for c in REVIEW_CASES])
def test_a_ratings_file_for_recommend_names_the_hostile_line(case, tmp_path):
    """``deepcart recommend --ratings FILE`` reads the same format by the same rules: the hostile line
    is named, or (a value that is no problem to it) read; never a traceback."""
    from deepcart.plugins.commands.model_commands import read_ratings_file

    path = write_case(case, tmp_path)
    try:
        pairs = read_ratings_file(path)
    except BadInputError as exc:
        assert (exc.path, exc.line) == (str(path), HOSTILE_LINE)
    else:
        # only the fields it reads matter to it: a bad user_id or timestamp is no problem there
        assert len(pairs) == GOOD + 1 and all(1 <= stars <= 5 for _, stars in pairs)
        assert all(asin.isprintable() for asin, _ in pairs)


def test_a_ratings_file_refuses_true_as_a_rating(tmp_path):
    """``true`` is a Python int: it used to be read as 1 star."""
    from deepcart.plugins.commands.model_commands import read_ratings_file

    path = tmp_path / "mine.jsonl"
    path.write_text('{"parent_asin": "I1", "rating": true}\n')
    with pytest.raises(BadInputError, match="rating True is not a number"):
        read_ratings_file(path)


def test_texts_from_the_data_cannot_drive_the_terminal():
    """A title, a store or a review holding terminal escapes is printed without them."""
    from deepcart.pipeline.picks import Pick, render_picks

    pick = Pick(rank=1, parent_asin="B0\x1b]0;pwned\x07X", title="Cable\x1b[2J\x1b[H", store="Shop\x9b31m",
                price=9.99, predicted=1.5, mean_rating=2.0, n_ratings=40, review_rating=1.0,
                review_title="bad\r\x1b[1A", review_excerpt="broke \x1b[31mfast", review_helpful_votes=3)
    text = render_picks([pick], "worst")
    assert not any(ord(c) < 32 and c != "\n" or 127 <= ord(c) <= 159 for c in text), repr(text)
    assert "Cable" in text and "broke [31mfast" in text

"""Every line size gets the same behaviour: within the limit it is read, over it a bad record.

DuckDB's readers disagree (its JSON reader took 17-31 MiB lines that its line reader refused, and
past 32 MiB the line reader stopped with "not implemented"); the limit is deepcart's own. The
sizes below straddle each of DuckDB's thresholds, for a small limit (fast) and for the default.
"""

from __future__ import annotations

import gzip
import json

import pytest
from click.testing import CliRunner

from deepcart.cli import cli
from deepcart.errors import BadInputError
from deepcart.plugins.loaders.amazon2023 import Amazon2023Loader
from deepcart.plugins.loaders.amazon_csv import AmazonCsvLoader
from deepcart.toolkit import line_staging

TS = 1_600_000_000_000
LIMIT = 64 * 2**10


def review(n: int, size: int | None = None) -> bytes:
    """A review line; with ``size``, exactly that many bytes long (the text fills it)."""
    record = {"rating": 4.0, "user_id": f"U{n}", "parent_asin": f"I{n}", "timestamp": TS + n,
              "text": ""}
    line = json.dumps(record).encode()
    if size is not None:
        record["text"] = "x" * (size - len(line))
        line = json.dumps(record).encode()
        assert len(line) == size
    return line


def write(path, lines: list[bytes], gz: bool, crlf: bool = False):
    data = (b"\r\n" if crlf else b"\n").join(lines) + b"\n"
    path.write_bytes(gzip.compress(data, 1) if gz else data)
    return path


def problem(size: int, limit: int = LIMIT) -> str:
    return (f"the line is {line_staging.size_text(size)}, longer than the "
            f"{line_staging.size_text(limit)} limit (deepcart build --max-line-size raises it)")


# limit: read; just over: ours to refuse (DuckDB would take it); twice: DuckDB's line reader
# refuses it; three times: past DuckDB's buffer ("not implemented" before)
SIZES = [LIMIT - 1, LIMIT, LIMIT + 1, LIMIT + 3000, 2 * LIMIT + 10_000, 3 * LIMIT]


@pytest.mark.parametrize("crlf", [False, True])
@pytest.mark.parametrize("gz", [False, True])
@pytest.mark.parametrize("size", SIZES)
def test_each_size_is_read_or_refused_by_the_limit_alone(size, gz, crlf, loader_con, tmp_path):
    line_staging.set_line_limit(loader_con, LIMIT)
    lines = [review(n) for n in range(6)] + [review(6, size)] + [review(n) for n in range(7, 10)]
    path = write(tmp_path / ("r.jsonl.gz" if gz else "r.jsonl"), lines, gz, crlf)
    if size <= LIMIT:
        report = Amazon2023Loader().ingest(loader_con, [path], [], on_bad_records="fail")
        assert report.lines_read == 10 and report.rejected == []
        return
    with pytest.raises(BadInputError) as err:
        Amazon2023Loader().ingest(loader_con, [path], [], on_bad_records="fail")
    assert (err.value.path, err.value.line, err.value.problem) == (str(path), 7, problem(size))
    report = Amazon2023Loader().ingest(loader_con, [path], [], on_bad_records="skip")
    assert [(r.line, r.problem) for r in report.rejected] == [(7, problem(size))]
    assert report.rejected[0].raw.startswith('{"rating": 4.0, "user_id": "U6"')
    assert report.lines_read == 10
    got = loader_con.execute("SELECT user_id FROM interactions ORDER BY timestamp").fetchall()
    assert [u for (u,) in got] == [f"U{n}" for n in range(10) if n != 6]


@pytest.mark.parametrize("mib", [17, 33])
def test_the_sizes_of_the_report_at_the_default_limit(mib, loader_con, tmp_path):
    """17 MiB was read by one reader and refused by the other; 33 MiB was a DuckDB traceback."""
    size = mib * 2**20
    path = write(tmp_path / "r.jsonl", [review(0), review(1, size), review(2)], gz=False)
    with pytest.raises(BadInputError) as err:
        Amazon2023Loader().ingest(loader_con, [path], [], on_bad_records="fail")
    assert (err.value.line, err.value.problem) == (2, problem(size, line_staging.MAX_LINE_BYTES))
    report = Amazon2023Loader().ingest(loader_con, [path], [], on_bad_records="skip")
    assert [r.line for r in report.rejected] == [2]
    assert loader_con.execute("SELECT count(*) FROM interactions").fetchone() == (2,)


def test_an_earlier_bad_line_is_named_before_a_long_one(loader_con, tmp_path):
    line_staging.set_line_limit(loader_con, LIMIT)
    bad = json.dumps({"rating": 9, "user_id": "U", "parent_asin": "I", "timestamp": TS}).encode()
    lines = [review(0), bad, review(2), review(3, 4 * LIMIT), review(4, 2 * LIMIT)]
    path = write(tmp_path / "r.jsonl", lines, gz=False)
    with pytest.raises(BadInputError) as err:
        Amazon2023Loader().ingest(loader_con, [path], [], on_bad_records="fail")
    assert (err.value.line, err.value.problem) == (2, "rating 9 is outside [1, 5]")
    report = Amazon2023Loader().ingest(loader_con, [path], [], on_bad_records="skip")
    assert [(r.line, r.problem) for r in report.rejected] == [
        (2, "rating 9 is outside [1, 5]"), (4, problem(4 * LIMIT)), (5, problem(2 * LIMIT))]


def test_csv_and_meta_lines_have_the_same_limit(loader_con, tmp_path):
    line_staging.set_line_limit(loader_con, LIMIT)
    rows = [f"U{n},I{n},4.0,{TS + n}".encode() for n in range(4)]
    rows[2] = b"U2,I" + b"9" * (2 * LIMIT) + f",4.0,{TS}".encode()
    csv = write(tmp_path / "r.csv", rows, gz=False)
    with pytest.raises(BadInputError) as err:
        AmazonCsvLoader().ingest(loader_con, [csv], [], on_bad_records="fail")
    assert err.value.line == 3 and err.value.problem == problem(len(rows[2]))

    reviews = write(tmp_path / "r.jsonl", [review(0)], gz=False)
    meta = [json.dumps({"parent_asin": "I0", "title": "t"}).encode(),
            json.dumps({"parent_asin": "I1", "features": ["f" * 3 * LIMIT]}).encode()]
    meta_path = write(tmp_path / "meta.jsonl", meta, gz=True)
    with pytest.raises(BadInputError) as err:
        Amazon2023Loader().ingest(loader_con, [reviews], [meta_path], on_bad_records="fail")
    assert (err.value.path, err.value.line) == (str(meta_path), 2)
    assert err.value.problem == problem(len(meta[1]))


def test_build_option_sets_the_limit_and_the_manifest_keeps_it(tmp_path):
    path = write(tmp_path / "r.jsonl", [review(0), review(1, 3000), review(2)], gz=False)
    env = {"DEEPCART_LOAD_PLUGINS": ""}
    base = ["build", "--reviews-file", str(path), "--data-dir", str(tmp_path / "data"), "-q"]
    refused = CliRunner().invoke(cli, [*base, "--max-line-size", "2KiB"], env=env)
    assert refused.exit_code == 1
    assert "line 2: the line is 2.9 KiB, longer than the 2 KiB limit" in refused.output
    read = CliRunner().invoke(cli, [*base, "--max-line-size", "4KiB"], env=env)
    assert read.exit_code == 0, read.output
    manifest = json.loads((tmp_path / "data" / "r" / "manifest.json").read_text())
    assert manifest["loader"]["max_line_bytes"] == 4096
    for bad, why in [("lots", "expected a number and a unit"), ("10", "must be between 1,024")]:
        result = CliRunner().invoke(cli, [*base, "--max-line-size", bad, "--tag", "x"], env=env)
        assert result.exit_code != 0 and why in result.output

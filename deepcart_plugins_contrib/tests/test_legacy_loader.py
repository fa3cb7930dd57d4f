"""The ``amazon-legacy`` loader: era detection, the real 2014/2018 samples, bad input, the tables."""

import gzip
from pathlib import Path

import pytest

from deepcart.errors import BadInputError
from deepcart_plugins_contrib.legacy_loader import AmazonLegacyLoader, LegacyConfig, detect

ROWS_2014 = [  # user, item, rating, seconds
    ("A2CX7LUOHB2NDG", "0321732944", "5.0", "1341100800"),
    ("AKM1MP6P0OYPR", "B00004TRD9", "4.0", "1365811200"),
    ("A2NWSAGRHCP8N5", "B00004TRD9", "1.0", "1367193600"),
    ("AKM1MP6P0OYPR", "B00004TRD9", "2.0", "1265811200"),  # repeated pair, earlier: kept
]


def write(path: Path, rows, header=None, gz=False) -> Path:
    text = "".join(",".join(r) + "\n" for r in ([header] if header else []) + list(rows))
    if gz:
        path.write_bytes(gzip.compress(text.encode()))
    else:
        path.write_text(text)
    return path


def ingest(paths, on_bad_records="fail", **options):
    import duckdb

    con = duckdb.connect()
    loader = AmazonLegacyLoader(LegacyConfig(**options))
    report = loader.ingest(con, [Path(p) for p in paths], [], on_bad_records=on_bad_records)
    return con, report


def counts(con):
    return con.execute("SELECT count(*), count(DISTINCT user_id), count(DISTINCT parent_asin) "
                       "FROM interactions").fetchone()


# -- the real samples ---------------------------------------------------------------------------


def test_real_2014_sample(real_data):
    path = real_data / "ratings_Electronics_2014_head50k.csv"
    assert AmazonLegacyLoader().can_read(path)
    found = detect(path)
    assert found.era == "2014" and found.header_line == 1  # the source added UserId,ItemId,...
    con, report = ingest([path])
    assert counts(con) == (50_698, 47_141, 3_529)
    assert report.lines_read == 50_698 and report.duplicates_dropped == 0
    assert report.notes[0].startswith("Detected the 2014 era (user,item,rating,timestamp in seconds)")
    first = con.execute("SELECT parent_asin, rating, timestamp FROM interactions "
                        "WHERE user_id = 'AKM1MP6P0OYPR' AND parent_asin = '0132793040'").fetchone()
    assert first[0] == "0132793040" and first[1] == 5.0 and str(first[2]) == "2013-04-13 00:00:00"


def test_real_2018_sample(real_data):
    path = real_data / "Magazine_Subscriptions_2018_ratings.csv"
    assert AmazonLegacyLoader().can_read(path)
    assert detect(path).era == "2018" and detect(path).header_line is None
    con, report = ingest([path])
    assert counts(con) == (546, 535, 22)
    assert report.notes[0].startswith("Detected the 2018 era (item,user,rating,timestamp in seconds)")
    item = con.execute("SELECT parent_asin FROM interactions WHERE user_id = 'AH2IFH762VY5U'").fetchone()
    assert item == ("B00005N7P0",)


def test_never_claims_2023_files(real_data):
    loader = AmazonLegacyLoader()
    for name in ("All_Beauty.5core.rating_only.csv", "All_Beauty.0core.last_out_w_his.train.csv",
                 "Magazine_Subscriptions.jsonl.gz", "prerelease_review10.json"):
        assert not loader.can_read(real_data / name), name


def test_the_builtin_2023_csv_loader_does_not_claim_legacy_files(real_data, deepcart_registry):
    """Auto-detection tries built-in loaders first: they must leave legacy files to this one."""
    for component in deepcart_registry.components("loader"):
        if component.name == "amazon-legacy":
            continue
        loader = deepcart_registry.create("loader", component.name)
        for name in ("ratings_Electronics_2014_head50k.csv", "Magazine_Subscriptions_2018_ratings.csv"):
            assert not loader.can_read(real_data / name), (component.name, name)


# -- detection ----------------------------------------------------------------------------------


@pytest.mark.parametrize("gz", [False, True])
def test_2014_without_header(tmp_path, gz):
    path = write(tmp_path / ("ratings_X.csv" + (".gz" if gz else "")), ROWS_2014, gz=gz)
    assert AmazonLegacyLoader().can_read(path) and detect(path).era == "2014"
    con, report = ingest([path])
    assert counts(con) == (3, 3, 2) and report.duplicates_dropped == 1
    kept = con.execute("SELECT rating FROM interactions WHERE user_id = 'AKM1MP6P0OYPR'").fetchone()
    assert kept == (2.0,)  # the earliest of the repeated pair
    assert "1 repeated (user, item) rows dropped" in report.notes[-1]


def test_2018_with_a_header(tmp_path):
    rows = [(item, user, rating, ts) for user, item, rating, ts in ROWS_2014]
    path = write(tmp_path / "X.csv", rows, header=("asin", "reviewerID", "overall", "unixReviewTime"))
    found = detect(path)
    assert found.era == "2018" and found.header_line == 1
    con, report = ingest([path])
    assert counts(con) == (3, 3, 2) and report.lines_read == 4
    assert "its header (line 1) was skipped" in report.notes[0]


def test_header_decides_when_values_cannot(tmp_path):
    rows = [("U1", "I1", "5", "1341100800"), ("U2", "I1", "3", "1341100801")]  # no ASIN-like ids
    assert detect(write(tmp_path / "a.csv", rows)).era is None
    assert detect(write(tmp_path / "b.csv", rows, header=("UserId", "ItemId", "rating", "ts"))).era == "2014"
    assert detect(write(tmp_path / "c.csv", rows, header=("item", "user", "rating", "ts"))).era == "2018"


def test_undecidable_file_names_the_way_out(tmp_path):
    path = write(tmp_path / "a.csv", [("U1", "I1", "5", "1341100800")])
    with pytest.raises(BadInputError, match="era=2014"):
        ingest([path])
    con, report = ingest([path], era="2018")
    assert con.execute("SELECT user_id, parent_asin FROM interactions").fetchall() == [("I1", "U1")]


def test_2023_files_are_not_legacy(tmp_path):
    header = ("user_id", "parent_asin", "rating", "timestamp")
    with_header = write(tmp_path / "a.csv", [("AGX", "B00004TRD9", "5.0", "1588687728923")], header=header)
    no_header = write(tmp_path / "b.csv", [("AKM1MP6P0OYPR", "B00004TRD9", "5.0", "1588687728923")])
    for path in (with_header, no_header):
        assert not AmazonLegacyLoader().can_read(path)
    assert "amazon2023-csv" in detect(with_header).reason and "milliseconds" in detect(no_header).reason


def test_mixed_eras_in_one_build(tmp_path):
    a = write(tmp_path / "ratings_A.csv", ROWS_2014[:2])
    b = write(tmp_path / "B.csv", [("B00005N7P0", "AH2IFH762VY5U", "5.0", "1005177600")])
    con, report = ingest([a, b])
    assert counts(con) == (3, 3, 3)
    assert [n.split(" (")[0] for n in report.notes] == ["Detected the 2014 era", "Detected the 2018 era"]


# -- bad input ----------------------------------------------------------------------------------


def test_bad_line_fails_naming_file_line_and_problem(tmp_path):
    path = write(tmp_path / "r.csv", [*ROWS_2014[:3], ("A2NWSAGRHCP8N5", "B00004TRD9", "7", "1367193600")])
    with pytest.raises(BadInputError) as caught:
        ingest([path])
    assert caught.value.line == 4 and "rating 7 is outside [1, 5]" in caught.value.problem


def test_digit_separators_are_no_numbers(tmp_path):
    """DuckDB reads '4_5' as 45 and '1_341_100_800' as a time, the way Python's int() does."""
    for row, problem in [(("A2", "B00004TRD9", "4_5", "1341100800"), "rating '4_5' is not a number"),
                         (("A2", "B00004TRD9", "4.0", "1_341_100_800"),
                          "timestamp '1_341_100_800' is not a number")]:
        path = write(tmp_path / "r.csv", [*ROWS_2014[:3], row])
        with pytest.raises(BadInputError) as caught:
            ingest([path])
        assert caught.value.line == 4 and caught.value.problem == problem


def test_bad_lines_are_skipped_on_request(tmp_path):
    bad = [("A2NWSAGRHCP8N5", "B00004TRD9", "5.0"), ("A3", "B00004TRD9", "5.0", "1588687728923")]
    path = write(tmp_path / "r.csv", [*ROWS_2014[:3], *bad])
    con, report = ingest([path], on_bad_records="skip")
    assert counts(con)[0] == 3
    assert [(r.line, r.problem.split(":")[0]) for r in report.rejected] == [
        (4, "missing field"),
        (5, "timestamp 1588687728923 is not a time in Unix seconds between 1990 and 2100")]


def test_json_given_explicitly_is_one_clear_error(tmp_path):
    path = tmp_path / "r.csv"
    path.write_text('{"user_id": "A", "parent_asin": "B"}\n')
    with pytest.raises(BadInputError, match="looks like JSON"):
        ingest([path], era="2014")


# -- the tables ---------------------------------------------------------------------------------


def test_tables_have_the_schemas_of_the_2023_csv_loader(tmp_path, deepcart_registry):
    import duckdb

    legacy, _ = ingest([write(tmp_path / "ratings_A.csv", ROWS_2014)])
    csv = tmp_path / "new.csv"
    csv.write_text("user_id,parent_asin,rating,timestamp\nAGX,B00004TRD9,5.0,1588687728923\n")
    builtin = duckdb.connect()
    deepcart_registry.create("loader", "amazon2023-csv").ingest(builtin, [csv], [], on_bad_records="fail")
    for table in ("interactions", "reviews", "items"):
        schema = f"SELECT column_name, column_type, \"null\", key FROM (DESCRIBE {table})"
        assert legacy.execute(schema).fetchall() == builtin.execute(schema).fetchall(), table
    assert legacy.execute("SELECT count(*) FROM items").fetchone() == (0,)
    assert legacy.execute("SELECT count(*), count(text) FROM reviews").fetchone() == (3, 0)

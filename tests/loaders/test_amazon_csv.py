"""The ``amazon2023-csv`` loader against the real benchmark CSVs, checked independently."""

import csv
from datetime import datetime, timezone

import pytest

from deepcart.errors import BadInputError
from deepcart.plugin_manager import load_plugins
from deepcart.plugins import BUILTIN_PLUGINS
from deepcart.plugins.loaders.amazon_csv import AmazonCsvLoader

FIVE_CORE = "All_Beauty.5core.rating_only.csv"
TRAIN = "All_Beauty.0core.last_out_w_his.train.csv"
VALID = "All_Beauty.0core.last_out_w_his.valid.csv"


@pytest.fixture
def con(loader_con):
    return loader_con


def expected_pairs(*paths) -> tuple[int, dict[tuple[str, str], tuple[float, int]]]:
    """Rows read and the earliest (rating, ms) per (user, item), computed with the csv module."""
    rows, kept = 0, {}
    for path in paths:
        with open(path, newline="") as fh:
            for record in csv.reader(fh):
                if record[0] == "user_id":
                    continue
                rows += 1
                key, value = (record[0], record[1]), (float(record[2]), int(record[3]))
                if key not in kept or value[1] < kept[key][1]:
                    kept[key] = value
    return rows, kept


def table(con) -> dict[tuple[str, str], tuple[float, int]]:
    rows = con.execute("SELECT user_id, parent_asin, rating, timestamp FROM interactions").fetchall()
    out = {(u, i): (r, round(t.replace(tzinfo=timezone.utc).timestamp() * 1000)) for u, i, r, t in rows}
    assert len(out) == len(rows)
    return out


def test_five_core(con, real_data):
    rows, kept = expected_pairs(real_data / FIVE_CORE)
    report = AmazonCsvLoader().ingest(con, [real_data / FIVE_CORE], [], on_bad_records="fail")
    assert report.lines_read == rows == 2_535 and report.duplicates_dropped == 0
    assert table(con) == kept
    assert con.execute("SELECT count(*), count(DISTINCT user_id), count(DISTINCT parent_asin) "
                       "FROM interactions").fetchone() == (2_535, 253, 356)
    # every user and item of a 5-core has at least 5 ratings
    assert con.execute("SELECT min(n) FROM (SELECT count(*) n FROM interactions GROUP BY user_id)"
                       ).fetchone()[0] >= 5
    # reviews: same keys, no text; items: empty with the full schema
    assert con.execute("SELECT count(*), count(title), count(text), count(helpful_vote), "
                       "count(verified_purchase) FROM reviews").fetchone() == (2_535, 0, 0, 0, 0)
    assert con.execute("SELECT count(*) FROM reviews ANTI JOIN interactions "
                       "USING (user_id, parent_asin)").fetchone() == (0,)
    assert con.execute("SELECT count(*) FROM items").fetchone() == (0,)
    assert [c[0] for c in con.execute("DESCRIBE items").fetchall()] == [
        "parent_asin", "title", "main_category", "store", "price", "average_rating",
        "rating_number", "categories", "features", "details"]
    assert con.execute("SELECT min(timestamp) FROM interactions").fetchone()[0] > datetime(1995, 1, 1)


def test_history_files_with_header(con, real_data):
    rows, kept = expected_pairs(real_data / TRAIN, real_data / VALID)
    report = AmazonCsvLoader().ingest(con, [real_data / TRAIN, real_data / VALID], [],
                                      on_bad_records="fail")
    assert report.lines_read == rows == 19_120 + 42_823
    assert report.duplicates_dropped == rows - len(kept)
    assert table(con) == kept


def test_headerless_copy_gives_the_same_table(con, real_data, tmp_path):
    lines = (real_data / TRAIN).read_text().splitlines(True)
    assert lines[0].startswith("user_id,parent_asin,rating,timestamp,history")
    bare = tmp_path / "train_noheader.csv"
    bare.write_text("".join(lines[1:]))
    loader = AmazonCsvLoader()
    assert loader.can_read(bare)
    report = loader.ingest(con, [bare], [], on_bad_records="fail")
    assert report.lines_read == len(lines) - 1
    assert table(con) == expected_pairs(real_data / TRAIN)[1]


def test_can_read(real_data, tmp_path):
    loader = AmazonCsvLoader()
    assert loader.can_read(real_data / FIVE_CORE) and loader.can_read(real_data / TRAIN)
    # other eras and formats are not claimed
    assert not loader.can_read(real_data / "ratings_Electronics_2014_head50k.csv")  # seconds
    assert not loader.can_read(real_data / "Magazine_Subscriptions_2018_ratings.csv")
    assert not loader.can_read(real_data / "Magazine_Subscriptions.jsonl.gz")
    assert not loader.can_read(tmp_path / "missing.csv")


def test_older_formats_fail_clearly(con, real_data):
    with pytest.raises(BadInputError) as err:
        AmazonCsvLoader().ingest(con, [real_data / "ratings_Electronics_2014_head50k.csv"], [],
                                 on_bad_records="skip")
    assert err.value.line == 1 and "unexpected header" in err.value.problem
    with pytest.raises(BadInputError) as err:  # 2018: item,user,rating,ts in seconds, no header
        AmazonCsvLoader().ingest(con, [real_data / "Magazine_Subscriptions_2018_ratings.csv"], [],
                                 on_bad_records="fail")
    assert err.value.line == 1 and "milliseconds" in err.value.problem


def test_registered_as_amazon2023_csv():
    modules = ("deepcart.plugins.loaders.amazon2023", "deepcart.plugins.loaders.amazon_csv")
    plugins = load_plugins(builtins=tuple(dict.fromkeys(BUILTIN_PLUGINS + modules)),
                           entry_points=False)
    assert isinstance(plugins.registry.create("loader", "amazon2023-csv"), AmazonCsvLoader)

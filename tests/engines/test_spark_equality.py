"""DuckDB and Spark run the same filter chain and splits (written once, in ibis) to the same result.

Same inputs, both engines: identical interactions (every column, every row), identical items,
identical per-step drop counts and messages, and identical split parts. Marked ``spark``; skipped
with the reason where PySpark or Java is missing (CI installs both).

The duplicate rule is the loader's, so it is the same for both engines: of several reviews of one
(user, item) pair the earliest wins, and among reviews with equal timestamps the one in the earlier
file, then on the earlier line.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import duckdb
import pytest

from deepcart.pipeline.build import BuildSpec, build_dataset
from deepcart.pipeline.splits import PARTS, split_dataset
from deepcart.plugin_manager import load_plugins

pytestmark = pytest.mark.spark

REGISTRY = load_plugins(entry_points=False).registry
#: Every built-in filter, in an order that makes each of them drop something on the inputs below.
CHAIN = [("orphans", {}), ("min-ratings", {"n": 2}), ("subsample", {"fraction": 0.8}),
         ("min-interactions", {"n": 2}), ("k-core", {"k": 2})]


@pytest.fixture(scope="module")
def spark(spark_ready):
    """One local Spark session for the module; the engine reuses an active session."""
    from deepcart.plugins.engines.spark_engine import SparkEngineConfig, spark_session

    folder = Path(__import__("tempfile").mkdtemp(prefix="deepcart-spark-"))
    session, _ = spark_session(SparkEngineConfig(master="local[2]", driver_memory="1g"), folder)
    session.conf.set("spark.sql.shuffle.partitions", "4")  # tiny inputs: 200 partitions is all overhead
    yield session
    session.stop()
    shutil.rmtree(folder, ignore_errors=True)


def rows(path: Path) -> list[tuple]:
    """Every row of a Parquet file, in file order."""
    return duckdb.sql(f"SELECT * FROM read_parquet('{path}')").fetchall()


def build_both(tmp_path: Path, reviews, items=(), chain=CHAIN, seed: int = 3, loader=None):
    """Build the same inputs with both engines; return the two tag folders and manifests."""
    tags = {}
    for engine in ("duckdb", "spark"):
        spec = BuildSpec(tag=f"t-{engine}", reviews=list(reviews), items=list(items), filters=chain, seed=seed,
                         data_dir=tmp_path, engine=engine, loader=loader,
                         engine_options={"master": "local[2]"} if engine == "spark" else {})
        tags[engine] = build_dataset(spec, REGISTRY, echo=lambda _m: None)
    return tags["duckdb"], tags["spark"]


def assert_same_build(duck, spark_) -> None:
    for name in ("interactions.parquet", "items.parquet"):
        assert rows(duck.path / name) == rows(spark_.path / name), name
    assert duck.manifest["filters"] == spark_.manifest["filters"]
    assert duck.manifest["counts"] == spark_.manifest["counts"]
    assert duck.manifest["engine"]["name"] == "duckdb" and spark_.manifest["engine"]["name"] == "spark"
    assert any(step["dropped_ratings"] for step in duck.manifest["filters"])  # the chain did something


def review(user, item, rating, ts, title="t"):
    return json.dumps({"rating": rating, "title": title, "text": "x", "images": [], "asin": item,
                       "parent_asin": item, "user_id": user, "timestamp": ts, "helpful_vote": 0,
                       "verified_purchase": True})


def meta(item):
    return json.dumps({"main_category": "Electronics", "title": f"Item {item}", "average_rating": 4.0,
                       "rating_number": 3, "features": [], "description": [], "price": None, "images": [],
                       "videos": [], "store": "S", "categories": [], "details": {}, "parent_asin": item,
                       "bought_together": None})


def test_synthetic_build_with_tied_duplicates_is_equal(spark, tmp_path):
    from click.testing import CliRunner

    from deepcart.cli import cli

    src = tmp_path / "src"
    result = CliRunner().invoke(cli, ["synth", "--reviews", "8000", "--seed", "4", "--out", str(src), "-q"])
    assert result.exit_code == 0, result.output
    # Two more files of duplicates with equal timestamps: within a file (line order decides) and
    # across files (the earlier file wins).
    lines = [review("dup-user", "dup-item", 1.0, 1600000000000, "first"),
             review("dup-user", "dup-item", 5.0, 1600000000000, "second")]
    lines += [review(f"dup-user{i}", "dup-item", 2.0, 1600000000000 + i) for i in range(4)]
    lines += [review("dup-user", f"dup-item{i}", 3.0, 1600000000000) for i in range(4)]
    extra = tmp_path / "dups.jsonl"
    extra.write_text("\n".join(lines + lines[:1]) + "\n")
    later = tmp_path / "dups2.jsonl"
    later.write_text(review("dup-user", "dup-item", 4.0, 1600000000000, "other file") + "\n"
                     + review("dup-user", "dup-item0", 4.0, 1500000000000, "earlier time") + "\n")
    (tmp_path / "dup_meta.jsonl").write_text("\n".join(meta(i) for i in ["dup-item"] + [f"dup-item{i}" for i in range(4)]) + "\n")
    shards = [str(src / "Synthetic_Electronics.jsonl.gz")]
    items = [str(src / "meta_Synthetic_Electronics.jsonl.gz"), str(tmp_path / "dup_meta.jsonl")]
    duck, spark_ = build_both(tmp_path / "all", shards + [str(extra), str(later)], items)
    assert_same_build(duck, spark_)
    assert duck.manifest["ingest"]["duplicates_dropped"] >= 4

    # The duplicates alone, through a chain that keeps dup-user: the same winners on both engines.
    duck, spark_ = build_both(tmp_path / "dups", [extra, later], [tmp_path / "dup_meta.jsonl"],
                              chain=[("orphans", {}), ("min-interactions", {"n": 2})])
    assert_same_build(duck, spark_)
    for tag in (duck, spark_):
        kept = dict(duckdb.sql(f"SELECT parent_asin, title FROM read_parquet('{tag.path / 'interactions.parquet'}') "
                               "WHERE user_id = 'dup-user'").fetchall())
        assert kept["dup-item"] == "first"  # equal timestamps: the earlier file, then the earlier line
        assert kept["dup-item0"] == "earlier time"  # an earlier timestamp wins whatever the file order


@pytest.mark.parametrize("files,loader", [
    (("Magazine_Subscriptions.jsonl.gz", "meta_Magazine_Subscriptions.jsonl.gz"), None),
    (("Electronics_head10k_partial.jsonl.gz",), None),
    (("All_Beauty.0core.last_out_w_his.train.csv",), "amazon2023-csv"),
], ids=["magazine-2023", "electronics-2023-partial", "beauty-0core-csv"])
def test_real_slices_build_equal(spark, tmp_path, real_data, files, loader):
    reviews, *items = (real_data / name for name in files)
    chain = CHAIN if items else [step for step in CHAIN if step[0] != "orphans"]
    duck, spark_ = build_both(tmp_path, [reviews], items, chain=chain, loader=loader)
    assert_same_build(duck, spark_)


@pytest.mark.parametrize("splitter,options", [
    ("user-holdout", {}),
    ("user-holdout", {"train": 0.6, "val": 0.2, "check_fraction": 0.35, "holdout": "newest"}),
    ("user-holdout", {"folds": 5, "fold": 4, "val": 0.15}),  # the val block wraps round
    ("user-holdout", {"folds": 3, "fold": 2, "val": 0.2, "within": 0.8 + 0.1}),  # folds within a plain split
    ("temporal", {"val_cut": 1451606400000, "test_cut": 1546300800000}),  # 2016, 2019
])
def test_split_parts_equal(spark, tmp_path, real_data, splitter, options):
    spec = BuildSpec(tag="magazine", reviews=[real_data / "Magazine_Subscriptions.jsonl.gz"],
                     filters=[("k-core", {"k": 2})], data_dir=tmp_path)
    tag = build_dataset(spec, REGISTRY, echo=lambda _m: None).path
    parts, manifests = {}, {}
    for engine in ("duckdb", "spark"):
        split = split_dataset(tag, REGISTRY, splitter, options, seed=5, force=True, echo=lambda _m: None,
                              engine=engine)
        parts[engine] = {p: rows(split.part(p)) for p in PARTS}
        manifests[engine] = {k: v for k, v in split.manifest.items() if k != "tag_manifest_sha256"}
    assert parts["duckdb"] == parts["spark"]
    assert manifests["duckdb"] == manifests["spark"]
    assert all(parts["duckdb"][p] for p in PARTS), {p: len(v) for p, v in parts["duckdb"].items()}


def test_kcore_rounds_are_checkpointed(spark, tmp_path, real_data):
    """Each deletion leaves ``interactions`` as stored rows, not a plan that grows every round."""
    from deepcart.plugins.engines.spark_engine import SparkEngine, SparkEngineConfig

    con = duckdb.connect()
    source = real_data / "All_Beauty.0core.last_out_w_his.train.csv"
    con.execute(f"CREATE TABLE interactions AS SELECT DISTINCT ON (user_id, parent_asin) user_id, parent_asin, "
                f"rating, make_timestamp(timestamp * 1000) AS timestamp FROM read_csv('{source}', header=true)")
    report = REGISTRY.create("filter", "k-core", {"k": 3})
    with SparkEngine(SparkEngineConfig(master="local[2]")).open(con, tmp_path) as frame:
        result = report.apply(frame, seed=0)
        plan = frame.session.table(frame.prefix + "interactions")._jdf.queryExecution().logical().toString()
    assert "rounds" in result.message and result.dropped_ratings > 0
    assert "Join" not in plan, plan


def test_split_command_on_spark_matches_duckdb(spark, tmp_path, real_data):
    from click.testing import CliRunner

    from deepcart.cli import cli

    spec = BuildSpec(tag="magazine", reviews=[real_data / "Magazine_Subscriptions.jsonl.gz"],
                     filters=[("k-core", {"k": 2})], data_dir=tmp_path)
    tag = build_dataset(spec, REGISTRY, echo=lambda _m: None).path
    parts = {}
    for engine in ("duckdb", "spark"):
        result = CliRunner().invoke(cli, ["split", "--data-dir", str(tmp_path), "--data-tag", "magazine",
                                          "--engine", engine, "--force", "-q"], env={"DEEPCART_LOAD_PLUGINS": ""})
        assert result.exit_code == 0, result.output
        (folder,) = (tag / "splits").iterdir()
        parts[engine] = {p: rows(folder / f"{p}.parquet") for p in PARTS}
    assert parts["duckdb"] == parts["spark"]


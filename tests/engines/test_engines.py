"""Engines as plugins: the registry, the build's engine choice, refusals by name, clear set-up errors.

These need no Spark: what is refused is refused before any engine starts.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import ClassVar

import duckdb
import pydantic
import pytest
from click.testing import CliRunner

from deepcart import hookimpl
from deepcart.cli import cli
from deepcart.errors import DeepcartError
from deepcart.pipeline.build import BuildSpec, build_dataset
from deepcart.pipeline.splits import split_dataset
from deepcart.plugin_manager import load_plugins
from deepcart.registry import PluginSource

THIRD = PluginSource("sqlonly", "deepcart-sqlonly", "1.0", entry_point="sqlonly = x")


class Empty(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")


class SqlOnlyFilter:
    """Drop 5-star ratings with DuckDB SQL (no portable form)."""

    Config: ClassVar[type] = Empty
    calls: ClassVar[list] = []

    def __init__(self, config=None):
        self.config = config or Empty()

    def apply(self, con, *, seed):
        from deepcart.reports import FilterReport

        SqlOnlyFilter.calls.append(type(con))
        n = con.execute("SELECT count(*) FROM interactions WHERE rating = 5").fetchall()[0][0]
        con.execute("DELETE FROM interactions WHERE rating = 5")
        return FilterReport("sql-only", {}, 0, 0, n, f"Dropped {n} five-star ratings")


class SqlOnlySplitter:
    """Everyone in train (no portable form)."""

    Config: ClassVar[type] = Empty

    def __init__(self, config=None):
        self.config = config or Empty()

    def split(self, con, *, seed):
        con.execute("CREATE TABLE train AS SELECT * FROM interactions")
        for part in ("val_input", "val_check", "test_input", "test_check"):
            con.execute(f"CREATE TABLE {part} AS SELECT * FROM interactions LIMIT 0")


class AnotherEngine:
    """Stands in for a third-party engine; runs nothing."""

    Config: ClassVar[type] = Empty
    runs_duckdb_sql: ClassVar[bool] = False

    def __init__(self, config=None):
        self.config = config or Empty()

    def open(self, con, work):
        raise AssertionError("refused steps must stop the build before an engine opens")


class Plugin:
    @hookimpl
    def register_filters(self, register):
        register("sql-only", SqlOnlyFilter)

    @hookimpl
    def register_splitters(self, register):
        register("sql-only", SqlOnlySplitter)

    @hookimpl
    def register_engines(self, register):
        register("elsewhere", AnotherEngine)


@pytest.fixture
def registry():
    return load_plugins(entry_points=False, extra=[(Plugin(), THIRD)], strict=True).registry


def test_built_in_engines_are_registered(registry):
    assert registry.names("engine")[:2] == ["duckdb", "spark"]
    assert registry.create("engine", "spark", {"master": "spark://h:7077"}).config.master == "spark://h:7077"
    assert registry.create("engine", "duckdb").runs_duckdb_sql
    assert not registry.create("engine", "spark").runs_duckdb_sql


def test_every_built_in_filter_and_splitter_is_portable(registry):
    for kind in ("filter", "splitter"):
        for component in registry.components(kind):
            if component.source != THIRD:
                assert getattr(component.obj, "portable", False), (kind, component.name)


def test_duckdb_engine_runs_a_sql_only_filter_on_the_connection(registry, real_data, tmp_path):
    SqlOnlyFilter.calls.clear()
    spec = BuildSpec(tag="t", reviews=[real_data / "Magazine_Subscriptions.jsonl.gz"], data_dir=tmp_path,
                     filters=[("sql-only", {}), ("k-core", {"k": 2})])
    result = build_dataset(spec, registry, echo=lambda _m: None)
    assert SqlOnlyFilter.calls == [duckdb.DuckDBPyConnection]
    assert result.manifest["engine"] == {"name": "duckdb", "options": {}, "where": "this machine"}
    assert result.manifest["filters"][0]["dropped_ratings"] > 0
    stars = duckdb.sql(f"SELECT max(rating) FROM read_parquet('{result.path / 'interactions.parquet'}')").fetchall()
    assert stars == [(4.0,)]


@pytest.mark.parametrize("engine", ["elsewhere", "spark"])
def test_other_engines_refuse_a_sql_only_filter_by_name_before_reading(registry, tmp_path, engine):
    missing = tmp_path / "never-read.jsonl"  # no loader reads it: the refusal must come first
    missing.write_text("not json at all\n")
    spec = BuildSpec(tag="t", reviews=[missing], data_dir=tmp_path, engine=engine,
                     filters=[("k-core", {"k": 2}), ("sql-only", {})])
    with pytest.raises(DeepcartError, match=rf"'sql-only' have no portable form .*{engine} engine"):
        build_dataset(spec, registry, echo=lambda _m: None)
    assert not (tmp_path / "t").exists()


def test_other_engines_refuse_a_sql_only_splitter(registry, synthetic_tag):
    data_dir, tag = synthetic_tag
    with pytest.raises(DeepcartError, match="splitter 'sql-only' has no portable form"):
        split_dataset(data_dir / tag, registry, "sql-only", engine="elsewhere", echo=lambda _m: None)


def test_sql_only_splitter_still_runs_on_duckdb(registry, synthetic_tag, tmp_path):
    import shutil

    data_dir, tag = synthetic_tag
    copy = tmp_path / tag
    shutil.copytree(data_dir / tag, copy, ignore=shutil.ignore_patterns("splits"))
    split = split_dataset(copy, registry, "sql-only", echo=lambda _m: None)
    assert split.manifest["counts"]["test_check"]["ratings"] == 0
    assert split.manifest["counts"]["train"]["ratings"] > 0


def test_spark_master_needs_the_spark_engine(tmp_path):
    result = CliRunner().invoke(cli, ["build", "--data-dir", str(tmp_path), "--spark-master", "local[2]"])
    assert result.exit_code == 2 and "--spark-master needs --engine spark" in result.output


def test_unknown_engine_lists_the_engines(tmp_path):
    result = CliRunner().invoke(cli, ["build", "--data-dir", str(tmp_path), "--engine", "sprak"])
    assert result.exit_code == 1
    assert "unknown engine 'sprak'. Did you mean 'spark'?" in result.output and "duckdb, spark" in result.output
    assert not any(tmp_path.iterdir())  # nothing generated or read


def test_spark_without_pyspark_says_how_to_install(monkeypatch, tmp_path):
    from deepcart.plugins.engines.spark_engine import SparkEngineConfig, spark_session

    monkeypatch.setitem(sys.modules, "pyspark", None)
    monkeypatch.setitem(sys.modules, "pyspark.sql", None)
    with pytest.raises(DeepcartError, match=r"pip install 'deepcart\[spark\]'"):
        spark_session(SparkEngineConfig(), tmp_path)


def test_spark_without_java_says_so(monkeypatch, tmp_path):
    pytest.importorskip("pyspark")
    from pyspark.sql import SparkSession

    from deepcart.plugins.engines import spark_engine

    monkeypatch.setattr(SparkSession, "getActiveSession", staticmethod(lambda: None))
    monkeypatch.setattr(spark_engine.shutil, "which", lambda _name: None)
    monkeypatch.delenv("JAVA_HOME", raising=False)
    with pytest.raises(DeepcartError, match="needs Java 17 or later"):
        spark_engine.spark_session(spark_engine.SparkEngineConfig(), tmp_path)


def test_build_help_explains_the_engines():
    result = CliRunner().invoke(cli, ["build", "--help"])
    assert "--engine NAME" in result.output and "--spark-master URL" in result.output
    assert "deepcart[spark]" in result.output


def test_manifest_of_a_duckdb_build_names_the_engine(synthetic_tag):
    data_dir, tag = synthetic_tag
    manifest = json.loads((Path(data_dir) / tag / "manifest.json").read_text())
    assert manifest["engine"]["name"] == "duckdb"


def test_unknown_engine_option_is_refused_before_anything_runs(tmp_path):
    result = CliRunner().invoke(cli, ["build", "--data-dir", str(tmp_path), "--engine", "spark",
                                      "--engine-option", "drivr_memory=2g"])
    assert result.exit_code == 1 and "engine 'spark' has no option 'drivr_memory'" in result.output
    assert "driver_memory" in result.output and not any(tmp_path.iterdir())


def test_split_command_writes_the_split_that_later_commands_reuse(synthetic_tag, tmp_path):
    import shutil

    data_dir, tag = synthetic_tag
    copy = tmp_path / "data"
    shutil.copytree(data_dir / tag, copy / tag, ignore=shutil.ignore_patterns("splits"))
    result = CliRunner().invoke(cli, ["split", "--data-dir", str(copy), "--data-tag", tag, "--seed", "2"])
    assert result.exit_code == 0, result.output
    assert "train :" in result.output and "Split written to" in result.output
    folders = list((copy / tag / "splits").iterdir())
    assert len(folders) == 1
    written = (folders[0] / "train.parquet").stat().st_mtime_ns
    again = split_dataset(copy / tag, load_plugins(entry_points=False).registry, "user-holdout", seed=2,
                          echo=lambda _m: None)
    assert again.path == folders[0] and (again.path / "train.parquet").stat().st_mtime_ns == written


def test_split_command_needs_a_tag(tmp_path):
    result = CliRunner().invoke(cli, ["split", "--data-dir", str(tmp_path), "--data-tag", "nothing"])
    assert result.exit_code == 1 and "no dataset tag 'nothing'" in result.output


def test_check_counts_round_half_up_in_integers_even_for_heavy_raters():
    """round(0.25 * n), half up, for users with 6, 10 and 1,030 ratings (a decimal product once
    overflowed its inferred type at 1,030)."""
    con = duckdb.connect()
    con.execute("""CREATE TABLE interactions AS
        SELECT copy || '-' || n AS user_id, 'i' || i AS parent_asin, 3.0 AS rating,
               make_timestamp(i * 1000000) AS timestamp
        FROM (VALUES (6), (10), (1030)) v(n), (VALUES ('a'), ('b')) c(copy), range(n) r(i)""")
    splitter = load_plugins(entry_points=False).registry.create(
        "splitter", "user-holdout", {"train": 0.01, "val": 0.01, "check_fraction": 0.25})
    splitter.split(con, seed=0)
    # Six users: one goes to train (the cut keeps at least the first), the others are held out.
    held = {}
    for part in ("check", "input"):
        for user, n in con.execute(f"SELECT user_id, count(*) FROM (SELECT * FROM val_{part} UNION ALL "
                                   f"SELECT * FROM test_{part}) GROUP BY user_id").fetchall():
            held.setdefault(user.split("-")[1], set()).add((part, n))
    assert len(held) == 3  # every size is held out at least once (two copies each)
    assert held == {"6": {("check", 2), ("input", 4)}, "10": {("check", 3), ("input", 7)},
                    "1030": {("check", 258), ("input", 772)}}


#: The hand-written DuckDB SQL the portable splitter and sample replaced: the reference they must
#: match row for row (a change shared by both engines would pass the engine-equality tests).
REFERENCE_SPLIT = """
    CREATE OR REPLACE TEMP TABLE _users AS
    SELECT user_id, CASE WHEN pos < {train} * n THEN 'train' WHEN pos < {train_val} * n THEN 'val'
                         ELSE 'test' END AS part
    FROM (SELECT user_id, row_number() OVER (ORDER BY md5('{seed}:' || user_id)) - 1 AS pos,
                 count(*) OVER () AS n FROM (SELECT DISTINCT user_id FROM interactions));
    CREATE OR REPLACE TEMP TABLE _ranked AS
    SELECT r.*, u.part, row_number() OVER (PARTITION BY r.user_id
                                           ORDER BY md5('{seed}:' || user_id || ':' || parent_asin)) AS pick,
           count(*) OVER (PARTITION BY r.user_id) AS n_user
    FROM interactions r JOIN _users u USING (user_id);
"""
REFERENCE_CHECKS = "least(greatest(round({fraction} * n_user), 1), n_user - 1)"
REFERENCE_SAMPLE = """SELECT user_id FROM (SELECT DISTINCT user_id FROM interactions)
                      ORDER BY md5('{seed}:' || user_id), user_id LIMIT {keep}"""


def random_interactions(users: int, seed: int) -> duckdb.DuckDBPyConnection:
    import numpy as np

    rng = np.random.default_rng(seed)
    rows = [(f"ü{u}", f"i{i}", float(rng.integers(1, 6)), int(rng.integers(0, 5)))
            for u in range(users) for i in rng.choice(300, size=rng.integers(2, 12), replace=False)]
    con = duckdb.connect()
    con.execute("CREATE TABLE interactions (user_id VARCHAR, parent_asin VARCHAR, rating DOUBLE, timestamp TIMESTAMP)")
    con.executemany("INSERT INTO interactions VALUES (?, ?, ?, make_timestamp(?::BIGINT * 1000000))", rows)
    return con


@pytest.mark.parametrize("users,options", [
    (10, {"train": 0.4, "val": 0.2}),  # 0.4 + 0.2 is 0.6000000000000001: the 6th user goes to val
    (20, {"train": 0.4, "val": 0.2}),
    (30, {"train": 0.1, "val": 0.2}),
    (5003, {"check_fraction": 1 / 3}),  # thousands of users: cuts inside hash buckets
    (7, {"train": 0.5, "val": 0.3, "check_fraction": 0.35}),
])
def test_user_holdout_matches_the_sql_it_replaced(users, options):
    con = random_interactions(users, seed=users)
    registry = load_plugins(entry_points=False).registry
    splitter = registry.create("splitter", "user-holdout", options)
    c = splitter.config
    con.execute(REFERENCE_SPLIT.format(train=c.train, train_val=c.train + c.val, seed=3))
    n_check = REFERENCE_CHECKS.format(fraction=c.check_fraction)
    cols = "user_id, parent_asin, rating, timestamp"
    expected = {"train": f"SELECT {cols} FROM _ranked WHERE part = 'train'"}
    for part in ("val", "test"):
        expected[f"{part}_check"] = f"SELECT {cols} FROM _ranked WHERE part = '{part}' AND pick <= {n_check}"
        expected[f"{part}_input"] = f"SELECT {cols} FROM _ranked WHERE part = '{part}' AND pick > {n_check}"
    expected = {part: sorted(con.execute(sql).fetchall()) for part, sql in expected.items()}
    splitter.split(con, seed=3)
    got = {part: sorted(con.execute(f"SELECT * FROM {part}").fetchall()) for part in expected}
    assert got == expected
    assert all(got.values())


@pytest.mark.parametrize("users,options", [(5003, {"n": 1234}), (5003, {"fraction": 0.37}), (50, {"n": 1})])
def test_subsample_matches_the_sql_it_replaced(users, options):
    con = random_interactions(users, seed=users)
    sample = load_plugins(entry_points=False).registry.create("filter", "subsample", options)
    keep = sample.target(users)
    expected = sorted(con.execute(f"SELECT * FROM interactions WHERE user_id IN ({REFERENCE_SAMPLE})".format(
        seed=9, keep=keep)).fetchall())
    report = sample.apply(con, seed=9)
    assert sorted(con.execute("SELECT * FROM interactions").fetchall()) == expected
    assert report.dropped_users == users - keep

"""The Spark session: one the engine starts itself, one that cannot start, and a user's own.

Its own module, run after the equality tests have stopped their session: ``getOrCreate`` hands back
a running SparkContext whatever master it is asked for, so these need none running.
"""

from __future__ import annotations

import pytest

from deepcart.errors import DeepcartError
from deepcart.pipeline.build import BuildSpec, build_dataset
from deepcart.plugin_manager import load_plugins

pytestmark = pytest.mark.spark

REGISTRY = load_plugins(entry_points=False).registry


def magazine_spec(tmp_path, real_data, **engine_options) -> BuildSpec:
    return BuildSpec(tag="t", reviews=[real_data / "Magazine_Subscriptions.jsonl.gz"], data_dir=tmp_path,
                     filters=[("k-core", {"k": 2})], engine="spark", engine_options=engine_options)


def no_context() -> bool:
    from pyspark import SparkContext

    return SparkContext._active_spark_context is None


def test_a_master_spark_cannot_use_is_a_clear_error(spark_ready, tmp_path, real_data):
    assert no_context()
    with pytest.raises(DeepcartError, match="Spark did not start with master 'nonsense://x'"):
        build_dataset(magazine_spec(tmp_path, real_data, master="nonsense://x"), REGISTRY, echo=lambda _m: None)
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # no tag, no work folder


def test_the_engine_starts_and_stops_its_own_session(spark_ready, tmp_path, real_data):
    assert no_context()
    spec = magazine_spec(tmp_path, real_data, master="local[1]", driver_memory="1g",
                         checkpoint_dir=(tmp_path / "ckpt").as_uri())
    result = build_dataset(spec, REGISTRY, echo=lambda _m: None)
    assert result.manifest["engine"]["where"] == "local[1]"
    assert result.manifest["filters"][0]["dropped_ratings"] > 0
    assert no_context()  # stopped: it was the engine's own
    assert list((tmp_path / "ckpt").iterdir()) == []  # this build's checkpoints are gone


def test_a_users_session_is_left_as_it_was(spark_ready, tmp_path, real_data):
    from pyspark.sql import SparkSession

    session = (SparkSession.builder.master("local[1]").config("spark.ui.enabled", "false")
               .config("spark.sql.session.timeZone", "America/New_York").getOrCreate())
    try:
        session.sparkContext.setCheckpointDir((tmp_path / "mine").as_uri())
        parent = session.sparkContext.getCheckpointDir().rsplit("/", 1)[0]  # Spark adds a folder per context
        session.createDataFrame([("me", "mine", 5.0)], "user_id string, parent_asin string, rating double") \
            .createOrReplaceTempView("interactions")
        result = build_dataset(magazine_spec(tmp_path / "data", real_data), REGISTRY, echo=lambda _m: None)
        assert result.manifest["engine"]["where"] == "local[1]"  # the running session, not local[*]
        assert session.sparkContext._jsc is not None  # still running
        assert session.table("interactions").collect()[0].asDict() == {
            "user_id": "me", "parent_asin": "mine", "rating": 5.0}
        assert session.conf.get("spark.sql.session.timeZone") == "America/New_York"
        assert session.sparkContext.getCheckpointDir().rsplit("/", 1)[0] == parent
        leftovers = [t.name for t in session.catalog.listTables() if t.name.startswith("_deepcart_")]
        assert leftovers == []
    finally:
        session.stop()


def test_a_failure_inside_spark_is_a_clear_error_and_leaves_nothing(spark_ready, tmp_path, real_data):
    assert no_context()
    spec = magazine_spec(tmp_path / "data", real_data, master="local[1]", driver_memory="1g",
                         checkpoint_dir="file:///proc/deepcart-cannot-write-here")
    with pytest.raises(DeepcartError, match=r"Spark \(local\[1\]\) failed: .*nothing was written"):
        build_dataset(spec, REGISTRY, echo=lambda _m: None)
    assert sorted(p.name for p in (tmp_path / "data").iterdir()) == []  # no tag, no work folder
    assert no_context()  # the engine's own session was stopped anyway

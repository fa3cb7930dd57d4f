"""A Spark that cannot start is a clear error, and the build leaves nothing behind.

Its own module: ``getOrCreate`` hands back a running SparkContext whatever master it is given, so
this runs after the equality tests have stopped theirs.
"""

from __future__ import annotations

import shutil

import pytest

from deepcart.pipeline.build import BuildSpec, build_dataset
from deepcart.plugin_manager import load_plugins

pytestmark = pytest.mark.spark

REGISTRY = load_plugins(entry_points=False).registry


def test_a_master_spark_cannot_use_is_a_clear_error(tmp_path, real_data, monkeypatch):
    pytest.importorskip("pyspark", reason="PySpark is not installed: pip install 'deepcart[spark]'")
    if shutil.which("java") is None:
        pytest.skip("Java is not installed (apt-get install -y openjdk-17-jre-headless)")
    from pyspark.sql import SparkSession

    from deepcart.errors import DeepcartError

    monkeypatch.setattr(SparkSession, "getActiveSession", staticmethod(lambda: None))  # start one anew
    spec = BuildSpec(tag="t", reviews=[real_data / "Magazine_Subscriptions.jsonl.gz"], data_dir=tmp_path,
                     filters=[("k-core", {"k": 2})], engine="spark", engine_options={"master": "nonsense://x"})
    with pytest.raises(DeepcartError, match="Spark did not start with master 'nonsense://x'"):
        build_dataset(spec, REGISTRY, echo=lambda _m: None)
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # no tag, no work folder

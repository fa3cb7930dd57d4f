"""The same build on both engines: DuckDB (the baseline) and Spark ``local[2]`` on the same 2 cores.

Each build runs as ``deepcart build`` in a child process, on the same synthetic file, with
``--k-core 5``; what counts is the ratio of wall times, whole build and filter step (from the
manifest's timings; Spark's includes starting its session), beside the baseline in the same run.
Both tags must be equal. Size: ``DEEPCART_BENCH_REVIEWS`` (default 1,000,000); with
``--benchmark-disable`` (the CI smoke run) 20,000 reviews.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

ENGINES = ("duckdb", "spark")
RESULTS: dict[str, dict] = {}


@pytest.fixture(scope="module")
def synthetic_files(tmp_path_factory, request):
    from deepcart.pipeline.synthetic import generate

    disabled = request.config.getoption("benchmark_disable", False)
    n = 20_000 if disabled else int(os.environ.get("DEEPCART_BENCH_REVIEWS", 1_000_000))
    return generate(tmp_path_factory.mktemp("synth"), n_reviews=n, seed=0)


def _build(files, out: Path, engine: str) -> dict:
    args = [sys.executable, "-m", "deepcart.cli", "build", "--reviews-file", str(files.reviews), "--items-file",
            str(files.meta), "--data-dir", str(out), "--tag", "bench", "--k-core", "5", "--force", "--quiet",
            "--threads", "2", "--memory-limit", "2GB", "--engine", engine]
    if engine == "spark":
        args += ["--spark-master", "local[2]"]
    start = time.perf_counter()
    run = subprocess.run(args, capture_output=True, text=True, env={**os.environ, "DEEPCART_LOAD_PLUGINS": ""})
    wall = time.perf_counter() - start
    assert run.returncode == 0, run.stderr[-3000:]
    manifest = json.loads((out / "bench" / "manifest.json").read_text())
    return {"wall_s": wall, "filters_s": manifest["timings_s"]["filters"], "path": out / "bench"}


@pytest.mark.parametrize("engine", ENGINES)
def test_build_on_engine(benchmark, engine, synthetic_files, tmp_path_factory):
    if engine == "spark":
        pytest.importorskip("pyspark", reason="PySpark is not installed: pip install 'deepcart[spark]'")
        if shutil.which("java") is None:
            pytest.skip("Java is not installed (apt-get install -y openjdk-17-jre-headless)")
    out = tmp_path_factory.mktemp(f"engine-{engine}")
    result = benchmark.pedantic(_build, args=(synthetic_files, out, engine), rounds=1, iterations=1)
    RESULTS[engine] = result
    benchmark.extra_info.update({k: round(v, 2) for k, v in result.items() if k != "path"})
    if engine == "spark" and "duckdb" in RESULTS:
        base = RESULTS["duckdb"]
        same = [duckdb.sql(f"SELECT * FROM read_parquet('{r['path'] / 'interactions.parquet'}')").fetchall()
                for r in (base, result)]
        assert same[0] == same[1]
        benchmark.extra_info["wall_vs_duckdb"] = round(result["wall_s"] / base["wall_s"], 2)
        benchmark.extra_info["filters_vs_duckdb"] = round(result["filters_s"] / max(base["filters_s"], 1e-3), 2)
        print(f"\nspark/duckdb: whole build {benchmark.extra_info['wall_vs_duckdb']}x, "
              f"filter step {benchmark.extra_info['filters_vs_duckdb']}x")

"""Building a tag from synthetic reviews: deepcart (DuckDB) vs. the seed project's pandas pipeline.

Both run in child processes so that their peak RSS can be measured; the ratio of wall times and of
peak memory is what counts (goal: >= 5x faster and >= 5x less memory). Size: ``DEEPCART_BENCH_REVIEWS``
(default 1,000,000); with ``--benchmark-disable`` (the CI smoke run) a 20,000-review file is used.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

PANDAS_BASELINE = """
import json, sys
import pandas as pd
reviews, meta, out, min_user, min_item = sys.argv[1:6]
# What the seed project did: chunked read_json(lines=True), filters in pandas, Parquet out.
chunks = []
for chunk in pd.read_json(reviews, lines=True, chunksize=100_000, compression="gzip",
                          dtype={"timestamp": "int64"}, convert_dates=False):
    chunks.append(chunk[["user_id", "parent_asin", "rating", "timestamp", "title", "text",
                         "helpful_vote", "verified_purchase"]])
df = pd.concat(chunks, ignore_index=True)
df = df.sort_values("timestamp").drop_duplicates(["user_id", "parent_asin"], keep="first")
df = df[df.groupby("user_id")["user_id"].transform("size") >= int(min_user)]
df = df[df.groupby("parent_asin")["parent_asin"].transform("size") >= int(min_item)]
df["timestamp"] = pd.to_datetime(df["timestamp"], unit="ms")
df.to_parquet(out + "/interactions.parquet", compression="zstd")
items = pd.concat(pd.read_json(meta, lines=True, chunksize=100_000, compression="gzip"))
items = items[items["parent_asin"].isin(df["parent_asin"].unique())]
items["details"] = items["details"].map(json.dumps)
items["price"] = pd.to_numeric(items["price"], errors="coerce")
items[["parent_asin", "title", "main_category", "store", "price", "average_rating", "rating_number",
       "details"]].to_parquet(out + "/items.parquet", compression="zstd")
print(len(df))
"""

DEEPCART_BUILD = """
import sys
from deepcart.cli import cli
reviews, meta, out, min_user, min_item, memory_limit = sys.argv[1:7]
try:
    cli(["build", "--reviews-file", reviews, "--items-file", meta, "--data-dir", out, "--tag", "bench",
         "--min-interactions", min_user, "--min-ratings", min_item, "--force", "--quiet",
         "--threads", "2", "--memory-limit", memory_limit], prog_name="deepcart")
except SystemExit as exit:
    assert not exit.code, exit.code
"""

#: ``--memory-limit`` of each deepcart variant: the benchmark's usual 2 GB, and a tight one that
#: trades time for memory (DuckDB spills the final sort to disk).
MEMORY_LIMITS = {"deepcart-duckdb": "2GB", "deepcart-duckdb-256MB": "256MB"}


@pytest.fixture(scope="module")
def synthetic_files(tmp_path_factory, request):
    from deepcart.pipeline.synthetic import generate

    disabled = request.config.getoption("benchmark_disable", False)
    n = 20_000 if disabled else int(os.environ.get("DEEPCART_BENCH_REVIEWS", 1_000_000))
    files = generate(tmp_path_factory.mktemp("synth"), n_reviews=n, seed=0)
    return files


def _run(child_peak_rss, code, files, out: Path, *extra: str):
    out.mkdir(parents=True, exist_ok=True)
    args = [str(files.reviews), str(files.meta), str(out), "5", "5", *extra]
    start = time.perf_counter()
    rss, _ = child_peak_rss(code, args)
    return time.perf_counter() - start, rss


@pytest.mark.parametrize("pipeline", [*MEMORY_LIMITS, "pandas-baseline"])
def test_build_tag(benchmark, pipeline, synthetic_files, child_peak_rss, tmp_path):
    code, extra = PANDAS_BASELINE, ()
    if pipeline in MEMORY_LIMITS:
        code, extra = DEEPCART_BUILD, (MEMORY_LIMITS[pipeline],)
    seconds, rss = benchmark.pedantic(
        _run, args=(child_peak_rss, code, synthetic_files, tmp_path / "out", *extra), rounds=1, iterations=1
    )
    benchmark.extra_info.update({"reviews": synthetic_files.n_reviews, "wall_s": round(seconds, 2),
                                 "peak_rss_mb": round(rss, 1)})
    print(f"\n{pipeline}: {synthetic_files.n_reviews:,} reviews in {seconds:.1f} s, peak RSS {rss:.0f} MiB")

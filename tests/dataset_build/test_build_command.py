"""`deepcart build` end to end on the real slices, on bad input and on failure."""

from __future__ import annotations

import csv
import gzip
import hashlib
import json
from collections import Counter
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from deepcart.cli import cli
from deepcart.pipeline import synthetic


def build(data_dir: Path, *args: str, env=None):
    return CliRunner().invoke(cli, ["build", "--data-dir", str(data_dir), "--quiet", *args],
                              env={"DEEPCART_LOAD_PLUGINS": "", **(env or {})})


def independent_jsonl_counts(path: Path) -> dict[str, int]:
    """Distinct (user, item) pairs keeping the earliest review, counted in plain Python."""
    earliest: dict[tuple[str, str], int] = {}
    lines = 0
    with gzip.open(path, "rt") as fh:
        for line in fh:
            lines += 1
            record = json.loads(line)
            key = (record["user_id"], record["parent_asin"])
            earliest[key] = min(earliest.get(key, record["timestamp"]), record["timestamp"])
    return {"users": len({u for u, _ in earliest}), "items": len({i for _, i in earliest}),
            "ratings": len(earliest), "lines": lines}


def read_tag(folder: Path):
    manifest = json.loads((folder / "manifest.json").read_text())
    return manifest, pq.read_table(folder / "interactions.parquet"), pq.read_table(folder / "items.parquet")


def test_magazine_reviews_and_meta(real_data, tmp_path):
    reviews = real_data / "Magazine_Subscriptions.jsonl.gz"
    meta = real_data / "meta_Magazine_Subscriptions.jsonl.gz"
    result = build(tmp_path, "--reviews-file", str(reviews), "--items-file", str(meta), "--tag", "mag")
    assert result.exit_code == 0, result.output
    manifest, interactions, items = read_tag(tmp_path / "mag")
    expected = independent_jsonl_counts(reviews)
    assert manifest["counts"] == {k: expected[k] for k in ("users", "items", "ratings")}
    assert (expected["users"], expected["items"]) == (7386, 1635)  # the slice's README
    assert manifest["ingest"]["duplicates_dropped"] == expected["lines"] - expected["ratings"] == 25
    assert interactions.num_rows == expected["ratings"]
    assert set(interactions.column_names) >= {"user_id", "parent_asin", "rating", "timestamp", "title",
                                              "text", "helpful_vote", "verified_purchase"}
    assert items.num_rows == expected["items"]  # every reviewed item has a meta row here
    source = manifest["sources"]["reviews"][0]
    assert source["sha256"] == hashlib.sha256(reviews.read_bytes()).hexdigest()
    assert source["bytes"] == reviews.stat().st_size and source["name"] == reviews.name
    assert manifest["schema_version"] == 1 and manifest["deepcart_version"]
    assert manifest["loader"]["name"] == "amazon2023"
    texts = interactions.column("text").to_pylist()
    assert not any("<br" in t for t in texts if t)


def test_partial_electronics(real_data, tmp_path):
    reviews = real_data / "Electronics_head10k_partial.jsonl.gz"
    result = build(tmp_path, "--reviews-file", str(reviews), "--tag", "elec")
    assert result.exit_code == 0, result.output
    manifest, interactions, items = read_tag(tmp_path / "elec")
    expected = independent_jsonl_counts(reviews)
    assert manifest["counts"] == {k: expected[k] for k in ("users", "items", "ratings")}
    assert items.num_rows == 0


def test_all_beauty_5core_is_a_fixed_point(real_data, tmp_path):
    result = build(tmp_path, "--reviews-file", str(real_data / "All_Beauty.5core.rating_only.csv"),
                   "--k-core", "5", "--tag", "beauty")
    assert result.exit_code == 0, result.output
    manifest, _, _ = read_tag(tmp_path / "beauty")
    assert manifest["counts"] == {"users": 253, "items": 356, "ratings": 2535}
    assert manifest["filters"][0]["step"] == "k-core"
    assert manifest["filters"][0]["dropped_ratings"] == 0
    assert manifest["loader"]["name"] == "amazon2023-csv"


@pytest.mark.parametrize("name", ["All_Beauty.0core.last_out_w_his.train.csv",
                                  "All_Beauty.0core.last_out_w_his.valid.csv"])
def test_all_beauty_history_csvs(real_data, tmp_path, name):
    path = real_data / name
    with open(path) as fh:
        rows = list(csv.DictReader(fh))
    earliest: dict[tuple[str, str], int] = {}
    for row in rows:
        key = (row["user_id"], row["parent_asin"])
        earliest[key] = min(earliest.get(key, int(row["timestamp"])), int(row["timestamp"]))
    result = build(tmp_path, "--reviews-file", str(path), "--tag", "hist")
    assert result.exit_code == 0, result.output
    manifest, _, _ = read_tag(tmp_path / "hist")
    assert manifest["counts"] == {"users": len({u for u, _ in earliest}),
                                  "items": len({i for _, i in earliest}), "ratings": len(earliest)}


def test_filter_steps_report_and_chain(real_data, tmp_path):
    reviews = real_data / "Magazine_Subscriptions.jsonl.gz"
    result = CliRunner().invoke(cli, ["build", "--data-dir", str(tmp_path), "--reviews-file", str(reviews),
                                      "--min-ratings", "20", "--min-interactions", "2", "--tag", "f",
                                      "--filter-order", "min-ratings,min-interactions,orphans,subsample,k-core"],
                                env={"DEEPCART_LOAD_PLUGINS": ""})
    assert result.exit_code == 0, result.output
    manifest, interactions, _ = read_tag(tmp_path / "f")
    assert [s["step"] for s in manifest["filters"]] == ["min-ratings", "min-interactions"]
    assert "Dropped" in result.output and "items (<20 ratings)" in result.output
    users = Counter(interactions.column("user_id").to_pylist())
    assert min(users.values()) >= 2
    assert "Found " in result.output and " users with " in result.output


def test_existing_tag_needs_force(real_data, tmp_path):
    args = ["--reviews-file", str(real_data / "All_Beauty.5core.rating_only.csv"), "--tag", "t"]
    assert build(tmp_path, *args).exit_code == 0
    before = (tmp_path / "t" / "manifest.json").read_text()
    again = build(tmp_path, *args, "--min-interactions", "6")
    assert again.exit_code != 0 and "already exists" in again.output and "--force" in again.output
    assert (tmp_path / "t" / "manifest.json").read_text() == before
    forced = build(tmp_path, *args, "--min-interactions", "6", "--force")
    assert forced.exit_code == 0, forced.output
    assert json.loads((tmp_path / "t" / "manifest.json").read_text())["filters"][0]["step"] == "min-interactions"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t"]


@pytest.mark.parametrize("tag", ["../escape", "a/b", "..", ".hidden", "x" * 101, "tab\tname"])
def test_invalid_tags_are_refused(real_data, tmp_path, tag):
    data = tmp_path / "data"
    result = build(data, "--reviews-file", str(real_data / "All_Beauty.5core.rating_only.csv"), "--tag", tag)
    assert result.exit_code != 0 and "invalid dataset tag" in result.output
    assert not (tmp_path / "escape").exists()
    assert not data.exists() or not any(data.iterdir())


def test_failure_in_the_last_step_leaves_no_tag(real_data, tmp_path, monkeypatch):
    import deepcart.pipeline.tags as tags_module  # build publishes through tags.atomic_folder

    def explode(*args, **kwargs):
        raise RuntimeError("injected failure while publishing")

    monkeypatch.setattr(tags_module, "publish_folder", explode)
    result = build(tmp_path, "--reviews-file", str(real_data / "All_Beauty.5core.rating_only.csv"), "--tag", "t")
    assert result.exit_code != 0 and isinstance(result.exception, RuntimeError)
    assert list(tmp_path.iterdir()) == []  # neither the tag nor the temporary build folder


def test_out_of_memory_is_a_clear_error_and_leaves_no_tag(real_data, tmp_path):
    # 2 MB is far below what DuckDB needs to read the Magazine file: its OutOfMemoryException
    # must become one readable line naming the step and the setting, with nothing left behind.
    result = build(tmp_path, "--reviews-file", str(real_data / "Magazine_Subscriptions.jsonl.gz"),
                   "--tag", "t", "--memory-limit", "2MB", "--threads", "1")
    assert result.exit_code == 1, result.output
    assert "ran out of memory during ingest" in result.output and "--memory-limit 2MB" in result.output
    assert "Traceback" not in result.output
    assert list(tmp_path.iterdir()) == []


def test_bad_line_fails_with_file_and_line_and_writes_nothing(tmp_path, real_data):
    good = gzip.open(real_data / "Magazine_Subscriptions.jsonl.gz", "rt").read().splitlines()[:50]
    bad = json.loads(good[10])
    bad["rating"] = 0.0
    good[10] = json.dumps(bad)
    source = tmp_path / "reviews.jsonl"
    source.write_text("\n".join(good) + "\n")
    data = tmp_path / "data"
    result = build(data, "--reviews-file", str(source), "--tag", "bad")
    assert result.exit_code == 1
    assert "reviews.jsonl" in result.output and "line 11" in result.output and "rating" in result.output
    assert not (data / "bad").exists()
    skipped = build(data, "--reviews-file", str(source), "--tag", "bad", "--on-bad-records", "skip")
    assert skipped.exit_code == 0, skipped.output
    rejects = [json.loads(line) for line in (data / "bad" / "rejects.jsonl").read_text().splitlines()]
    assert [r["line"] for r in rejects] == [11]
    manifest = json.loads((data / "bad" / "manifest.json").read_text())
    assert manifest["ingest"]["rejected"] == 1 and manifest["ingest"]["lines_read"] == 50


def test_missing_input_file(tmp_path):
    result = build(tmp_path, "--reviews-file", str(tmp_path / "nope.jsonl.gz"))
    assert result.exit_code != 0 and "nope.jsonl.gz" in result.output and "no such file" in result.output


def test_embedded_default_builds_without_input(tmp_path, monkeypatch):
    import deepcart.pipeline.default_dataset as datasets

    monkeypatch.setattr(datasets, "DEFAULT_SYNTH_REVIEWS", 4000)
    result = build(tmp_path, "--min-interactions", "2")  # explicit filters replace the default 5-core
    assert result.exit_code == 0, result.output
    manifest = json.loads((tmp_path / "synthetic" / "manifest.json").read_text())
    assert manifest["sources"]["embedded_default"]["synthetic_reviews"] == 4000
    assert manifest["counts"]["ratings"] > 0
    cached = list((tmp_path / "sources").rglob("*.jsonl.gz"))
    assert len(cached) == 2
    # Second use reuses the cached files instead of generating again.
    mtimes = {p: p.stat().st_mtime_ns for p in cached}
    assert build(tmp_path, "--force", "--min-interactions", "2").exit_code == 0
    assert {p: p.stat().st_mtime_ns for p in cached} == mtimes
    assert manifest["sources"]["embedded_default"]["world_version"] == synthetic.WORLD_VERSION
    assert not datasets.stale_default_tag(tmp_path)


def test_building_the_embedded_default_again_is_nothing_to_do(tmp_path, monkeypatch):
    """`deepcart build` right after the Quickstart (which built the default) succeeds, doing nothing."""
    import deepcart.pipeline.default_dataset as datasets

    monkeypatch.setattr(datasets, "DEFAULT_SYNTH_REVIEWS", 4000)
    assert build(tmp_path).exit_code == 0
    manifest = (tmp_path / "synthetic" / "manifest.json").read_bytes()
    again = build(tmp_path)
    assert again.exit_code == 0, again.output
    assert "already built from the embedded default" in again.output and "nothing to do" in again.output
    assert (tmp_path / "synthetic" / "manifest.json").read_bytes() == manifest  # untouched
    other = build(tmp_path, "--k-core", "3")  # not the same build: replacing it still needs --force
    assert other.exit_code != 0 and "already exists" in other.output


def test_stale_embedded_default_is_detected_but_own_tags_are_not(real_data, tmp_path):
    import deepcart.pipeline.default_dataset as datasets

    # A person's own tag called "synthetic" (no embedded_default note) is never stale ...
    result = build(tmp_path, "--reviews-file", str(real_data / "All_Beauty.5core.rating_only.csv"),
                   "--tag", "synthetic")
    assert result.exit_code == 0, result.output
    assert not datasets.stale_default_tag(tmp_path)
    # ... an embedded default from an older generator is, and so is one that predates versions.
    manifest_path = tmp_path / "synthetic" / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    for note in ({"synthetic_reviews": 300_000, "seed": 0, "world_version": synthetic.WORLD_VERSION - 1},
                 {"synthetic_reviews": 300_000, "seed": 0}):
        manifest["sources"]["embedded_default"] = note
        manifest_path.write_text(json.dumps(manifest))
        assert datasets.stale_default_tag(tmp_path)


def test_bad_filter_order(tmp_path, real_data):
    result = build(tmp_path, "--reviews-file", str(real_data / "All_Beauty.5core.rating_only.csv"),
                   "--k-core", "5", "--filter-order", "min-ratings")
    assert result.exit_code != 0 and "leaves out k-core" in result.output


def test_run_rebuilds_a_stale_embedded_default(tmp_path, monkeypatch):
    import deepcart.pipeline.default_dataset as datasets

    monkeypatch.setattr(datasets, "DEFAULT_SYNTH_REVIEWS", 4000)
    assert build(tmp_path, "--min-interactions", "2").exit_code == 0
    manifest_path = tmp_path / "synthetic" / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["sources"]["embedded_default"]["world_version"] = synthetic.WORLD_VERSION - 1
    manifest_path.write_text(json.dumps(manifest))
    result = CliRunner().invoke(cli, ["run", "--recommender", "naive", "--metric", "rmse"],
                                env={"DEEPCART_LOAD_PLUGINS": "", "DEEPCART_DATA": str(tmp_path)})
    assert result.exit_code == 0, result.output
    assert "older synthetic generator" in result.output
    rebuilt = json.loads(manifest_path.read_text())
    assert rebuilt["sources"]["embedded_default"]["world_version"] == synthetic.WORLD_VERSION

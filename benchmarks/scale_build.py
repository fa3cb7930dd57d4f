"""The whole Electronics category on one machine: a 43.9M-review build, as one file and as shards.

A benchmark script, not a timed test (it runs for most of an hour on 2 cores)::

    python benchmarks/scale_build.py --work /big/disk/scale            # 43.9M reviews, 8 shards
    python benchmarks/scale_build.py --work /tmp/s --reviews 1000000   # a quick look

1. ``deepcart synth --reviews N --shards S`` (skipped when the files are there): the reviews as S
   shards, each a run of whole users.
2. The one-file input is the shards joined byte for byte (a gzip file may hold several members;
   every reader here takes it as one stream), so both builds read exactly the same lines.
3. ``deepcart build --k-core 5 --memory-limit 3GB`` of the one file, then of the shards (a glob),
   each in a child process on every core (DuckDB's limit covers its buffers, not the whole process:
   at the default 4GB the process passed 4 GiB): wall time, the child's
   peak RSS, and the peak disk use of the data folder (the build's work folder, DuckDB's spill and
   the staged Parquet files live there) polled every second.
4. The two tags must be equal: counts, filter steps and a hash over every interaction.

Prints a Markdown table and writes ``--json``. Figures: ``benchmarks/README.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

REVIEWS = 43_900_000  # the Electronics category of the 2023 release
SHARDS = 8


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "deepcart.cli", *args]


def folder_bytes(folder: Path) -> int:
    """Bytes of the files under ``folder`` (apparent size), skipping what vanishes meanwhile."""
    total = 0
    for root, _, files in os.walk(folder):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_size
            except OSError:
                pass
    return total


def run_measured(args: list[str], watch: Path) -> dict[str, float]:
    """Run ``args``; wall seconds, the child's peak RSS and the peak bytes under ``watch``."""
    peak_disk = [0]
    done = threading.Event()

    def poll() -> None:
        while not done.is_set():
            peak_disk[0] = max(peak_disk[0], folder_bytes(watch))
            done.wait(1.0)

    watcher = threading.Thread(target=poll, daemon=True)
    start = time.perf_counter()
    proc = subprocess.Popen(args, env={**os.environ, "DEEPCART_LOAD_PLUGINS": ""})
    watcher.start()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    done.set()
    watcher.join()
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"failed: {' '.join(args)}")
    return {"wall_s": round(wall, 1), "peak_rss_mib": round(usage.ru_maxrss / 1024),
            "cpu_s": round(usage.ru_utime + usage.ru_stime, 1), "peak_disk_bytes": peak_disk[0]}


def tag_fingerprint(tag: Path) -> dict:
    """Counts, filter steps and an order-free hash of every interaction of a built tag."""
    import duckdb

    manifest = json.loads((tag / "manifest.json").read_text())
    parquet = str(tag / "interactions.parquet").replace("'", "''")
    rows, digest = duckdb.connect().execute(
        f"SELECT count(*), bit_xor(hash(user_id, parent_asin, rating, timestamp)) "
        f"FROM read_parquet('{parquet}')").fetchone()
    steps = [(s.get("step"), s.get("dropped_ratings")) for s in manifest.get("filters", [])]
    return {"counts": manifest.get("counts"), "steps": steps, "rows": rows, "hash": str(digest)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", type=Path, required=True, help="folder for the inputs and the builds")
    parser.add_argument("--reviews", type=int, default=REVIEWS)
    parser.add_argument("--shards", type=int, default=SHARDS)
    parser.add_argument("--memory-limit", default="3GB", help="the builds' --memory-limit")
    parser.add_argument("--json", type=Path, help="write the figures here too")
    args = parser.parse_args()

    src = args.work / "src"
    shard_glob = "Synthetic_Electronics-*-of-*.jsonl.gz"
    shards = sorted(src.glob(shard_glob))
    meta = src / "meta_Synthetic_Electronics.jsonl.gz"
    if len(shards) != args.shards or not meta.exists():
        synth = run_measured(cli("synth", "--reviews", str(args.reviews), "--shards", str(args.shards),
                                 "--out", str(src), "--force", "-q"), src)
        shards = sorted(src.glob(shard_glob))
        print(f"synth: {synth}", flush=True)
    one = args.work / "one" / "Synthetic_Electronics.jsonl.gz"
    if not one.exists():
        one.parent.mkdir(parents=True, exist_ok=True)
        with open(one.with_suffix(".part"), "wb") as out:
            for shard in shards:
                with open(shard, "rb") as part:
                    shutil.copyfileobj(part, out, 16 << 20)
        one.with_suffix(".part").rename(one)
    input_bytes = sum(p.stat().st_size for p in shards) + meta.stat().st_size

    results = {"reviews": args.reviews, "shards": args.shards, "input_bytes": input_bytes,
               "cpus": os.cpu_count(), "memory_limit": args.memory_limit}
    for name, reviews in (("one file", str(one)), (f"{args.shards} shards", str(src / shard_glob))):
        data = args.work / ("data-" + name.split()[0])
        shutil.rmtree(data, ignore_errors=True)
        data.mkdir(parents=True)
        measured = run_measured(cli("build", "--data-dir", str(data), "--tag", "scale", "--reviews-file",
                                    reviews, "--items-file", str(meta), "--k-core", "5", "--memory-limit",
                                    args.memory_limit, "-q"), data)
        measured["fingerprint"] = tag_fingerprint(data / "scale")
        measured["disk_over_input"] = round(measured["peak_disk_bytes"] / input_bytes, 2)
        results[name] = measured
        print(f"{name}: {measured}", flush=True)
    single, sharded = results["one file"], results[f"{args.shards} shards"]
    results["equal"] = single["fingerprint"] == sharded["fingerprint"]
    results["speedup"] = round(single["wall_s"] / sharded["wall_s"], 2)

    print(f"\n{args.reviews:,} reviews ({input_bytes / 2**30:.2f} GiB gzip input), {os.cpu_count()} cores\n")
    print("| input | wall | CPU | peak RSS | peak disk / input |")
    print("|---|---|---|---|---|")
    for name in ("one file", f"{args.shards} shards"):
        r = results[name]
        print(f"| {name} | {r['wall_s']:.0f} s | {r['cpu_s']:.0f} s | {r['peak_rss_mib']:,} MiB | "
              f"{r['disk_over_input']:.2f}x |")
    print(f"\nsharded speed-up {results['speedup']}x; tags equal: {results['equal']}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    if not results["equal"]:
        raise SystemExit("the two builds differ")


if __name__ == "__main__":
    main()

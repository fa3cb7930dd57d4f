"""The dashboard under 20 concurrent browser sessions: time to first picks, and memory afterwards.

``deepcart serve`` (a ``knn`` model on a synthetic 5-core) in a subprocess; Chromium (Playwright)
opens 20 pages at once, each in its own browser context (its own session), and each page's time
from navigation to its first picks list is measured. The baseline in the same run is one page
alone (the median of three loads): the ratio p95(20) / one is what concurrency costs. Then every
page closes and, once Bokeh has dropped the unused sessions, the server's resident memory is
compared with its memory when idle (started, one page served and dropped): the goal is within
20%. (Before the session cap and the cleanup, 200 page loads at once took a median 60 s each and
left the server at 562 MB from 271 MB.)

``--benchmark-disable`` (CI) runs 3 pages on a small tag. Needs Chromium at /usr/bin/chromium and
playwright; skipped otherwise.
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import statistics
import subprocess
import sys
import time

import pytest

from deepcart.plugins.frontends.panel.server import UNUSED_CHECK_SECONDS, UNUSED_SESSION_SECONDS
from deepcart.toolkit.testing import CHROMIUM, CHROMIUM_ARGS, running_server

N_SESSIONS, N_SESSIONS_SMOKE = 20, 3
REVIEWS, REVIEWS_SMOKE = 200_000, 20_000
FREED = UNUSED_SESSION_SECONDS + 2 * UNUSED_CHECK_SECONDS + 3

pytestmark = [
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"Chromium not found at {CHROMIUM}"),
    pytest.mark.skipif(importlib.util.find_spec("playwright") is None, reason="playwright is not installed"),
]


def run_cli(*args: str) -> None:
    result = subprocess.run([sys.executable, "-m", "deepcart.cli", *args], capture_output=True, text=True,
                            env={**os.environ, "DEEPCART_LOAD_PLUGINS": ""})
    assert result.returncode == 0, result.stderr[-3000:]


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process ``pid`` so far."""
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mib(pid: int, field: str = "VmRSS") -> float:
    with open(f"/proc/{pid}/status") as fh:
        return next(int(line.split()[1]) for line in fh if line.startswith(field + ":")) / 1024


@pytest.fixture(scope="module")
def server(request, tmp_path_factory):
    """(url, pid) of ``deepcart serve`` with a knn model, no session cap in the way."""
    smoke = request.config.getoption("benchmark_disable")
    root = tmp_path_factory.mktemp("sessions")
    data = root / "data"
    run_cli("synth", "--reviews", str(REVIEWS_SMOKE if smoke else REVIEWS), "--out", str(root / "src"), "-q")
    run_cli("build", "--data-dir", str(data), "--tag", "bench", "--k-core", "5", "-q",
            "--reviews-file", str(root / "src" / "Synthetic_Electronics.jsonl.gz"),
            "--items-file", str(root / "src" / "meta_Synthetic_Electronics.jsonl.gz"))
    run_cli("train", "--data-dir", str(data), "--data-tag", "bench", "--recommender", "knn",
            "--out", str(root / "knn"), "-q")
    with running_server(["--data-dir", str(data), "--model", str(root / "knn"), "--max-sessions", "100"],
                        log=root / "server.log") as (port, proc):
        yield f"http://127.0.0.1:{port}/", proc.pid


async def first_picks(browser, url: str) -> float:
    """Seconds from navigation to the first picks list, in a fresh context (a new session)."""
    context = await browser.new_context()
    try:
        page = await context.new_page()
        start = time.perf_counter()
        await page.goto(url, timeout=600_000)
        await page.locator('.dc-picks[data-version="1"]').wait_for(timeout=600_000)
        return time.perf_counter() - start
    finally:
        await context.close()


async def measure(url: str, pid: int, n: int) -> dict[str, float]:
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            start_rss = rss_mib(pid)
            await first_picks(browser, url)  # warm-up: the first page imports and caches
            await asyncio.sleep(FREED)
            idle_rss = rss_mib(pid)
            alone = [await first_picks(browser, url) for _ in range(3)]
            await asyncio.sleep(FREED)
            cpu = cpu_seconds(pid)
            wall = time.perf_counter()
            times = await asyncio.gather(*(first_picks(browser, url) for _ in range(n)))
            wall, cpu = time.perf_counter() - wall, cpu_seconds(pid) - cpu
            peak = rss_mib(pid, "VmHWM")
            await asyncio.sleep(FREED)
            after_rss = rss_mib(pid)
        finally:
            await browser.close()
    ordered = sorted(times)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return {"sessions": n, "alone_s": statistics.median(alone), "p50_s": statistics.median(times),
            "p95_s": p95, "p95_over_alone": p95 / statistics.median(alone), "wall_s": wall,
            "server_cpu_s": cpu, "start_rss_mib": start_rss,
            "idle_rss_mib": idle_rss, "peak_rss_mib": peak, "after_rss_mib": after_rss,
            "after_over_idle": after_rss / idle_rss}


def test_concurrent_sessions(benchmark, server, request):
    url, pid = server
    n = N_SESSIONS_SMOKE if request.config.getoption("benchmark_disable") else N_SESSIONS
    result = benchmark.pedantic(lambda: asyncio.run(measure(url, pid, n)), rounds=1, iterations=1)
    benchmark.extra_info.update({k: round(v, 3) for k, v in result.items()})
    print("\n" + ", ".join(f"{k}={v:.3g}" for k, v in result.items()))
    assert result["p50_s"] > 0 and result["after_rss_mib"] > 0

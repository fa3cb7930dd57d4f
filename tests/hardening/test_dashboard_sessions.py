"""The dashboard serves at most ``--max-sessions`` pages at once and frees closed and idle ones.

A server with room for two sessions and a 3-second idle limit: raw page requests fill it (each
page request makes a session, which lives on unused until Bokeh's cleanup drops it), the next one
gets the 503 "busy" page, and the place comes back once the unused sessions are dropped. A page
in Chromium left idle is told so and disconnected, which frees its place too (a browser, because
Bokeh's Python client does not apply the page's updates, so it would never show the notice).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("panel")

from deepcart.plugins.frontends.panel.server import UNUSED_CHECK_SECONDS, UNUSED_SESSION_SECONDS  # noqa: E402
from deepcart.toolkit.testing import CHROMIUM, CHROMIUM_ARGS, running_server  # noqa: E402

IDLE_MINUTES = 0.05  # 3 s
FREED_WITHIN = UNUSED_SESSION_SECONDS + 3 * UNUSED_CHECK_SECONDS + 5


SERVER_PID: dict[int, int] = {}  # port -> pid of the server process


@pytest.fixture(scope="module")
def server(synthetic_tag, naive_model, tmp_path_factory):
    """``deepcart serve`` with a naive model, two sessions at most, 3 s idle limit; yields its port."""
    data_dir, _ = synthetic_tag
    log = tmp_path_factory.mktemp("log") / "server.log"
    with running_server(["--data-dir", str(data_dir), "--model", str(naive_model), "--max-sessions", "2",
                         "--idle-minutes", str(IDLE_MINUTES)], log=log) as (port, proc):
        SERVER_PID[port] = proc.pid
        yield port


def get(port: int, path: str = "/") -> tuple[int, dict[str, str], str]:
    """Status, headers and body of a plain GET."""
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    conn.request("GET", path)
    response = conn.getresponse()
    body = response.read().decode(errors="replace")
    conn.close()
    return response.status, {k.lower(): v for k, v in response.getheaders()}, body


def wait_for_room(port: int) -> float:
    """Seconds until a page request is served again (the unused sessions dropped)."""
    start = time.monotonic()
    while time.monotonic() - start < FREED_WITHIN:
        status, _, _ = get(port)
        if status == 200:
            return time.monotonic() - start
        time.sleep(1)
    pytest.fail(f"no room after {FREED_WITHIN} s: unused sessions were not dropped")


def test_beyond_the_cap_a_busy_page_then_room_again(server):
    wait_for_room(server)  # one session now (this request's), unused
    assert get(server)[0] == 200  # the second
    status, headers, body = get(server)
    assert status == 503 and headers["retry-after"] == "15"
    assert "deepcart is busy" in body and "--max-sessions" in body
    assert '<meta http-equiv="refresh"' in body  # the page tries again by itself
    assert get(server, "/static/extensions/panel/css/loading.css")[0] != 503  # only new pages wait
    # nobody connected to those pages: Bokeh drops them and the places come back
    assert wait_for_room(server) <= FREED_WITHIN


@pytest.mark.browser
@pytest.mark.skipif(not CHROMIUM.exists(), reason=f"Chromium not found at {CHROMIUM}")
def test_an_idle_page_is_told_and_disconnected(server):
    """In a browser: the page shows its picks, then, left alone, says it was closed and loses its
    websocket; its place comes back."""
    playwright = pytest.importorskip("playwright.sync_api")

    wait_for_room(server)
    time.sleep(FREED_WITHIN)  # the request wait_for_room made is dropped too: the server is empty
    with playwright.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            console: list[str] = []
            page.on("console", lambda message: console.append(message.text))
            page.goto(f"http://127.0.0.1:{server}/")
            page.locator('.dc-picks[data-version="1"]').wait_for(timeout=60_000)
            assert get(server)[0] == 200  # the second place
            assert get(server)[0] == 503  # full: the open page holds one
            page.get_by_text("This page was idle for 0.05 minutes and was closed").wait_for(timeout=30_000)
            deadline = time.monotonic() + 10
            while not any("Lost websocket" in line or "disconnected" in line.lower() for line in console):
                assert time.monotonic() < deadline, f"the websocket stayed open: {console[-5:]}"
                page.wait_for_timeout(250)
        finally:
            browser.close()
    assert wait_for_room(server) <= FREED_WITHIN


def test_the_server_runs_on_the_system_allocator(server):
    """``deepcart serve`` restarted itself (same pid) with PYTHONMALLOC=malloc, so that memory freed
    by closed sessions goes back to the system (see ``allocator.py``)."""
    environ = Path(f"/proc/{SERVER_PID[server]}/environ").read_bytes().split(b"\0")
    assert b"PYTHONMALLOC=malloc" in environ


def test_an_in_process_caller_is_never_replaced(monkeypatch):
    """Under a test runner (or any program calling the command in-process) there is no restart."""
    from deepcart.plugins.frontends.panel import allocator

    monkeypatch.delenv("PYTHONMALLOC", raising=False)
    monkeypatch.delenv(allocator.RESTARTED, raising=False)
    monkeypatch.setattr(allocator.os, "execve", lambda *a: pytest.fail(f"would replace pytest: {a}"))
    assert not allocator.started_as_deepcart()
    allocator.restart_with_system_malloc()  # returns
    monkeypatch.setattr(sys, "argv", ["/somewhere/bin/deepcart", "serve"])
    assert allocator.started_as_deepcart()

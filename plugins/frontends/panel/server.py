"""Serving the dashboard: who may ask (host names), how many at once, how long an unused page lives.

One Panel (Bokeh) server serves :func:`~deepcart.plugins.frontends.panel.view.make_app` per browser
session. Three guards sit in front of it, all in the tornado application before any app code runs:

* **Host names** (:func:`guard_requests`): only the loopback names, the ``--address`` and the
  ``--allow-host`` names; any other ``Host``, or a page of any other ``Origin`` (DNS rebinding),
  gets 403.
* **A session cap** (:class:`SessionBook`): a page request beyond ``--max-sessions`` live sessions
  gets a 503 "busy, try again" page that retries by itself, instead of slowing everyone down (200
  page loads at once once took a median 60 s each and doubled the server's memory for good).
* **Freeing sessions**: a closed tab's session is dropped by Bokeh's unused-session cleanup after
  :data:`UNUSED_SESSION_SECONDS` (its default is 15 s, checked every 17 s); a page left open
  without a click for ``--idle-minutes`` is told so and disconnected, which frees it the same way.
  After a session is dropped, :func:`release_memory` hands the freed memory back to the system.
"""

from __future__ import annotations

import ctypes
import functools
import gc
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import panel as pn

from deepcart.plugins.frontends.panel.frontend import DEFAULT_IDLE_MINUTES, DEFAULT_MAX_SESSIONS, WILDCARD_ADDRESSES
from deepcart.plugins.frontends.panel.state import DashboardData, Notice
from deepcart.plugins.frontends.panel.view import make_app

if TYPE_CHECKING:
    from deepcart.plugins.frontends.panel.view import DashboardView

LOG = logging.getLogger(__name__)

#: Seconds a session without a connection (a closed tab, a page that never connected) lives.
UNUSED_SESSION_SECONDS = 10
#: How often Bokeh looks for such sessions.
UNUSED_CHECK_SECONDS = 2
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")
APP_PATH = "/"


@dataclass
class SessionBook:
    """The live dashboard views by session id, the cap and the idle limit."""

    max_sessions: int
    idle_seconds: float
    views: dict[str, DashboardView] = field(default_factory=dict)
    closing: set[str] = field(default_factory=set)

    def busy(self, app) -> bool:
        """Whether the Bokeh application ``app`` already holds ``max_sessions`` sessions."""
        return len(app.get_sessions(APP_PATH)) >= self.max_sessions

    def add(self, view: DashboardView) -> None:
        """Book the view of the session being built (called from ``make_app``)."""
        context = pn.state.curdoc.session_context if pn.state.curdoc is not None else None
        if context is None:
            return  # the warm-up run at start-up has no session
        self.views[context.id] = view
        pn.state.on_session_destroyed(self._destroyed)

    def close_idle(self, app) -> int:
        """Tell each connected session idle for ``idle_seconds`` so, then disconnect it; the count."""
        now = time.monotonic()
        count = 0
        for session in app.get_sessions(APP_PATH):
            view = self.views.get(session.id)
            if (view is None or session.id in self.closing or session.connection_count == 0
                    or now - view.last_active < self.idle_seconds):
                continue
            self.closing.add(session.id)
            count += 1
            minutes = self.idle_seconds / 60
            text = (f"This page was idle for {minutes:g} minutes and was closed to make room for others. "
                    "Reload the page to start again; ratings you did not download are gone.")

            def goodbye(view=view, session=session, text=text) -> None:
                view.notify(Notice("warning", text))
                # after the message has gone out
                session.document.add_timeout_callback(lambda: disconnect(session), 1000)

            session.document.add_next_tick_callback(goodbye)
        if count:
            LOG.info("closed %d idle dashboard sessions", count)
        return count

    def _destroyed(self, context) -> None:
        self.views.pop(context.id, None)
        self.closing.discard(context.id)
        release_memory()


def disconnect(session) -> None:
    """Close every websocket of a Bokeh ``session`` (Bokeh then drops it as unused)."""
    # Bokeh has no public call for this; ServerSession keeps its connections in this set and each
    # connection its tornado websocket handler (tests/hardening/test_dashboard_sessions.py checks it).
    for connection in list(session._subscribed_connections):
        connection._socket.close()


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    try:
        return ctypes.CDLL("libc.so.6").malloc_trim
    except (OSError, AttributeError):  # not glibc: the memory is reused, only not returned
        return None


def release_memory() -> None:
    """Collect garbage and return freed heap pages to the system (glibc), so that the server's
    memory goes back down when sessions end instead of staying at its peak."""
    gc.collect()
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


def serve(data: DashboardData, *, port: int = 5006, address: str = "127.0.0.1", show: bool = False,
          on_listening: Callable[[], None] | None = None, allow_hosts: Sequence[str] = (),
          max_sessions: int = DEFAULT_MAX_SESSIONS, idle_minutes: float = DEFAULT_IDLE_MINUTES) -> None:
    """Serve the dashboard until interrupted (see the module doc for the guards).

    The server binds its port first (a taken port raises ``OSError`` here), then ``on_listening()``
    runs (the command prints the page's address only then), then requests are served.
    """
    from tornado.ioloop import PeriodicCallback

    allowed = allowed_hosts(address, allow_hosts)
    book = SessionBook(max_sessions=max_sessions, idle_seconds=idle_minutes * 60)
    server = pn.serve({APP_PATH: lambda: make_app(data, on_view=book.add)}, port=port, address=address,
                      show=show, title="deepcart",
                      # Bokeh's own origin list takes no IPv6 literals; guard_requests checks every Origin
                      websocket_origin=[f"{host}:{port}" for host in sorted(allowed) if ":" not in host],
                      verbose=False, warm=True, start=False,
                      check_unused_sessions_milliseconds=UNUSED_CHECK_SECONDS * 1000,
                      unused_session_lifetime_milliseconds=UNUSED_SESSION_SECONDS * 1000)
    app = server._tornado
    guard_requests(app, allowed, busy=lambda: book.busy(app))
    check_every = max(0.5, min(60.0, book.idle_seconds / 4))
    PeriodicCallback(lambda: book.close_idle(app), check_every * 1000).start()
    if on_listening is not None:
        on_listening()
    server.start()
    try:
        server.io_loop.start()
    except RuntimeError:  # the loop was stopped by Ctrl-C (Panel's own SIGINT handler)
        pass


def allowed_hosts(address: str, extra: Sequence[str] = ()) -> set[str]:
    """Host names the server answers to: loopback, the listening address (unless a wildcard) and ``extra``."""
    names = {*LOOPBACK_NAMES, *(h.strip().lower() for h in extra if h.strip())}
    if address not in WILDCARD_ADDRESSES:
        names.add(address.lower())
    return names


def host_name(netloc: str) -> str:
    """``evil.example:5006`` -> ``evil.example``; ``[::1]:5006`` -> ``::1``."""
    netloc = netloc.strip().lower()
    if netloc.startswith("["):
        return netloc[1:netloc.find("]")] if "]" in netloc else netloc
    return netloc.rsplit(":", 1)[0] if netloc.count(":") == 1 else netloc


BUSY_PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>deepcart is busy</title>
<meta http-equiv="refresh" content="{retry}"></head>
<body style="font-family: system-ui, sans-serif; max-width: 40em; margin: 4em auto; color: #222">
<h1>deepcart is busy</h1>
<p>{count} people are using this dashboard, as many as it serves at once. This page tries again
by itself in {retry} seconds (or reload it).</p>
<p style="color: #666">Whoever runs it can allow more with <code>deepcart serve --max-sessions N</code>.</p>
</body></html>
"""


def guard_requests(app, allowed: set[str], busy: Callable[[], bool] = lambda: False) -> None:
    """Make the tornado ``app`` answer, before routing to any handler (page, websocket, static files):
    403 to a ``Host`` or an ``Origin`` outside ``allowed``; 503 with :data:`BUSY_PAGE` to a request
    for a new page while ``busy()``."""
    from urllib.parse import urlparse

    from tornado.web import RequestHandler

    class Forbidden(RequestHandler):
        def prepare(self) -> None:
            self.set_status(403)
            self.finish("403: deepcart answers only to " + ", ".join(sorted(allowed))
                        + " (serve with --allow-host NAME to add one)\n")

    class Busy(RequestHandler):
        def prepare(self) -> None:
            retry = 15
            self.set_status(503)
            self.set_header("Retry-After", str(retry))
            self.set_header("Content-Type", "text/html; charset=utf-8")
            self.finish(BUSY_PAGE.format(retry=retry, count=len(app.get_sessions(APP_PATH))))

    find = app.find_handler

    def guarded(request, **kwargs):
        origin = request.headers.get("Origin")
        bad_origin = origin is not None and origin != "null" and host_name(urlparse(origin).netloc) not in allowed
        if host_name(request.host or "") not in allowed or bad_origin:
            return app.get_handler_delegate(request, Forbidden)
        if request.method == "GET" and request.path == APP_PATH and busy():
            return app.get_handler_delegate(request, Busy)
        return find(request, **kwargs)

    app.find_handler = guarded

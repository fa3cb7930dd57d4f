"""The dashboard answers only to allowed host names: raw HTTP and websocket requests with a foreign
``Host`` or ``Origin`` (DNS rebinding) get 403 before any app code runs."""

from __future__ import annotations

import base64
import os
import socket

import pytest

pytest.importorskip("panel")

from deepcart.toolkit.testing import running_server  # noqa: E402


@pytest.fixture(scope="module")
def server(synthetic_tag, naive_model, tmp_path_factory):
    """``deepcart serve`` with a naive model, allowing one extra name; yields its port."""
    data_dir, _ = synthetic_tag
    with running_server(["--data-dir", str(data_dir), "--model", str(naive_model), "--allow-host", "dashboard.lan"],
                        log=tmp_path_factory.mktemp("log") / "server.log") as (port, _):
        yield port


def request(port: int, host: str, path: str = "/", origin: str | None = None, websocket: bool = False) -> str:
    """The status line of a raw HTTP request."""
    lines = [f"GET {path} HTTP/1.1", f"Host: {host}", "Connection: close"]
    if origin:
        lines.append(f"Origin: {origin}")
    if websocket:
        lines += ["Upgrade: websocket", "Connection: Upgrade", "Sec-WebSocket-Version: 13",
                  f"Sec-WebSocket-Key: {base64.b64encode(os.urandom(16)).decode()}"]
    with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
        s.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        data = b""
        while b"\r\n" not in data:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
    return data.decode(errors="replace").split("\r\n")[0]


def test_foreign_hosts_get_403(server):
    assert request(server, f"evil.example:{server}").endswith("403 Forbidden")
    assert request(server, f"evil.example:{server}", "/static/js/bokeh.min.js").endswith("403 Forbidden")


def test_foreign_websocket_origins_get_403(server):
    evil = f"evil.example:{server}"
    assert request(server, evil, "/ws", origin=f"http://{evil}", websocket=True).endswith("403 Forbidden")
    # the right Host but a page of another origin: refused too
    assert request(server, f"127.0.0.1:{server}", "/ws", origin=f"http://{evil}",
                   websocket=True).endswith("403 Forbidden")


def test_allowed_names_are_served(server):
    for host in (f"127.0.0.1:{server}", f"localhost:{server}", f"dashboard.lan:{server}"):
        assert request(server, host).endswith("200 OK"), host
    assert request(server, f"localhost:{server}", origin=f"http://localhost:{server}").endswith("200 OK")

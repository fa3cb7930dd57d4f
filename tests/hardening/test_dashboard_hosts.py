"""The dashboard answers only to allowed host names: raw HTTP and websocket requests with a foreign
``Host`` or ``Origin`` (DNS rebinding) get 403 before any app code runs."""

from __future__ import annotations

import base64
import os
import socket
import subprocess
import sys
import time

import pytest

pytest.importorskip("panel")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(synthetic_tag, tmp_path_factory):
    """``deepcart serve`` with a naive model, allowing one extra name; yields its port."""
    from click.testing import CliRunner

    from deepcart.cli import cli

    data_dir, tag = synthetic_tag
    model = tmp_path_factory.mktemp("m") / "naive"
    trained = CliRunner().invoke(cli, ["train", "--data-dir", str(data_dir), "--data-tag", tag, "--recommender",
                                       "naive", "--out", str(model), "-q"], env={"DEEPCART_LOAD_PLUGINS": ""})
    assert trained.exit_code == 0, trained.output
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "deepcart.cli", "serve", "--data-dir", str(data_dir), "--model",
                             str(model), "--port", str(port), "--allow-host", "dashboard.lan"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "DEEPCART_LOAD_PLUGINS": ""})
    deadline = time.monotonic() + 90
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read() if proc.poll() else "slow"
            time.sleep(0.25)
    yield port
    proc.terminate()
    proc.wait(10)


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

"""The command line: help, version, start-up cost, unknown names."""

import json
import subprocess
import sys

import pytest
from click.testing import CliRunner

from deepcart import __version__
from deepcart.cli import cli
from deepcart.contracts import KINDS

HEAVY = ("torch", "panel", "duckdb")


def run(*args, env=None):
    return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)


def test_version():
    result = run("--version")
    assert result.exit_code == 0 and __version__ in result.output


def test_help_lists_kernel_commands():
    result = run("--help")
    assert result.exit_code == 0
    assert "plugins" in result.output and "serve" in result.output


@pytest.mark.parametrize("args", [["--help"], ["plugins"], ["plugins", "--json"]])
def test_start_up_imports_no_heavy_library(args):
    code = (
        "import sys; from deepcart.cli import cli\n"
        f"try:\n    cli({args!r}, prog_name='deepcart')\nexcept SystemExit as e:\n    assert not e.code, e.code\n"
        f"heavy = [m for m in {HEAVY!r} if m in sys.modules]\n"
        "print('HEAVY=' + ','.join(heavy))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "HEAVY=\n" in result.stdout or result.stdout.rstrip().endswith("HEAVY="), result.stdout[-300:]


def test_plugins_json_lists_all_kinds_and_builtins():
    result = run("plugins", "--json", env={"DEEPCART_LOAD_PLUGINS": ""})
    report = json.loads(result.output)
    assert list(report["kinds"]) == list(KINDS)
    names = {kind: [c["name"] for c in comps] for kind, comps in report["kinds"].items()}
    assert "naive" in names["recommender"] and "rmse" in names["metric"]
    assert all(p["distribution"] == "deepcart" for p in report["plugins"])
    assert report["failed"] == []


def test_plugins_table_lists_kinds():
    result = run("plugins", env={"DEEPCART_LOAD_PLUGINS": ""})
    assert result.exit_code == 0
    for kind in KINDS:
        assert f"{kind}s:" in result.output
    assert "deepcart.plugins.recommenders.naive" in result.output


def test_serve_without_frontend_explains(monkeypatch):
    import deepcart.plugin_manager as pm

    original = pm.load_plugins
    from deepcart.plugins import BUILTIN_PLUGINS

    no_frontends = tuple(b for b in BUILTIN_PLUGINS if ".frontends." not in b)
    monkeypatch.setattr(pm, "load_plugins", lambda **kw: original(builtins=no_frontends, entry_points=False))
    result = CliRunner().invoke(cli, ["serve"])
    assert result.exit_code != 0 and "no frontend is installed" in result.output

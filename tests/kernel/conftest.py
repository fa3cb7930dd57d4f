"""Throw-away plugin distributions, really installed (into a folder put on PYTHONPATH)."""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def readme_examples() -> dict[str, str]:
    """The code blocks of the README that follow an ``<!-- example: NAME -->`` marker."""
    text = (REPO / "README.md").read_text()
    blocks = re.findall(r"<!-- example: (\S+) -->\n```\w*\n(.*?)```", text, flags=re.S)
    return {name: body for name, body in blocks}


def pip_install(project: Path, target: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--no-build-isolation", "-q",
         "--target", str(target), str(project)],
        check=True, capture_output=True, text=True,
    )


@pytest.fixture(scope="session")
def plugin_site(tmp_path_factory) -> Path:
    """A folder holding two installed plugin distributions: the README's example and a broken one."""
    root = tmp_path_factory.mktemp("plugins")
    hello = root / "deepcart-hello"
    hello.mkdir()
    examples = readme_examples()
    (hello / "pyproject.toml").write_text(examples["pyproject.toml"])
    (hello / "deepcart_hello.py").write_text(examples["deepcart_hello.py"])
    site = root / "site"
    pip_install(hello, site)
    # Copy first: setuptools builds in the source folder and would litter the repository.
    broken = shutil.copytree(FIXTURES / "broken_plugin", root / "broken_plugin")
    pip_install(broken, site)
    return site


@pytest.fixture
def deepcart_cmd(plugin_site):
    """Run the ``deepcart`` command line in a subprocess that sees the installed plugins."""

    def run(*args: str, **env: str) -> subprocess.CompletedProcess:
        environ = {**os.environ, "PYTHONPATH": str(plugin_site), **env}
        for key in ("DEEPCART_STRICT_PLUGINS", "DEEPCART_LOAD_PLUGINS"):
            if key not in env:
                environ.pop(key, None)
        return subprocess.run(
            [sys.executable, "-m", "deepcart.cli", *args], capture_output=True, text=True, env=environ
        )

    return run

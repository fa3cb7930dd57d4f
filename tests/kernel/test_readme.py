"""The README stays true: its CLI reference matches --help, its plugin example runs."""

import os
import subprocess
import sys
from pathlib import Path

from deepcart.pipeline import cli_reference

from .conftest import readme_examples

REPO = Path(__file__).resolve().parents[2]


def test_cli_reference_is_up_to_date():
    readme = (REPO / "README.md").read_text()
    assert cli_reference.section(readme) == cli_reference.render().strip(), (
        "README's CLI reference is stale: run `python -m deepcart.pipeline.cli_reference README.md`"
    )


def test_quickstart_and_ci_use_the_same_commands():
    readme = (REPO / "README.md").read_text()
    ci = (REPO / ".ci" / "run").read_text()
    prefix = "python3 -m venv .venv && . .venv/bin/activate && "
    lines = [line[len(prefix):] for line in readme.splitlines() if line.startswith(prefix)]
    main_job, tests = lines[0], lines[1]
    assert "deepcart run" in main_job
    steps = tests.split(" && ")
    installs = [step for step in steps if step.startswith("pip install")]
    test_command = " && ".join(step for step in steps if not step.startswith("pip install"))
    assert installs and steps[: len(installs)] == installs
    for install in installs:
        assert install in ci.splitlines(), f"CI must install as the README says: {install}"
    assert test_command in ci.splitlines(), "the README's test command must be what CI runs"


def test_readme_plugin_example_passes_its_contract_tests(plugin_site, tmp_path):
    (tmp_path / "test_hello.py").write_text(readme_examples()["test_hello.py"])
    env = {**os.environ, "PYTHONPATH": str(plugin_site)}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--import-mode=importlib", str(tmp_path)],
        capture_output=True, text=True, cwd=tmp_path, env=env,
    )
    assert result.returncode == 0, result.stdout[-2000:]
    assert "5 passed" in result.stdout

"""deepcart with the ``deepcart-plugins-contrib`` package installed: the package's acceptance.

The contrib package (``deepcart_plugins_contrib/``) is a separate distribution; CI installs it into
its venv (``pip install -e ./deepcart_plugins_contrib``). The tests that need it skip, naming that
line, where it is not installed. Also here: the ``deepcart plugins install/uninstall`` commands,
run for real in a throw-away environment, and ``docs/plugins.md``, whose every code block is run
or compared with the file it quotes.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import sysconfig
from importlib import metadata
from pathlib import Path

import pytest
from click.testing import CliRunner

from deepcart import cli as cli_module
from deepcart.plugins.commands import plugin_admin

REPO = Path(__file__).resolve().parents[1]
CONTRIB = REPO / "deepcart_plugins_contrib"
DOC = REPO / "docs" / "plugins.md"
REAL_DATA = REPO.parent / "shared" / "data" / "amazon-real"
DIST = "deepcart-plugins-contrib"
ENTRY_POINTS = {
    "contrib-ease": {"recommender": ["ease"]},
    "contrib-als": {"recommender": ["als"]},
    "contrib-amazon-legacy": {"loader": ["amazon-legacy"]},
    "contrib-diversity": {"metric": ["gini"]},
}
LEGACY_SAMPLES = [  # file, era, (users, items, ratings)
    ("ratings_Electronics_2014_head50k.csv", "2014", (47_141, 3_529, 50_698)),
    ("Magazine_Subscriptions_2018_ratings.csv", "2018", (535, 22, 546)),
]

try:
    VERSION: str | None = metadata.version(DIST)
except metadata.PackageNotFoundError:
    VERSION = None

needs_contrib = pytest.mark.skipif(
    VERSION is None,
    reason=f"{DIST} is not installed; install it with `pip install -e ./deepcart_plugins_contrib`",
)


def deepcart(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None,
             python: str = sys.executable) -> subprocess.CompletedProcess:
    """Run the command line in a subprocess (a fresh plugin manager, real entry points)."""
    environ = {k: v for k, v in os.environ.items()
               if k not in ("DEEPCART_STRICT_PLUGINS", "DEEPCART_LOAD_PLUGINS")}
    return subprocess.run([python, "-m", "deepcart.cli", *args], capture_output=True, text=True,
                          env={**environ, **(env or {})}, cwd=cwd)


def contrib_entries(report: dict) -> dict[str, dict]:
    """The contrib's loaded plugins in a `plugins --json` report, by entry-point name."""
    return {p["name"]: p for p in report["plugins"] if p["distribution"] == DIST}


def ours(failed: list[dict]) -> list[dict]:
    """The contrib's entries among a report's failed plugins (others' plugins are not our concern)."""
    return [f for f in failed if f["distribution"] == DIST]


# -- docs/plugins.md ------------------------------------------------------------------------------

_MARKED = re.compile(r"<!-- (file|excerpt|run): (\S+) -->\n```(\w*)\n(.*?)```", re.S)


def doc_blocks(kind: str, label: str | None = None) -> list[tuple[str, str]]:
    """``(label, body)`` of the code blocks of docs/plugins.md marked ``<!-- kind: label -->``."""
    return [(lab, body) for k, lab, _, body in _MARKED.findall(DOC.read_text())
            if k == kind and (label is None or lab == label)]


def shell_lines(label: str) -> list[list[str]]:
    """The commands of the doc's ``run: label`` shell blocks, split like a shell would."""
    return [shlex.split(line) for _, body in doc_blocks("run", label)
            for line in body.splitlines() if line.strip()]


def test_every_doc_code_block_is_checked():
    text = DOC.read_text()
    blocks = re.findall(r"^```(\w*)\n.*?^```", text, flags=re.M | re.S)
    code = [lang for lang in blocks if lang != "text"]  # the layout tree is not code
    assert len(_MARKED.findall(text)) == len(code), "a code block of docs/plugins.md has no marker"
    for label in {label for label, _ in doc_blocks("run")}:
        assert label in {"python", "pytest", "shell", "shell-venv"}, label


def test_doc_files_are_the_real_files():
    for path, body in doc_blocks("file"):
        assert body == (REPO / path).read_text(), f"docs/plugins.md quotes an old {path}"


def test_doc_excerpts_are_in_the_real_files():
    for path, body in doc_blocks("excerpt"):
        assert body in (REPO / path).read_text(), f"docs/plugins.md quotes code not in {path}"


@needs_contrib
def test_doc_python_samples_run():
    for _, body in doc_blocks("run", "python"):
        exec(compile(body, str(DOC), "exec"), {"__name__": "docs_plugins_sample"})


@needs_contrib
def test_doc_test_sample_passes(tmp_path):
    [(_, body)] = doc_blocks("run", "pytest")
    (tmp_path / "test_sample.py").write_text(body)
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--import-mode=importlib",
         str(tmp_path)], capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-2000:]
    summary = result.stdout.strip().splitlines()[-1]
    assert re.search(r"\b\d+ passed\b", summary) and "skipped" not in summary, summary


# -- listing ----------------------------------------------------------------------------------------


@needs_contrib
def test_plugins_json_lists_the_distribution_with_its_components():
    result = deepcart("plugins", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    found = contrib_entries(report)
    assert {name: p["components"] for name, p in found.items()} == ENTRY_POINTS
    assert {p["version"] for p in found.values()} == {VERSION}
    for name, p in found.items():
        assert p["entry_point"].startswith(f"{name} = deepcart_plugins_contrib.")
    by_name = {(kind, c["name"]): c for kind, comps in report["kinds"].items() for c in comps}
    for kind, name in [("recommender", "ease"), ("recommender", "als"), ("loader", "amazon-legacy"),
                       ("metric", "gini")]:
        assert by_name[(kind, name)]["distribution"] == DIST and by_name[(kind, name)]["summary"]
    assert not ours(report["failed"])
    table = deepcart("plugins").stdout
    assert DIST in table and "contrib-ease" in table


# -- the embedded default data ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    """A data folder shared by this module's commands (the embedded default is built once)."""
    return tmp_path_factory.mktemp("contrib-data")


@needs_contrib
@pytest.mark.slow
@pytest.mark.parametrize("command", shell_lines("shell"), ids=lambda c: " ".join(c[1:4]))
def test_doc_commands_work(command, data_dir):
    """`deepcart run --recommender ease|als --metric map@10` on the embedded default, and a build."""
    assert command[0] == "deepcart"
    if any("../shared/" in arg for arg in command) and not REAL_DATA.is_dir():
        pytest.skip(f"real data slices not found at {REAL_DATA}")
    result = deepcart(*command[1:], env={"DEEPCART_DATA": str(data_dir)}, cwd=REPO)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    if command[1] == "run":
        recommender = command[command.index("--recommender") + 1]
        header, *rows = result.stdout.split("\n\n")[0].splitlines()[1:]
        assert header.split() == ["metric", "direction", recommender]
        values = {tuple(r.split()[:2]): float(r.split()[2]) for r in rows}
        assert set(values) == {("map@10", "best"), ("map@10", "worst")}
        assert all(0 <= v <= 1 for v in values.values())
        assert "Worst picks:" in result.stdout
        assert list((data_dir / "models" / "synthetic").glob(f"{recommender}-*/weights"))


# -- the legacy loader ------------------------------------------------------------------------------


@needs_contrib
@pytest.mark.parametrize(("sample", "named"), [(LEGACY_SAMPLES[0], False), (LEGACY_SAMPLES[1], False),
                                               (LEGACY_SAMPLES[1], True)],
                         ids=["2014-auto-picked", "2018-auto-picked", "2018-named"])
def test_build_reads_the_real_legacy_samples(sample, named, tmp_path):
    """Auto-picked (nothing named) and named (`--loader amazon-legacy`), the tag is right."""
    name, era, (users, items, ratings) = sample
    if not REAL_DATA.is_dir():
        pytest.skip(f"real data slices not found at {REAL_DATA}")
    loader = ["--loader", "amazon-legacy"] if named else []
    result = deepcart("build", "--reviews-file", str(REAL_DATA / name), *loader, "--tag", "legacy",
                      "--data-dir", str(tmp_path))
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"Detected the {era} era" in result.stdout + result.stderr
    manifest = json.loads((tmp_path / "legacy" / "manifest.json").read_text())
    assert manifest["loader"]["name"] == "amazon-legacy"
    assert (manifest["counts"]["users"], manifest["counts"]["items"], manifest["counts"]["ratings"]) == (
        users, items, ratings)
    assert manifest["ingest"]["notes"][0].startswith(f"Detected the {era} era (")


def test_builtin_loaders_leave_legacy_files_alone(deepcart_registry):
    """Auto-detection asks built-in loaders first: none of them may claim a legacy file."""
    if not REAL_DATA.is_dir():
        pytest.skip(f"real data slices not found at {REAL_DATA}")
    for component in deepcart_registry.components("loader"):
        if component.source.distribution != "deepcart":
            continue
        loader = deepcart_registry.create("loader", component.name)
        for name, _, _ in LEGACY_SAMPLES:
            assert not loader.can_read(REAL_DATA / name), (component.name, name)


# -- a broken module ----------------------------------------------------------------------------------


@needs_contrib
def test_a_contrib_module_that_fails_to_import_disables_only_itself(tmp_path):
    """A copy of the package whose als.py cannot be imported shadows the installed one."""
    from importlib.util import find_spec

    site = tmp_path / "site"
    # find_spec: from the repository root, the project folder can shadow the package's __init__.
    package = shutil.copytree(Path(find_spec("deepcart_plugins_contrib.ease").origin).parent,
                              site / "deepcart_plugins_contrib",
                              ignore=shutil.ignore_patterns("__pycache__"))
    (package / "als.py").write_text("import implicit_library_that_is_not_installed\n")
    env = {"PYTHONPATH": str(site)}

    result = deepcart("plugins", "--json", env=env)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    failed = [f for f in report["failed"] if f["distribution"] == DIST]
    assert [f["name"] for f in failed] == ["contrib-als"]
    assert "implicit_library_that_is_not_installed" in failed[0]["error"]
    found = contrib_entries(report)
    assert {name: p["components"] for name, p in found.items()} == {
        k: v for k, v in ENTRY_POINTS.items() if k != "contrib-als"}
    assert "contrib-als" in result.stderr and DIST in result.stderr  # the warning names both

    table = deepcart("plugins", env=env)
    assert table.returncode == 0 and "Failed plugins" in table.stdout
    unknown = deepcart("run", "--recommender", "als", env=env)
    assert unknown.returncode != 0 and "unknown recommender 'als'" in unknown.stderr
    assert "ease" in unknown.stderr and "Traceback" not in unknown.stderr
    strict = deepcart("plugins", env={**env, "DEEPCART_STRICT_PLUGINS": "1"})
    assert strict.returncode != 0 and "contrib-als" in strict.stderr


# -- deepcart plugins install / uninstall -------------------------------------------------------------


def test_install_passes_its_options_to_pip_of_this_environment(monkeypatch):
    calls = []
    monkeypatch.setattr(plugin_admin, "_pip", lambda *args: calls.append(args) or 0)
    result = CliRunner().invoke(cli_module.cli, ["plugins", "install", "-U", "-e", "./a", "b", "--",
                                                 "--no-build-isolation"])
    assert result.exit_code == 0, result.output
    assert calls == [("install", "--upgrade", "--editable", "./a", "b", "--no-build-isolation")]
    result = CliRunner().invoke(cli_module.cli, ["plugins", "install"])
    assert result.exit_code == 2 and "name at least one package" in result.output


def test_uninstall_refuses_deepcart_itself(monkeypatch):
    calls = []
    monkeypatch.setattr(plugin_admin, "_pip", lambda *args: calls.append(args) or 0)
    for name in ("deepcart", "DeepCart", "deepcart==0.1.0"):
        result = CliRunner().invoke(cli_module.cli, ["plugins", "uninstall", "x-plugin", name, "-y"])
        assert result.exit_code == 2 and "refusing to uninstall" in result.output, name
    assert calls == []
    result = CliRunner().invoke(cli_module.cli, ["plugins", "uninstall", "deepcart-hello", "-y"])
    assert result.exit_code == 0 and calls == [("uninstall", "--yes", "deepcart-hello")]


def test_pip_runs_with_this_interpreter(monkeypatch):
    seen = []

    class Done:
        returncode = 3

    monkeypatch.setattr(subprocess, "run", lambda argv, **kw: seen.append(argv) or Done())
    assert plugin_admin._pip("uninstall", "x") == 3
    assert seen == [[sys.executable, "-m", "pip", "uninstall", "x"]]


@pytest.fixture
def fresh_env(tmp_path) -> tuple[str, Path]:
    """A new venv that sees this environment's packages except the contrib package.

    Its ``site-packages`` holds a ``.pth`` that adds a folder of links to everything installed here
    but the contrib (deepcart, implicit, pip, ...). `plugins install` then really installs into the
    new venv (pip installs into the environment of the interpreter that runs it), and `uninstall`
    really removes from it, while this environment is never touched.
    """
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = str(venv / "bin" / "python")
    new_site = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                              capture_output=True, text=True, check=True).stdout.strip()
    view = tmp_path / "view"
    view.mkdir()
    for entry in Path(sysconfig.get_paths()["purelib"]).iterdir():
        if "deepcart_plugins_contrib" not in entry.name.replace("-", "_").lower():
            (view / entry.name).symlink_to(entry)
    Path(new_site, "zz_deepcart_view.pth").write_text(f"import site; site.addsitedir({str(view)!r})\n")
    work = tmp_path / "work"
    # A copy: building a package writes build/ and *.egg-info/ into its source folder.
    shutil.copytree(CONTRIB, work / "deepcart_plugins_contrib",
                    ignore=shutil.ignore_patterns("__pycache__", "build", "*.egg-info"))
    return python, work


@needs_contrib
@pytest.mark.slow
def test_doc_install_and_uninstall_act_on_the_running_environment(fresh_env):
    python, work = fresh_env
    before = json.loads(deepcart("plugins", "--json", python=python).stdout)
    assert contrib_entries(before) == {} and not ours(before["failed"])

    outputs = []
    for command in shell_lines("shell-venv"):
        assert command[0] == "deepcart"
        if command[1:3] == ["plugins", "install"]:  # offline: no build isolation, nothing fetched
            command = [*command, "--", "--no-build-isolation", "--no-deps", "-q"]
        result = deepcart(*command[1:], python=python, cwd=work)
        assert result.returncode == 0, (command, result.stdout[-2000:], result.stderr[-2000:])
        outputs.append(result.stdout)
        if command[1:3] == ["plugins", "install"]:
            report = json.loads(deepcart("plugins", "--json", python=python).stdout)
            assert {n: p["components"] for n, p in contrib_entries(report).items()} == ENTRY_POINTS
            assert not ours(report["failed"])
    assert any("contrib-ease" in out and DIST in out for out in outputs)

    after = deepcart("plugins", "--json", python=python)
    report = json.loads(after.stdout)
    assert contrib_entries(report) == {} and not ours(report["failed"]) and DIST not in after.stderr
    gone = deepcart("run", "--recommender", "ease", python=python)
    assert gone.returncode != 0 and "unknown recommender 'ease'" in gone.stderr
    assert "Traceback" not in gone.stderr and DIST not in gone.stderr
    refused = deepcart("plugins", "uninstall", "deepcart", "-y", python=python)
    assert refused.returncode == 2 and "refusing" in refused.stderr
    assert deepcart("--version", python=python).returncode == 0

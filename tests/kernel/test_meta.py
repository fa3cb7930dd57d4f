"""Meta-tests: every hook spec is documented and exercised by some test (as datasette does)."""

import inspect
from pathlib import Path

import pytest

from deepcart import hookspecs
from deepcart.plugin_manager import COMPONENT_HOOKS, new_manager

TESTS = Path(__file__).resolve().parents[1]
SPECS = sorted(name for name in new_manager().hook.__dict__ if name.startswith("register_"))


def test_specs_are_the_documented_set():
    assert set(COMPONENT_HOOKS.values()) | {"register_commands"} == set(SPECS)


@pytest.mark.parametrize("name", SPECS)
def test_spec_has_docstring_with_params_and_return(name):
    doc = inspect.getdoc(getattr(hookspecs, name)) or ""
    assert len(doc) > 80, f"{name} needs a real docstring"
    assert ":param" in doc and ":return:" in doc, f"{name} must document its arguments and return value"


@pytest.mark.parametrize("name", SPECS)
def test_spec_is_implemented_in_some_test(name):
    sources = "\n".join(p.read_text() for p in TESTS.rglob("*.py") if p.name != Path(__file__).name)
    readme = (TESTS.parent / "README.md").read_text()
    assert f"def {name}(" in sources or f"def {name}(" in readme, f"no test implements the hook {name}"


def test_every_test_file_is_collected(request):
    # pytest silently skips folders matching its norecursedirs (``build``, ``dist``, ``venv``, ...):
    # a tests/build folder once went unrun. Every test module on disk must be in this session.
    import fnmatch

    patterns = request.config.getini("norecursedirs")
    for folder in (p for p in TESTS.rglob("*") if p.is_dir()):
        hidden = [pat for pat in patterns if fnmatch.fnmatch(folder.name, pat)]
        assert not hidden or folder.name == "__pycache__", f"pytest will never collect {folder} ({hidden})"
    option = request.config.option
    partial = any(Path(a).resolve() != TESTS for a in request.config.args)
    if partial or option.keyword or option.markexpr:
        return  # a partial run (a file, a folder, -k or -m) collects less by design
    collected = {Path(str(item.fspath)).resolve() for item in request.session.items}
    on_disk = {p.resolve() for p in TESTS.rglob("test_*.py")}
    assert on_disk <= collected, f"never collected: {sorted(map(str, on_disk - collected))}"

"""The distribution: one entry point per module, each module light to import and independent."""

import subprocess
import sys
from importlib import metadata
from importlib.util import find_spec
from pathlib import Path

from deepcart.plugin_manager import load_plugins

EXPECTED = {
    "contrib-ease": ("deepcart_plugins_contrib.ease", {"recommender": ["ease"]}),
    "contrib-als": ("deepcart_plugins_contrib.als", {"recommender": ["als"]}),
    "contrib-amazon-legacy": ("deepcart_plugins_contrib.legacy_loader", {"loader": ["amazon-legacy"]}),
    "contrib-diversity": ("deepcart_plugins_contrib.diversity", {"metric": ["gini"]}),
}


def test_one_entry_point_per_module():
    dist = metadata.distribution("deepcart-plugins-contrib")
    points = {ep.name: ep.value for ep in dist.entry_points if ep.group == "deepcart"}
    assert points == {name: module for name, (module, _) in EXPECTED.items()}


def test_each_entry_point_registers_its_components():
    plugins = load_plugins(only=set(EXPECTED))
    assert plugins.failed == []
    loaded = {p.source.name: p for p in plugins.loaded if p.source.distribution == "deepcart-plugins-contrib"}
    assert {name: p.components for name, p in loaded.items()} == {
        name: components for name, (_, components) in EXPECTED.items()}
    for p in loaded.values():
        assert p.source.version == metadata.version("deepcart-plugins-contrib")


def test_modules_import_no_heavy_library():
    """Hooks run for `deepcart --help`: implicit, scipy, duckdb and torch load only when used."""
    modules = [module for module, _ in EXPECTED.values()]
    code = (f"import sys\nfor m in {modules!r}: __import__(m)\n"
            "print(','.join(m for m in ('implicit', 'scipy', 'duckdb', 'torch', 'threadpoolctl') "
            "if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ""


def test_modules_do_not_import_each_other():
    """A broken module must disable only itself: no plugin module imports another one."""
    folder = Path(find_spec("deepcart_plugins_contrib.ease").origin).parent
    names = [module.rsplit(".", 1)[1] for module, _ in EXPECTED.values()]
    for name in names:
        source = (folder / f"{name}.py").read_text()
        for other in names:
            if other != name:
                assert f"deepcart_plugins_contrib.{other}" not in source, (name, other)

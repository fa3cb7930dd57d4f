"""The layout shows the architecture: a small kernel, an engine, toolkits, and plugins that are plugins.

These tests read the source tree as files (no ``deepcart.__path__``), so they also hold for a
reader or a static tool that sees the folders, not the installed import names.
"""

from __future__ import annotations

import ast
import io
import re
import tokenize
import tomllib
from pathlib import Path

import pytest

from deepcart.plugin_manager import load_plugins

REPO = Path(__file__).resolve().parents[2]
KERNEL = REPO / "core"
PLUGINS = REPO / "plugins"
CONTRIB = REPO / "deepcart_plugins_contrib" / "deepcart_plugins_contrib"
KERNEL_LIMIT = 1000
#: Import names outside the kernel that it must never import.
NOT_KERNEL = ("deepcart.pipeline", "deepcart.toolkit", "deepcart.plugins", "deepcart.schemas")
#: The one plugin-side name the kernel knows: the package that lists the built-in plugins.
BUILTIN_PACKAGE = "deepcart.plugins"
#: Command names the kernel owns itself.
KERNEL_COMMANDS: set[str] = set()  # the root group has no commands of its own


def kernel_files() -> list[Path]:
    return sorted(KERNEL.glob("*.py"))


def imported_modules(path: Path) -> set[str]:
    """Every module an ``import`` statement of ``path`` names (at any depth), resolved to absolute."""
    tree = ast.parse(path.read_text(), str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolved against the import name of the folder
                raise AssertionError(f"{path}: use absolute deepcart.* imports, not relative ones")
            names.add(node.module or "")
            names |= {f"{node.module}.{alias.name}" for alias in node.names}
    return names


def strings_and_comments(path: Path) -> list[tuple[int, str]]:
    """``(line, text)`` of every string literal (docstrings included) and comment of ``path``."""
    source = path.read_text()
    found = [(node.lineno, node.value) for node in ast.walk(ast.parse(source))
             if isinstance(node, ast.Constant) and isinstance(node.value, str)]
    found += [(tok.start[0], tok.string) for tok in tokenize.generate_tokens(io.StringIO(source).readline)
              if tok.type == tokenize.COMMENT]
    return found


def test_the_kernel_is_small():
    lines = {path.name: len(path.read_text().splitlines()) for path in kernel_files()}
    assert sum(lines.values()) < KERNEL_LIMIT, f"kernel has {sum(lines.values())} lines: {lines}"


@pytest.mark.parametrize("path", kernel_files(), ids=lambda p: p.name)
def test_the_kernel_imports_no_engine_toolkit_or_plugin(path):
    bad = sorted(m for m in imported_modules(path) if m.startswith(NOT_KERNEL))
    assert not bad, f"core/{path.name} imports {bad}"
    module_paths = [(line, text) for line, text in strings_and_comments(path)
                    if re.fullmatch(r"deepcart(\.\w+)+", text) and text.startswith(NOT_KERNEL)
                    and text != BUILTIN_PACKAGE]
    assert not module_paths, f"core/{path.name} names modules outside the kernel: {module_paths}"


def registered_names() -> tuple[set[str], set[str]]:
    """Every component name and every plugin command name (built-ins and installed plugins)."""
    import click

    from deepcart.plugin_manager import collect_commands

    plugins = load_plugins(strict=False, only=None)
    components = {c.name for c in plugins.registry.components()}
    commands = set(collect_commands(plugins, click.Group("deepcart"), strict=False))
    return components, commands


def test_the_kernel_names_no_component_or_command_of_a_plugin():
    from deepcart.contracts import REQUIRED_MEMBERS

    components, commands = registered_names()
    assert {"naive", "panel", "k-core"} <= components and {"build", "plugins"} <= commands
    members = {member for names in REQUIRED_MEMBERS.values() for member in names}
    offences = []
    for path in kernel_files():
        texts = strings_and_comments(path)
        for name in sorted(components):
            word = re.compile(rf"(?<![\w.@-]){re.escape(name)}(?![\w-])")
            offences += [(path.name, line, name) for line, text in texts if word.search(text)]
        for name in sorted(commands - KERNEL_COMMANDS):
            # Command names are also English words ("run", "build"): flag only how a command is named.
            # A contract's member name (the splitter's method "split") alone names no command.
            mention = re.compile(rf"deepcart {re.escape(name)}\b")
            offences += [(path.name, line, name) for line, text in texts
                         if (text == name and name not in members) or mention.search(text)]
    assert not offences, f"the kernel names plugins' components or commands (file, line, name): {offences}"


def hookimpl_in(path: Path) -> bool:
    return "@hookimpl" in path.read_text()


def test_every_plugin_file_is_a_plugin_or_part_of_one():
    orphans = []
    for path in sorted(PLUGINS.rglob("*.py")):
        depth = len(path.relative_to(PLUGINS).parts)
        if path.name == "__init__.py" and depth <= 2:
            continue  # plugins/__init__.py and the kind folders (plugins/recommenders/) only group
        if hookimpl_in(path):
            continue
        # A module of a plugin package: the package (plugins/<kind>/<name>/) registers the hooks.
        package = path.relative_to(PLUGINS).parts[:2]
        init = PLUGINS.joinpath(*package, "__init__.py")
        if depth >= 3 and init.is_file() and hookimpl_in(init):
            continue
        orphans.append(str(path.relative_to(REPO)))
    assert not orphans, f"files under plugins/ that register no hook and are in no plugin package: {orphans}"


def test_the_contrib_package_uses_only_the_kernel_and_the_toolkits():
    bad = {str(path.relative_to(REPO)): sorted(m for m in imported_modules(path)
                                               if m.startswith(("deepcart.plugins", "deepcart.pipeline")))
           for path in sorted(CONTRIB.rglob("*.py"))}
    assert not {k: v for k, v in bad.items() if v}


def layout_table() -> dict[str, str]:
    """``{import name: folder}`` from the README's layout table."""
    text = (REPO / "README.md").read_text()
    section = text[text.index("## Layout"):]
    section = section[:section.index("\n## ", 1)]
    rows = re.findall(r"^\| `([\w/.-]+/)` \| `(deepcart[\w.]*)` \|", section, re.M)
    return {name: folder.rstrip("/") for folder, name in rows}


def test_the_readme_layout_table_covers_every_package():
    setuptools = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    roots = setuptools["package-dir"]

    def folder_of(package: str) -> str:
        root = max((r for r in roots if package == r or package.startswith(r + ".")), key=len)
        rest = package[len(root):].lstrip(".")
        return "/".join([roots[root], *rest.split(".")]) if rest else roots[root]

    expected = {p: folder_of(p) for p in setuptools["packages"]}
    assert layout_table() == expected
    for package, folder in expected.items():
        assert (REPO / folder / "__init__.py").is_file(), f"{package} -> {folder}/ has no __init__.py"
    # Every folder with Python modules under a mapped root is a listed package (nothing left out).
    for root, folder in roots.items():
        for init in (REPO / folder).rglob("__init__.py"):
            assert str(init.parent.relative_to(REPO)) in expected.values(), f"{init.parent} not listed"

"""Packaging: the declared packages match the folders, and no generic import name leaks."""

import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def _declared() -> tuple[list[str], dict[str, str]]:
    config = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    return config["packages"], config["package-dir"]


def _on_disk(package_dir: dict[str, str]) -> set[str]:
    found = set()
    for name, folder in package_dir.items():
        root = REPO / folder
        for init in root.rglob("__init__.py"):
            rel = init.parent.relative_to(root)
            dotted = ".".join((name, *rel.parts)) if rel.parts else name
            # A sub-folder mapped to its own import name is found under that name instead.
            if not any(dotted.startswith(other + ".") or dotted == other
                       for other in package_dir if other != name and other.startswith(name + ".")):
                found.add(dotted)
    return found


def test_declared_packages_are_exactly_the_folders_on_disk():
    packages, package_dir = _declared()
    assert set(packages) == _on_disk(package_dir)


def test_every_package_lives_under_deepcart():
    packages, package_dir = _declared()
    assert all(p == "deepcart" or p.startswith("deepcart.") for p in packages)
    assert set(package_dir) <= set(packages)


@pytest.mark.parametrize("name", ["core", "plugins", "schemas"])
def test_generic_names_are_not_importable_from_the_repo_root(name):
    result = subprocess.run([sys.executable, "-c", f"import {name}"], cwd=REPO, capture_output=True, text=True)
    assert result.returncode != 0
    assert "ImportError" in result.stderr or "ModuleNotFoundError" in result.stderr


def test_built_wheel_installs_and_runs(tmp_path):
    """Build a wheel, install it (without deps: they are this venv's) into a folder, and run it."""
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp_path / "dist"), str(REPO)],
        check=True, capture_output=True,
    )
    wheel = next((tmp_path / "dist").glob("deepcart-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")}
    assert tops == {"deepcart"}, tops
    packages, _ = _declared()
    for package in packages:
        assert package.replace(".", "/") + "/__init__.py" in names
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target), str(wheel)],
                   check=True, capture_output=True)
    code = "import deepcart, sys; assert deepcart.__file__.startswith(sys.argv[1]), deepcart.__file__; " \
           "from deepcart.cli import main; sys.argv=['deepcart','plugins','--json']; main()"
    result = subprocess.run([sys.executable, "-c", code, str(target)], cwd=tmp_path, capture_output=True, text=True,
                            env={"PYTHONPATH": str(target), "PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stderr
    assert '"naive"' in result.stdout
    assert (target / "bin" / "deepcart").exists() or any(n.endswith("entry_points.txt") for n in names)


def test_the_torch_requirement_keeps_an_installed_cpu_build():
    """A range, not a pin: a CPU build already installed is kept, never swapped for PyPI's CUDA build
    (which a pin to one version forced on anyone with another); capped at the version CI runs."""
    from packaging.requirements import Requirement

    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    torch = next(Requirement(r) for r in project["dependencies"] if Requirement(r).name == "torch")
    for kept in ("2.13.0+cpu", "2.13.0", "2.6.0+cpu", "2.4.1+cpu"):
        assert torch.specifier.contains(kept), kept
    for refused in ("2.3.1", "2.13.1", "2.14.0"):
        assert not torch.specifier.contains(refused), refused
    readme = (REPO / "README.md").read_text()  # and the README says how to get the CPU build
    assert "--index-url https://download.pytorch.org/whl/cpu" in readme and "torch>=2.4,<=2.13.0" in readme

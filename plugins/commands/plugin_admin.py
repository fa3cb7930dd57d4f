"""The built-in ``deepcart plugins`` command: list plugins, install and uninstall them with pip.

``deepcart plugins`` (``--json``) shows each loaded plugin with the components and commands it
provides, the components by kind, and the plugins that failed to load. ``install`` and
``uninstall`` run pip of the environment deepcart runs in. Loading is failure-isolated, so a broken
third-party plugin is a warning and ``uninstall`` still removes it (under
``DEEPCART_STRICT_PLUGINS=1`` a broken plugin is fatal for every command: unset it to uninstall).
"""

from __future__ import annotations

import json
import re
import sys
from typing import Any

import click

from deepcart import hookimpl
from deepcart.contracts import KINDS


@click.group("plugins", invoke_without_command=True)
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON instead of a table.")
@click.pass_context
def plugins_command(ctx: click.Context, as_json: bool) -> None:
    """List installed plugins, the components each provides, and plugins that failed to load."""
    if ctx.invoked_subcommand is not None:
        return
    # ctx.obj: this invocation's plugins; resolving this command already ran every plugin's
    # register_commands, so commands are attributed to their plugins too.
    plugins = ctx.obj
    report = plugins_report(plugins)
    if as_json:
        click.echo(json.dumps(report, indent=2))
        return
    click.echo(render_plugins_table(report))


#: Distributions that `deepcart plugins uninstall` refuses to remove (it would remove itself).
_PROTECTED = ("deepcart",)


def _pip(*args: str) -> int:
    """Run pip in the environment deepcart runs in (the interpreter of this process), not a `pip`
    found on PATH, which may belong to another environment."""
    import subprocess

    return subprocess.run([sys.executable, "-m", "pip", *args]).returncode


@plugins_command.command("install", context_settings={"ignore_unknown_options": True})
@click.argument("packages", nargs=-1)
@click.option("-U", "--upgrade", is_flag=True, help="Upgrade the packages to their newest version.")
@click.option("-e", "--editable", "editables", multiple=True, metavar="PATH",
              help="Install a local project in editable mode. Repeatable.")
@click.option("--force-reinstall", is_flag=True, help="Reinstall even when up to date.")
@click.option("--no-cache-dir", is_flag=True, help="Do not use pip's cache.")
@click.option("--pre", is_flag=True, help="Allow pre-release versions.")
@click.pass_context
def plugins_install_command(ctx: click.Context, packages, upgrade, editables, force_reinstall, no_cache_dir,
                            pre) -> None:
    """Install plugin packages with pip, into the environment deepcart runs in.

    PACKAGES are names on the package index or local paths (`./my-plugin`). Anything after `--`
    goes to pip as it is, e.g. `deepcart plugins install ./my-plugin -- --no-build-isolation`.
    Plugins are loaded again on the next command; see them with `deepcart plugins`.
    """
    if not packages and not editables:
        raise click.UsageError("name at least one package, path or --editable PATH")
    args = ["install"]
    args += [flag for flag, on in (("--upgrade", upgrade), ("--force-reinstall", force_reinstall),
                                    ("--no-cache-dir", no_cache_dir), ("--pre", pre)) if on]
    for path in editables:
        args += ["--editable", path]
    ctx.exit(_pip(*args, *packages))


@plugins_command.command("uninstall")
@click.argument("packages", nargs=-1, required=True)
@click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation.")
@click.pass_context
def plugins_uninstall_command(ctx: click.Context, packages, yes) -> None:
    """Uninstall plugin packages with pip, from the environment deepcart runs in.

    PACKAGES are distribution names, as `deepcart plugins` lists them. deepcart itself cannot be
    uninstalled this way (use `pip uninstall deepcart`). This command loads no plugin, so it also
    works when an installed plugin is broken.
    """
    for name in packages:
        project = re.match(r"[A-Za-z0-9._-]*", name.strip()).group()  # "deepcart==0.1" -> deepcart
        if re.sub(r"[-_.]+", "-", project).strip("-").lower() in _PROTECTED:
            raise click.UsageError(
                f"refusing to uninstall {name!r}: `deepcart plugins uninstall` removes plugins, not "
                "deepcart itself (use `pip uninstall deepcart`)"
            )
    ctx.exit(_pip("uninstall", *(["--yes"] if yes else []), *packages))


def plugins_report(plugins) -> dict[str, Any]:
    """A JSON-ready description of loaded plugins, components per kind and failures."""
    return {
        "plugins": [
            {
                "name": p.source.name,
                "distribution": p.source.distribution,
                "version": p.source.version,
                "entry_point": p.source.entry_point,
                "components": p.components,
            }
            for p in plugins.loaded
        ],
        "kinds": kinds_table(plugins),
        "failed": [
            {
                "name": f.source.name,
                "distribution": f.source.distribution,
                "version": f.source.version,
                "entry_point": f.source.entry_point,
                "error": f.error,
            }
            for f in plugins.failed
        ],
    }


def kinds_table(plugins) -> dict[str, list[dict[str, str]]]:
    """Every kind with its components (name, plugin, distribution, summary), for listings."""
    return {
        kind: [
            {
                "name": c.name,
                "plugin": c.source.name,
                "distribution": c.source.distribution,
                "summary": c.summary,
            }
            for c in plugins.registry.components(kind)
        ]
        for kind in KINDS
    }


def render_plugins_table(report: dict[str, Any]) -> str:
    """The human-readable form of :func:`plugins_report`."""
    rows = [("PLUGIN", "DISTRIBUTION", "VERSION", "PROVIDES")]
    for p in report["plugins"]:
        provides = "; ".join(f"{kind}: {', '.join(names)}" for kind, names in p["components"].items())
        rows.append((p["name"], p["distribution"], p["version"], provides or "-"))
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    lines = ["  ".join(r[i].ljust(widths[i]) for i in range(3)) + "  " + r[3] for r in rows]
    lines.append("")
    lines.append("Components by kind:")
    for kind in KINDS:
        names = [c["name"] for c in report["kinds"][kind]]
        lines.append(f"  {kind + 's:':14} {', '.join(names) if names else '(none)'}")
    if report["failed"]:
        lines.append("")
        lines.append("Failed plugins (skipped):")
        for f in report["failed"]:
            lines.append(f"  {f['name']} ({f['distribution']} {f['version']}): {f['error']}")
    return "\n".join(lines)


@hookimpl
def register_commands(cli) -> None:
    """Register ``deepcart plugins`` (with ``install`` and ``uninstall``)."""
    cli.add_command(plugins_command)

"""The ``deepcart`` command line: a small click group that plugins extend.

The kernel owns ``plugins`` and ``serve``; every other command (``build``, ``run``, ...) comes from a
plugin's ``register_commands`` hook, built-in or third-party, and ``serve`` gets one sub-command per
registered frontend. Plugins are loaded once per invocation, lazily, when click first asks for the
command list, so ``deepcart --version`` does not even do that.
"""

from __future__ import annotations

import json
import re
import sys
import warnings
from typing import Any

import click

from deepcart import __version__
from deepcart.contracts import KINDS

_PLUGINS_KEY = "deepcart.plugins"
_COMMANDS_KEY = "deepcart.plugin_commands"


def plugins_for(ctx: click.Context | None = None):
    """The :class:`deepcart.plugin_manager.Plugins` of this invocation, loaded on first use.

    Load failures of third-party plugins are printed to stderr as warnings (or, under
    ``DEEPCART_STRICT_PLUGINS=1``, raised as :class:`deepcart.errors.PluginLoadError`).
    Commands provided by plugins use this to reach the registry.
    """
    from deepcart.plugin_manager import load_plugins

    ctx = ctx or click.get_current_context()
    meta = ctx.find_root().meta
    if _PLUGINS_KEY not in meta:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            meta[_PLUGINS_KEY] = load_plugins()
        for warning in caught:
            click.echo(f"deepcart: warning: {warning.message}", err=True)
    return meta[_PLUGINS_KEY]


def registry_for(ctx: click.Context | None = None):
    """The component registry of this invocation (see :func:`plugins_for`)."""
    return plugins_for(ctx).registry


class DeepcartGroup(click.Group):
    """The root group: kernel commands plus the commands that plugins register."""

    def _plugin_commands(self, ctx: click.Context) -> dict[str, tuple[click.Command, Any]]:
        from deepcart.plugin_manager import collect_commands

        meta = ctx.find_root().meta
        if _COMMANDS_KEY not in meta:
            plugins = plugins_for(ctx)
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                meta[_COMMANDS_KEY] = collect_commands(plugins, self)
            for warning in caught:
                click.echo(f"deepcart: warning: {warning.message}", err=True)
        return meta[_COMMANDS_KEY]

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | set(self._plugin_commands(ctx)))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        command = super().get_command(ctx, cmd_name)
        if command is not None:
            return command
        found = self._plugin_commands(ctx).get(cmd_name)
        return found[0] if found else None


@click.group(cls=DeepcartGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", "-V", prog_name="deepcart")
@click.pass_context
def cli(ctx: click.Context) -> None:
    """deepcart: find the worst products you would still be tempted by (and the best ones).

    A plugin-based recommender toolkit for the Amazon Reviews 2023 data: build a dataset, train a
    recommender, evaluate it, and serve a dashboard where your ratings move the picks at once.

    Plugins add loaders, filters, splitters, recommenders, metrics, frontends and commands; see
    `deepcart plugins`. Environment: DEEPCART_DATA (data folder), DEEPCART_STRICT_PLUGINS=1 (a
    plugin that fails to load is an error), DEEPCART_LOAD_PLUGINS=a,b (load only these entry points).
    """
    # Every command below gets this invocation's plugins (and so the registry) as ``ctx.obj``:
    # plugins take it with ``@click.pass_obj`` instead of importing anything from this module.
    ctx.obj = plugins_for(ctx)


@cli.group("plugins", invoke_without_command=True)
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON instead of a table.")
@click.pass_context
def plugins_command(ctx: click.Context, as_json: bool) -> None:
    """List installed plugins, the components each provides, and plugins that failed to load."""
    if ctx.invoked_subcommand is not None:
        return
    plugins = plugins_for(ctx)
    cli._plugin_commands(ctx)  # run register_commands so commands are attributed to plugins
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
    from deepcart.plugin_manager import kinds_table

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


class ServeGroup(click.Group):
    """``deepcart serve [FRONTEND]``: one sub-command per registered frontend.

    With no frontend named, the first registered one serves (``panel`` when installed), so
    ``deepcart serve --port 8000`` works as ``deepcart serve panel --port 8000``.
    """

    def list_commands(self, ctx: click.Context) -> list[str]:
        return registry_for(ctx).names("frontend")

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        registry = registry_for(ctx)
        if cmd_name not in registry.names("frontend"):
            return None
        return registry.create("frontend", cmd_name).command(cmd_name)

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        names = self.list_commands(ctx)
        wants_help = any(a in ctx.help_option_names for a in args[:1])
        if not names and not wants_help:
            raise click.UsageError(
                "no frontend is installed. The built-in `panel` frontend ships with deepcart; "
                "check `deepcart plugins` for failed plugins.",
                ctx,
            )
        if names and not wants_help and (not args or args[0] not in names):
            default = "panel" if "panel" in names else names[0]
            args = [default, *args]
        return super().parse_args(ctx, args)


@cli.group("serve", cls=ServeGroup)
def serve_command() -> None:
    """Serve an interactive frontend (default: the Panel dashboard) on 127.0.0.1."""


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="deepcart")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

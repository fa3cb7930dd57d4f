"""The ``deepcart`` command line: a small click group that plugins extend.

The kernel owns ``serve``; every other command comes from a plugin's ``register_commands`` hook,
built-in or third-party, and ``serve`` gets one sub-command per registered frontend. Plugins are
loaded once per invocation, lazily, so ``deepcart --version`` does not even do that.
"""

from __future__ import annotations

import sys
import warnings
from collections.abc import Callable
from typing import Any

import click

from deepcart import __version__

_PLUGINS_KEY = "deepcart.plugins"
_COMMANDS_KEY = "deepcart.plugin_commands"


def plugins_for(ctx: click.Context | None = None):
    """The :class:`deepcart.plugin_manager.Plugins` of this invocation, loaded on first use.

    Load failures of third-party plugins are printed to stderr as warnings (or, under
    ``DEEPCART_STRICT_PLUGINS=1``, raised as :class:`deepcart.errors.PluginLoadError`).
    Commands provided by plugins get the same object as ``ctx.obj`` (``@click.pass_obj``).
    """
    from deepcart.plugin_manager import load_plugins

    meta = (ctx or click.get_current_context()).find_root().meta
    if _PLUGINS_KEY not in meta:
        meta[_PLUGINS_KEY] = _printing_warnings(load_plugins)
    return meta[_PLUGINS_KEY]


def _printing_warnings(load: Callable[[], Any]) -> Any:
    """Run ``load`` and print the warnings it raised (plugins that failed) to stderr."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = load()
    for warning in caught:
        click.echo(f"deepcart: warning: {warning.message}", err=True)
    return result


class DeepcartGroup(click.Group):
    """The root group: kernel commands plus the commands that plugins register."""

    def _plugin_commands(self, ctx: click.Context) -> dict[str, tuple[click.Command, Any]]:
        from deepcart.plugin_manager import collect_commands

        meta = ctx.find_root().meta
        if _COMMANDS_KEY not in meta:
            plugins = plugins_for(ctx)
            meta[_COMMANDS_KEY] = _printing_warnings(lambda: collect_commands(plugins, self))
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

    Plugins add loaders, filters, splitters, recommenders, metrics, frontends and the commands
    below. Environment: DEEPCART_DATA (data folder), DEEPCART_STRICT_PLUGINS=1 (a
    plugin that fails to load is an error), DEEPCART_LOAD_PLUGINS=a,b (load only these entry points).
    """
    # Every command below gets this invocation's plugins (and so the registry) as ``ctx.obj``:
    # plugins take it with ``@click.pass_obj`` instead of importing anything from this module.
    ctx.obj = plugins_for(ctx)
    # Collect plugin commands whichever command runs, so a clash with a kernel command is reported.
    cli._plugin_commands(ctx)


class ServeGroup(click.Group):
    """``deepcart serve [FRONTEND]``: one sub-command per registered frontend.

    With no frontend named, the first registered one serves (built-ins register first), so
    ``deepcart serve --port 8000`` works as ``deepcart serve NAME --port 8000`` for that one.
    """

    def list_commands(self, ctx: click.Context) -> list[str]:
        return plugins_for(ctx).registry.names("frontend")

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        registry = plugins_for(ctx).registry
        if cmd_name not in registry.names("frontend"):
            return None
        return registry.create("frontend", cmd_name).command(cmd_name)

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        names = self.list_commands(ctx)
        wants_help = any(a in ctx.help_option_names for a in args[:1])
        if not names and not wants_help:
            raise click.UsageError(
                "no frontend is installed (deepcart ships one built in); check the plugin listing "
                "for failed plugins.",
                ctx,
            )
        if names and not wants_help and (not args or args[0] not in names):
            args = [names[0], *args]
        return super().parse_args(ctx, args)


@cli.group("serve", cls=ServeGroup)
def serve_command() -> None:
    """Serve an interactive frontend (default: the first installed, the dashboard) on 127.0.0.1."""


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="deepcart")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

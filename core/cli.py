"""The ``deepcart`` command line: a small click group that plugins extend.

Every command comes from a plugin's ``register_commands`` hook (the built-in ones too); the kernel
only loads the plugins, once per invocation and lazily (``--version`` does not load them), and
refuses a command name registered twice.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import click

from deepcart import __version__

_COMMANDS_KEY = "deepcart.plugin_commands"


def plugins_for(ctx: click.Context | None = None):
    """This invocation's :class:`deepcart.plugin_manager.Plugins`, loaded on first use.

    It is the root context's ``obj``, so every command (and sub-command, help included) gets it as
    ``ctx.obj`` (``@click.pass_obj``) without importing this module. Third-party load failures are
    printed to stderr as warnings.
    """
    from deepcart.plugin_manager import load_plugins

    root = (ctx or click.get_current_context()).find_root()
    if root.obj is None:
        root.obj = _printing_warnings(load_plugins)
    return root.obj


def _printing_warnings(load: Callable[[], Any]) -> Any:
    """Run ``load`` and print the warnings it raised (plugins that failed) to stderr."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = load()
    for warning in caught:
        click.echo(f"deepcart: warning: {warning.message}", err=True)
    return result


class DeepcartGroup(click.Group):
    """The root group: its own commands (none) plus the commands that plugins register."""

    def _plugin_commands(self, ctx: click.Context) -> dict[str, tuple[click.Command, Any]]:
        from deepcart.plugin_manager import collect_commands

        root = ctx.find_root()
        if _COMMANDS_KEY not in root.meta:
            plugins = plugins_for(ctx)
            root.meta[_COMMANDS_KEY] = _printing_warnings(lambda: collect_commands(plugins, self))
        return root.meta[_COMMANDS_KEY]

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

    Plugins add loaders, filters, splitters, recommenders, metrics, frontends, engines and the commands
    below. Environment: DEEPCART_DATA (data folder), DEEPCART_STRICT_PLUGINS=1 (a plugin that fails to
    load is an error), DEEPCART_LOAD_PLUGINS=a,b (load only these entry points).
    """
    cli._plugin_commands(ctx)  # whichever command runs, so that every clash is reported


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="deepcart")


if __name__ == "__main__":  # pragma: no cover  (python -m deepcart.cli: tests and scripts)
    main()

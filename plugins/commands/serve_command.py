"""The built-in ``deepcart serve`` command: one sub-command per registered frontend.

``deepcart serve NAME`` runs the command that frontend ``NAME`` builds (``Frontend.command``, with
the frontend's own options); with no name, the first registered frontend serves (built-ins register
first), so ``deepcart serve --port 8000`` runs the built-in dashboard.
"""

from __future__ import annotations

import click

from deepcart import hookimpl


class ServeGroup(click.Group):
    """A click group whose sub-commands are the registered frontends, looked up at run time."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return ctx.obj.registry.names("frontend")

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        registry = ctx.obj.registry
        if cmd_name not in registry.names("frontend"):
            return None
        return registry.create("frontend", cmd_name).command(cmd_name)

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        names = self.list_commands(ctx)
        wants_help = any(a in ctx.help_option_names for a in args[:1])
        if not names and not wants_help:
            raise click.UsageError("no frontend is installed (deepcart ships one built in); check "
                                   "'deepcart plugins' for plugins that failed to load.", ctx)
        if names and not wants_help and (not args or args[0] not in names):
            args = [names[0], *args]  # no frontend named: the first registered one
        return super().parse_args(ctx, args)


@click.group("serve", cls=ServeGroup)
def serve_command() -> None:
    """Serve an interactive frontend (default: the first installed, the dashboard) on 127.0.0.1."""


@hookimpl
def register_commands(cli) -> None:
    """Add ``serve``."""
    cli.add_command(serve_command)

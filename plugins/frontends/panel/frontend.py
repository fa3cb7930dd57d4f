"""``deepcart serve panel``: the :class:`PanelFrontend` and the command that loads the data and serves.

The command gets this invocation's :class:`deepcart.plugin_manager.Plugins` from the root CLI as
``ctx.obj`` (``@click.pass_obj``) and loads the models through its registry. Panel is imported only
when the command runs, so ``deepcart --help`` stays fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import click
import pydantic


#: Default of ``--max-sessions``: the session benchmark keeps 20 at once responsive on 2 cores.
DEFAULT_MAX_SESSIONS = 20
#: Default of ``--idle-minutes``.
DEFAULT_IDLE_MINUTES = 60.0
#: Addresses that listen on every interface (no host name of their own).
WILDCARD_ADDRESSES = ("", "0.0.0.0", "::")


class PanelConfig(pydantic.BaseModel):
    """Defaults of ``deepcart serve panel`` (each one a command-line option)."""

    model_config = pydantic.ConfigDict(extra="forbid")
    port: int = pydantic.Field(5006, ge=1, le=65535, description="TCP port to listen on")
    address: str = pydantic.Field("127.0.0.1", description="address to listen on")
    show: bool = pydantic.Field(False, description="open the page in a web browser")
    max_sessions: int = pydantic.Field(DEFAULT_MAX_SESSIONS, ge=1, description="browser sessions served at once")
    idle_minutes: float = pydantic.Field(DEFAULT_IDLE_MINUTES, gt=0, description="close a page idle this long")


class PanelFrontend:
    """The Panel dashboard: search, rate, and see picks move at once (fold-in)."""

    Config: ClassVar[type] = PanelConfig

    def __init__(self, config: PanelConfig | None = None):
        self.config = config or PanelConfig()

    def command(self, name: str) -> click.Command:
        """Build ``deepcart serve NAME``."""
        config = self.config

        @click.command(name)
        @click.option("--data-tag", help="Dataset tag (default: the one the first --model was trained on, "
                                         "else 'synthetic').")
        @click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path),
                      help="Folder holding dataset tags (default: $DEEPCART_DATA or ~/.local/share/deepcart).")
        @click.option("--model", "models", multiple=True, type=click.Path(path_type=Path), metavar="DIR",
                      help="Model folder from `deepcart train` or `deepcart run`. Repeatable: the page "
                           "lets you switch between models.")
        @click.option("--port", type=click.IntRange(1, 65535), default=config.port, show_default=True)
        @click.option("--address", default=config.address, show_default=True,
                      help="Address to listen on (the page is reachable as localhost and 127.0.0.1).")
        @click.option("--show/--no-show", default=config.show, show_default=True,
                      help="Open the page in a web browser.")
        @click.option("--any-build", is_flag=True,
                      help="Use models trained on another build of the dataset, or that do not say which.")
        @click.option("--allow-host", "allow_hosts", multiple=True, metavar="NAME",
                      help="Also answer requests for this host name (the loopback names and --address are "
                           "allowed; any other Host or Origin gets 403). Repeatable.")
        @click.option("--max-sessions", type=click.IntRange(min=1), default=config.max_sessions,
                      show_default=True,
                      help="Browser sessions served at once; one more gets a 'busy, try again' page.")
        @click.option("--idle-minutes", type=click.FloatRange(min=0, min_open=True), default=config.idle_minutes,
                      show_default=True,
                      help="Close a page left without a click this long (it says so; its ratings go "
                           "unless downloaded), to free its place and memory.")
        @click.pass_obj
        def serve_panel(plugins, data_tag, data_dir, models, port, address, show, any_build, allow_hosts,
                        max_sessions, idle_minutes) -> None:
            """Serve the dashboard: find products, rate them, watch your worst picks move.

            Each browser session gets its own ratings, kept in memory and downloadable as JSONL
            (the Amazon 2023 review format, for `deepcart recommend --ratings`); nothing is written
            into the dataset. The page loads nothing from the internet.
            """
            run_server(plugins.registry, data_tag=data_tag, data_dir=data_dir, models=list(models),
                       port=port, address=address, show=show, any_build=any_build, allow_hosts=allow_hosts,
                       max_sessions=max_sessions, idle_minutes=idle_minutes)

        return serve_panel


def run_server(registry, *, data_tag: str | None, data_dir: Path | None, models: list[Path], port: int,
               address: str, show: bool, any_build: bool, allow_hosts: tuple[str, ...], max_sessions: int,
               idle_minutes: float) -> None:
    """Load the data and the models once (through ``registry``), then serve until interrupted."""
    from deepcart.plugins.frontends.panel.allocator import restart_with_system_malloc

    restart_with_system_malloc()  # returns only where no restart is needed (see its module)
    from deepcart.errors import DeepcartError
    from deepcart.pipeline.model_store import read_model_manifest
    from deepcart.plugins.frontends.panel.data import load_dashboard_data

    def echo(message: str) -> None:
        click.echo(message, err=True)

    asked_for = bool(data_tag) or bool(models)
    if not data_tag:
        unreadable = []
        for folder in models:
            try:
                data_tag = read_model_manifest(folder)["dataset"].get("tag")
            except DeepcartError as exc:
                unreadable.append(f"Model {folder} was not loaded: {exc.message}")
                continue
            if data_tag:
                break
        if not data_tag and unreadable:
            raise click.ClickException("not serving: " + " ".join(unreadable))
        data_tag = data_tag or "synthetic"
    data = load_dashboard_data(data_tag, data_dir, models, registry, echo=echo, any_build=any_build)
    # A dataset or model the person named that does not load is an error: a page that cannot show
    # what was asked for helps nobody. With nothing named, the page explains how to get a model.
    if asked_for and data.failures:
        raise click.ClickException("not serving: " + " ".join(data.failures))
    for problem in data.problems:
        echo(f"deepcart: warning: {problem}")

    from deepcart.plugins.frontends.panel.server import serve

    host = "127.0.0.1" if address in WILDCARD_ADDRESSES else address

    def listening() -> None:
        click.echo(f"deepcart dashboard: http://{host}:{port}/  (Ctrl-C to stop)", err=True)

    try:
        serve(data, port=port, address=address, show=show, on_listening=listening, allow_hosts=allow_hosts,
              max_sessions=max_sessions, idle_minutes=idle_minutes)
    except OSError as exc:  # most often: the port is taken
        raise click.ClickException(f"cannot listen on {address}:{port}: {exc.strerror or exc}; "
                                   "choose another --port") from None
    except KeyboardInterrupt:
        echo("Stopped.")

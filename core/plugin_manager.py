"""Building the plugin manager: built-in plugins first, then entry points, one at a time.

:func:`load_plugins` is a factory, not a module global: every run and every test gets a fresh manager.
A third-party plugin that fails to import (``sys.exit()`` included), fails hook validation or raises
while registering is recorded in :attr:`Plugins.failed` and reported as a :class:`PluginWarning`
naming its entry point and distribution; it never breaks the others (``DEEPCART_STRICT_PLUGINS=1``:
an error). ``DEEPCART_LOAD_PLUGINS=a,b`` loads only those entry points. Built-ins always load.
"""

from __future__ import annotations

import os
import signal
import threading
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib import import_module, metadata
from typing import Any

import pluggy

from deepcart import PROJECT_NAME, __version__, hookspecs
from deepcart.contracts import KINDS
from deepcart.errors import DeepcartError, DuplicateComponentError, PluginLoadError
from deepcart.registry import PluginSource, Registry

ENTRY_POINT_GROUP = PROJECT_NAME
STRICT_ENV = "DEEPCART_STRICT_PLUGINS"
ONLY_ENV = "DEEPCART_LOAD_PLUGINS"
#: Component hooks by kind: ``register_loaders`` for ``loader``, ...
COMPONENT_HOOKS: dict[str, str] = {kind: f"register_{kind}s" for kind in KINDS}
#: The package whose ``BUILTIN_PLUGINS`` lists the built-in plugin modules, in load order.
BUILTINS_PACKAGE = "deepcart.plugins"


class PluginWarning(UserWarning):
    """A plugin failed to load and was skipped."""


@dataclass
class LoadedPlugin:
    """A plugin that loaded, with the component names it provides per kind."""

    source: PluginSource
    plugin: Any
    components: dict[str, list[str]] = field(default_factory=dict)


@dataclass
class FailedPlugin:
    """A plugin that was skipped, and why."""

    source: PluginSource
    error: str


@dataclass
class Plugins:
    """The result of :func:`load_plugins`: the pluggy manager, the registry and the load report."""

    manager: pluggy.PluginManager
    registry: Registry
    loaded: list[LoadedPlugin]
    failed: list[FailedPlugin]


def strict_from_env() -> bool:
    """Whether ``DEEPCART_STRICT_PLUGINS`` asks for plugin failures to be fatal."""
    return os.environ.get(STRICT_ENV, "").strip().lower() in {"1", "true", "yes", "on"}


def new_manager() -> pluggy.PluginManager:
    """An empty pluggy manager that knows deepcart's hook specs."""
    pm = pluggy.PluginManager(PROJECT_NAME)
    pm.add_hookspecs(hookspecs)
    return pm


def load_plugins(
    *,
    builtins: Sequence[str] | None = None,
    entry_points: bool = True,
    extra: Iterable[tuple[Any, PluginSource]] = (),
    strict: bool | None = None,
    only: set[str] | None | bool = True,
) -> Plugins:
    """Build a fresh plugin manager and registry.

    :param builtins: built-in plugin modules (default ``BUILTIN_PLUGINS``); their failure raises.
    :param entry_points: whether to load the ``deepcart`` entry-point group.
    :param extra: ``(plugin, source)`` pairs registered after the entry points (tests add plugins so).
    :param strict: make third-party failures fatal; default from ``DEEPCART_STRICT_PLUGINS``.
    :param only: entry-point names to load; ``True`` (default): ``DEEPCART_LOAD_PLUGINS``; ``None``: all.
    """
    strict = strict_from_env() if strict is None else strict
    raw = os.environ.get(ONLY_ENV)  # unset: every entry point
    from_env = None if raw is None else {name.strip() for name in raw.split(",") if name.strip()}
    allowed = from_env if only is True else only
    plugins = Plugins(new_manager(), Registry(), [], [])
    if builtins is None:
        builtins = import_module(BUILTINS_PACKAGE).BUILTIN_PLUGINS
    for module_name in builtins:
        source = PluginSource(module_name, PROJECT_NAME, __version__)
        _register(plugins, import_module(module_name), source, fatal=True)
    if entry_points:
        for ep in sorted(metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
            if allowed is not None and ep.name not in allowed:
                continue
            dist = getattr(ep, "dist", None)
            source = PluginSource(ep.name, getattr(dist, "name", "unknown distribution"),
                                  getattr(dist, "version", "?"), entry_point=f"{ep.name} = {ep.value}")
            try:
                with _ctrl_c() as user:
                    plugin = ep.load()
            except PLUGIN_FAILURES as exc:  # anything third-party code raises at import, sys.exit() too
                _fail(plugins, source, exc, strict, user)
                continue
            _register(plugins, plugin, source, fatal=strict)
    for plugin, source in extra:
        _register(plugins, plugin, source, fatal=strict)
    return plugins


def _register(plugins: Plugins, plugin: Any, source: PluginSource, *, fatal: bool) -> None:
    """Register one plugin and collect its components; undo everything if any step fails."""
    pm, registry = plugins.manager, plugins.registry
    try:
        pm.register(plugin, name=source.name)
    except Exception as exc:  # pluggy.PluginValidationError, or a name clash
        _fail(plugins, source, exc, fatal)
        return
    entry = LoadedPlugin(source, plugin)
    try:
        with _ctrl_c() as user:
            pm.check_pending()
            for kind, hook_name in COMPONENT_HOOKS.items():
                for call in _impls_of(pm, hook_name, plugin):

                    def register(name: str, component: Any, _kind: str = kind) -> None:
                        registry.add(_kind, name, component, source)
                        entry.components.setdefault(_kind, []).append(name)

                    call(register=register)
    except PLUGIN_FAILURES as exc:
        registry.remove_source(source)
        pm.unregister(plugin)
        _fail(plugins, source, exc, fatal, user)
        return
    plugins.loaded.append(entry)


def _impls_of(pm: pluggy.PluginManager, hook_name: str, plugin: Any) -> list[Callable[..., Any]]:
    """The implementations of ``hook_name`` that ``plugin`` provides, as plain callables."""
    hook = getattr(pm.hook, hook_name)
    return [impl.function for impl in hook.get_hookimpls() if impl.plugin is plugin]


def _fail(plugins: Plugins, source: PluginSource, exc: BaseException, fatal: bool,
          ctrl_c: list[bool] = (False,)) -> None:
    if isinstance(exc, KeyboardInterrupt) and ctrl_c[0]:
        raise exc  # the user's own Ctrl-C: stop
    message = f"{type(exc).__name__}: {exc}" if not isinstance(exc, DeepcartError) else exc.message
    where = source.entry_point or source.name
    text = f"{source} failed to load ({where}): {message}"
    if fatal:
        raise PluginLoadError(text) from exc
    plugins.failed.append(FailedPlugin(source, message))
    warnings.warn(text, PluginWarning, stacklevel=3)


def collect_commands(plugins: Plugins, root: Any, *,
                     strict: bool | None = None) -> dict[str, tuple[Any, PluginSource]]:
    """Run every plugin's ``register_commands`` hook; return ``{name: (command, source)}``.

    Each plugin gets its own scratch group, so it cannot silently replace a command of ``root`` or of
    another plugin (``click.Group.add_command`` would). A clash is an error naming both; for a
    third-party plugin it is reported like any load failure and only its commands are skipped.
    """
    import click

    strict = strict_from_env() if strict is None else strict
    commands: dict[str, tuple[Any, PluginSource]] = {}
    kernel = set(root.commands)
    for entry in plugins.loaded:
        added: dict[str, Any] = {}
        try:
            with _ctrl_c() as user:
                for call in _impls_of(plugins.manager, "register_commands", entry.plugin):
                    scratch = click.Group(name=root.name)
                    call(cli=scratch)
                    for name, command in scratch.commands.items():
                        if name in kernel or name in commands or name in added:
                            first = ("deepcart's kernel" if name in kernel
                                     else commands[name][1] if name in commands else entry.source)
                            raise DuplicateComponentError("command", name, str(first), str(entry.source))
                        added[name] = command
        except PLUGIN_FAILURES as exc:
            _fail(plugins, entry.source, exc, strict or entry.source.entry_point is None, user)
            continue
        for name, command in added.items():
            commands[name] = (command, entry.source)
        if added:
            entry.components["command"] = list(added)
    return commands


#: What a plugin's code may raise and only disable that plugin: any error, ``sys.exit()`` (argparse
#: at import) and a ``KeyboardInterrupt`` of its own (the user's Ctrl-C still stops: :func:`_ctrl_c`).
PLUGIN_FAILURES = (Exception, SystemExit, KeyboardInterrupt)


@contextmanager
def _ctrl_c() -> Iterator[list[bool]]:
    """Yield ``[False]``, set to True if a real Ctrl-C (SIGINT) arrives while plugin code runs."""
    arrived = [False]

    def on_sigint(signum, frame):
        arrived[0] = True
        raise KeyboardInterrupt

    main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGINT, on_sigint) if main else None
    try:
        yield arrived
    finally:
        if main:
            signal.signal(signal.SIGINT, previous)

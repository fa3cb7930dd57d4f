"""Building the plugin manager: built-in plugins first, then entry points, one at a time.

:func:`load_plugins` is a factory, not a module global, so every command-line run and every test gets
a fresh manager (the lesson of pytest and pluggy's own examples). A third-party plugin that fails to
import, fails hook validation or raises inside a registration hook is recorded in
:attr:`Plugins.failed` and reported as a :class:`PluginWarning` naming the entry point and the
distribution; it never breaks the other plugins or the command line. ``DEEPCART_STRICT_PLUGINS=1``
turns that into a :class:`deepcart.errors.PluginLoadError`. ``DEEPCART_LOAD_PLUGINS=a,b`` loads only
the entry points named (``DEEPCART_LOAD_PLUGINS=`` loads none); built-ins always load.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from importlib import import_module, metadata
from typing import Any

import pluggy

from deepcart import PROJECT_NAME, __version__, hookspecs
from deepcart.errors import DeepcartError, PluginLoadError
from deepcart.registry import PluginSource, Registry

ENTRY_POINT_GROUP = PROJECT_NAME
STRICT_ENV = "DEEPCART_STRICT_PLUGINS"
ONLY_ENV = "DEEPCART_LOAD_PLUGINS"

#: Component hooks, by the kind of component they register.
COMPONENT_HOOKS: dict[str, str] = {
    "loader": "register_loaders",
    "filter": "register_filters",
    "splitter": "register_splitters",
    "recommender": "register_recommenders",
    "metric": "register_metrics",
    "frontend": "register_frontends",
}

#: Built-in plugins, one module each, loaded in this order before any entry point.
BUILTIN_PLUGINS: tuple[str, ...] = (
    "deepcart.plugins.loaders.amazon2023",
    "deepcart.plugins.loaders.amazon_csv",
    "deepcart.plugins.filters.min_count",
    "deepcart.plugins.filters.orphans",
    "deepcart.plugins.filters.subsample",
    "deepcart.plugins.filters.kcore",
    "deepcart.plugins.metrics.error_metrics",
    "deepcart.plugins.metrics.correlation",
    "deepcart.plugins.metrics.ranking",
    "deepcart.plugins.recommenders.naive",
    "deepcart.plugins.recommenders.knn",
    "deepcart.plugins.recommenders.autoencoder",
    "deepcart.plugins.recommenders.vae",
    "deepcart.plugins.splitters.user_holdout",
    "deepcart.plugins.splitters.temporal",
    "deepcart.plugins.commands.dataset_commands",
    "deepcart.plugins.commands.evaluate_command",
    "deepcart.plugins.commands.model_commands",
    "deepcart.plugins.commands.plugin_admin",
    "deepcart.plugins.frontends.panel_frontend",
)


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


def only_from_env() -> set[str] | None:
    """The entry-point names ``DEEPCART_LOAD_PLUGINS`` allows; ``None`` when it is unset (all)."""
    raw = os.environ.get(ONLY_ENV)
    if raw is None:
        return None
    return {name.strip() for name in raw.split(",") if name.strip()}


def new_manager() -> pluggy.PluginManager:
    """An empty pluggy manager that knows deepcart's hook specs."""
    pm = pluggy.PluginManager(PROJECT_NAME)
    pm.add_hookspecs(hookspecs)
    return pm


def load_plugins(
    *,
    builtins: Sequence[str] = BUILTIN_PLUGINS,
    entry_points: bool = True,
    extra: Iterable[tuple[Any, PluginSource]] = (),
    strict: bool | None = None,
    only: set[str] | None | bool = True,
) -> Plugins:
    """Build a fresh plugin manager and registry.

    :param builtins: module names of the built-in plugins (a failure among them is a bug: it raises).
    :param entry_points: whether to load the ``deepcart`` entry-point group.
    :param extra: further ``(plugin, source)`` pairs to register after the entry points (tests use
        this to add plugins without installing a distribution).
    :param strict: make third-party failures fatal; default from ``DEEPCART_STRICT_PLUGINS``.
    :param only: entry-point names to load; ``True`` (default) reads ``DEEPCART_LOAD_PLUGINS``,
        ``None`` loads all.
    """
    strict = strict_from_env() if strict is None else strict
    allowed = only_from_env() if only is True else only
    plugins = Plugins(new_manager(), Registry(), [], [])

    dist_version = __version__
    for module_name in builtins:
        source = PluginSource(module_name, PROJECT_NAME, dist_version)
        _register(plugins, import_module(module_name), source, fatal=True)

    if entry_points:
        for ep in sorted(metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
            if allowed is not None and ep.name not in allowed:
                continue
            dist = getattr(ep, "dist", None)
            source = PluginSource(
                ep.name,
                dist.name if dist is not None else "unknown distribution",
                dist.version if dist is not None else "?",
                entry_point=f"{ep.name} = {ep.value}",
            )
            try:
                plugin = ep.load()
            except Exception as exc:  # any import-time failure of third-party code
                _fail(plugins, source, exc, strict)
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
        pm.check_pending()
        for kind, hook_name in COMPONENT_HOOKS.items():
            for call in _impls_of(pm, hook_name, plugin):
                names: list[str] = []

                def register(name: str, component: Any, _kind: str = kind, _names=names) -> None:
                    registry.add(_kind, name, component, source)
                    _names.append(name)

                call(register=register)
                if names:
                    entry.components.setdefault(kind, []).extend(names)
    except Exception as exc:
        registry.remove_source(source)
        pm.unregister(plugin)
        _fail(plugins, source, exc, fatal)
        return
    plugins.loaded.append(entry)


def _impls_of(pm: pluggy.PluginManager, hook_name: str, plugin: Any) -> list[Callable[..., Any]]:
    """The implementations of ``hook_name`` that ``plugin`` provides, as plain callables."""
    hook = getattr(pm.hook, hook_name)
    return [impl.function for impl in hook.get_hookimpls() if impl.plugin is plugin]


def _fail(plugins: Plugins, source: PluginSource, exc: BaseException, fatal: bool) -> None:
    message = f"{type(exc).__name__}: {exc}" if not isinstance(exc, DeepcartError) else exc.message
    where = source.entry_point or source.name
    text = f"{source} failed to load ({where}): {message}"
    if fatal:
        raise PluginLoadError(text) from exc
    plugins.failed.append(FailedPlugin(source, message))
    warnings.warn(text, PluginWarning, stacklevel=3)


def collect_commands(
    plugins: Plugins, root: Any, *, strict: bool | None = None
) -> dict[str, tuple[Any, PluginSource]]:
    """Run every plugin's ``register_commands`` hook; return ``{name: (command, source)}``.

    Each plugin gets its own scratch group, so a plugin cannot silently replace a command of the
    kernel or of another plugin (``click.Group.add_command`` would). A clash is an error naming both;
    for a third-party plugin it is reported like any load failure and only its commands are skipped.
    """
    import click

    from deepcart.errors import DuplicateComponentError

    strict = strict_from_env() if strict is None else strict
    commands: dict[str, tuple[Any, PluginSource]] = {}
    kernel = set(root.commands)
    for entry in plugins.loaded:
        added: dict[str, Any] = {}
        try:
            for call in _impls_of(plugins.manager, "register_commands", entry.plugin):
                scratch = click.Group(name=root.name)
                call(cli=scratch)
                for name, command in scratch.commands.items():
                    if name in kernel:
                        raise DuplicateComponentError(
                            "command", name, "deepcart's kernel", str(entry.source)
                        )
                    if name in commands or name in added:
                        first = commands[name][1] if name in commands else entry.source
                        raise DuplicateComponentError("command", name, str(first), str(entry.source))
                    added[name] = command
        except Exception as exc:
            _fail(plugins, entry.source, exc, strict or entry.source.entry_point is None)
            continue
        for name, command in added.items():
            commands[name] = (command, entry.source)
        if added:
            entry.components["command"] = list(added)
    return commands

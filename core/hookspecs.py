"""Hook specifications: every extension point of deepcart.

A plugin is a module or object with functions named like the specs below and marked with
:data:`deepcart.hookimpl`. Six hooks add *components* and one adds *commands*:

============================  ===================  =========================================
hook                          component kind       contract the registered object must meet
============================  ===================  =========================================
:func:`register_loaders`      ``loader``           :class:`deepcart.contracts.Loader`
:func:`register_filters`      ``filter``           :class:`deepcart.contracts.Filter`
:func:`register_splitters`    ``splitter``         :class:`deepcart.contracts.Splitter`
:func:`register_recommenders` ``recommender``      :class:`deepcart.contracts.Recommender`
:func:`register_metrics`      ``metric``           :class:`deepcart.contracts.Metric`
:func:`register_frontends`    ``frontend``         :class:`deepcart.contracts.Frontend`
:func:`register_commands`     CLI commands         :class:`click.Command`
============================  ===================  =========================================

Component hooks receive a ``register`` callback instead of returning values, as in ``llm``: a plugin
may register any number of components, and the kernel knows which plugin registered which one. The
kernel calls each plugin's implementation separately (built-ins first, then entry points in load
order), so results never need combining: every registered component lands in one registry keyed by
``(kind, name)``. Registering a name that another plugin already registered for the same kind is an
error naming both plugins. Every implementation is called once, in plugin load order; return values
are ignored.

Implementations must be cheap: they run on every ``deepcart`` invocation, ``--help`` included.
Register the class (or a factory), and import heavy libraries (torch, duckdb, UI libraries) inside its
methods, never at module top level.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from deepcart import hookspec

if TYPE_CHECKING:
    import click


class Register(Protocol):
    """The callback a component hook receives.

    ``register(name, component)`` adds ``component`` under ``name`` for the hook's kind. ``name``
    must match ``[a-z0-9][a-z0-9@._-]*`` (it is typed on command lines and may become part of file
    names); the component must satisfy the kind's contract in :mod:`deepcart.contracts`.
    """

    def __call__(self, name: str, component: Any) -> None: ...


@hookspec
def register_loaders(register: Register) -> None:
    """Register data loaders (:class:`deepcart.contracts.Loader`): source files -> raw tables.

    :param register: ``register(name, loader)`` once per loader. A build names its loader or takes
        the first whose ``can_read`` accepts the first review file.
    :return: nothing; the return value is ignored.
    """


@hookspec
def register_filters(register: Register) -> None:
    """Register dataset filters (:class:`deepcart.contracts.Filter`): steps between ingest and split.

    :param register: ``register(name, filter)`` once per filter. The chain runs in the user's order.
    :return: nothing; the return value is ignored.
    """


@hookspec
def register_splitters(register: Register) -> None:
    """Register splitters (:class:`deepcart.contracts.Splitter`): train / validation / test.

    :param register: ``register(name, splitter)`` once per splitter.
    :return: nothing; the return value is ignored.
    """


@hookspec
def register_recommenders(register: Register) -> None:
    """Register recommenders (:class:`deepcart.contracts.Recommender`): rating predictors.

    :param register: ``register(name, recommender_class)`` once per recommender; commands and
        frontends choose among the registered names.
    :return: nothing; the return value is ignored.
    """


@hookspec
def register_metrics(register: Register) -> None:
    """Register evaluation metrics (:class:`deepcart.contracts.Metric`).

    :param register: ``register(name, metric)`` once per metric. Ranking metrics that take a
        cut-off are registered under their bare name (``NAME``); users ask for ``NAME@10``.
    :return: nothing; the return value is ignored.
    """


@hookspec
def register_frontends(register: Register) -> None:
    """Register frontends (:class:`deepcart.contracts.Frontend`), served by ``deepcart serve NAME``.

    :param register: ``register(name, frontend)`` once per frontend; each becomes a sub-command of
        the kernel's ``serve`` group.
    :return: nothing; the return value is ignored.
    """


@hookspec
def register_commands(cli: click.Group) -> None:
    """Add top-level commands to the ``deepcart`` command line.

    :param cli: a :class:`click.Group` standing in for the root; call ``cli.add_command(command)``
        or decorate with ``@cli.command()``.
    :return: nothing; the return value is ignored.

    Runs when the command line is built. A command whose name is already taken is refused with an
    error that names both plugins (click itself would silently replace the first one). Commands
    get this invocation's :class:`deepcart.plugin_manager.Plugins` (and so the registry) as
    ``ctx.obj``, e.g. with ``@click.pass_obj``. Import heavy libraries inside the command's
    callback, not at module import time: this hook runs for ``deepcart --help`` too.
    """

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
error naming both plugins.

Implementations must be cheap: they run on every ``deepcart`` invocation, ``--help`` included.
Register the class (or a factory), and import heavy libraries (torch, duckdb, panel) inside its
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
    """Register data loaders: readers that turn source files into deepcart's raw tables.

    :param register: call ``register(name, loader)`` once per loader, where ``loader`` satisfies
        :class:`deepcart.contracts.Loader` (a class or an instance exposing ``load``).
    :return: nothing; the return value is ignored.

    Every plugin's implementation is called once, in plugin load order. ``deepcart build --loader
    NAME`` picks one by name.
    """


@hookspec
def register_filters(register: Register) -> None:
    """Register dataset filters: steps of the filter chain that run between ingest and split.

    :param register: call ``register(name, filter)`` once per filter, where ``filter`` satisfies
        :class:`deepcart.contracts.Filter`.
    :return: nothing; the return value is ignored.

    Every plugin's implementation is called once, in plugin load order. The chain's order is the
    user's, not the registration order.
    """


@hookspec
def register_splitters(register: Register) -> None:
    """Register splitters: strategies that divide a dataset into train / validation / test.

    :param register: call ``register(name, splitter)`` once per splitter, where ``splitter``
        satisfies :class:`deepcart.contracts.Splitter`.
    :return: nothing; the return value is ignored.

    Every plugin's implementation is called once, in plugin load order.
    """


@hookspec
def register_recommenders(register: Register) -> None:
    """Register recommenders: models that predict how a person would rate each product.

    :param register: call ``register(name, recommender_class)`` once per recommender, where the
        class satisfies :class:`deepcart.contracts.Recommender` (a ``Config`` model, ``fit``,
        ``predict``, ``fold_in``, ``save`` / ``load``).
    :return: nothing; the return value is ignored.

    Every plugin's implementation is called once, in plugin load order. ``--recommender NAME`` on
    the command line and the dashboard's model picker choose among the registered names.
    """


@hookspec
def register_metrics(register: Register) -> None:
    """Register evaluation metrics.

    :param register: call ``register(name, metric)`` once per metric, where ``metric`` satisfies
        :class:`deepcart.contracts.Metric`. Ranking metrics that take a cut-off are registered
        under their bare name (``map``); users ask for ``map@10``.
    :return: nothing; the return value is ignored.

    Every plugin's implementation is called once, in plugin load order.
    """


@hookspec
def register_frontends(register: Register) -> None:
    """Register frontends: interactive user interfaces served by ``deepcart serve NAME``.

    :param register: call ``register(name, frontend)`` once per frontend, where ``frontend``
        satisfies :class:`deepcart.contracts.Frontend` (it builds the click command that serves it).
    :return: nothing; the return value is ignored.

    Every plugin's implementation is called once, in plugin load order. The kernel owns the
    ``serve`` command group; each frontend becomes a sub-command of it.
    """


@hookspec
def register_commands(cli: click.Group) -> None:
    """Add top-level commands to the ``deepcart`` command line.

    :param cli: the root :class:`click.Group`; call ``cli.add_command(command)`` or decorate with
        ``@cli.command()``.
    :return: nothing; the return value is ignored.

    Every plugin's implementation is called once, in plugin load order, when the command line is
    built. A command whose name is already taken is refused with an error that names both plugins
    (click itself would silently replace the first one). Import heavy libraries inside the command's
    callback, not at module import time: this hook runs for ``deepcart --help`` too.
    """

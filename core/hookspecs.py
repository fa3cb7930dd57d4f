"""Hook specifications: every extension point of deepcart.

A plugin is a module or object with functions named like the specs below, marked with
:data:`deepcart.hookimpl`. One hook per component kind (``register_loaders`` ... ``register_engines``)
adds components, each meeting its kind's Protocol in :mod:`deepcart.contracts`;
:func:`register_commands` adds click commands.

Component hooks get a ``register`` callback, as in ``llm``: a plugin registers any number of
components and the kernel knows who registered what. Each implementation is called once, in load
order (built-ins, then entry points); a name registered twice for a kind is an error naming both.
Implementations run on every invocation, ``--help`` included: import heavy libraries in methods.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from deepcart import hookspec

if TYPE_CHECKING:
    import click


class Register(Protocol):
    """``register(name, component)``: add ``component`` under ``name`` for the hook's kind; ``name``
    matches :data:`deepcart.registry.NAME_PATTERN` (typed on command lines, may become a file name)."""

    def __call__(self, name: str, component: Any) -> None: ...


@hookspec
def register_loaders(register: Register) -> None:
    """Register data loaders (:class:`deepcart.contracts.Loader`): source files -> raw tables.

    :param register: ``register(name, loader)``; a build takes the named one or the first that reads it.
    :return: ignored.
    """


@hookspec
def register_filters(register: Register) -> None:
    """Register dataset filters (:class:`deepcart.contracts.Filter`): steps between ingest and split.

    :param register: ``register(name, filter)`` per filter; the chain runs in the user's order.
    :return: ignored.
    """


@hookspec
def register_splitters(register: Register) -> None:
    """Register splitters (:class:`deepcart.contracts.Splitter`): train / validation / test.

    :param register: ``register(name, splitter)`` per splitter.
    :return: ignored.
    """


@hookspec
def register_recommenders(register: Register) -> None:
    """Register recommenders (:class:`deepcart.contracts.Recommender`): rating predictors.

    :param register: ``register(name, recommender_class)`` per recommender.
    :return: ignored.
    """


@hookspec
def register_metrics(register: Register) -> None:
    """Register evaluation metrics (:class:`deepcart.contracts.Metric`).

    :param register: ``register(name, metric)``; one with a cut-off registers NAME, users ask NAME@10.
    :return: ignored.
    """


@hookspec
def register_frontends(register: Register) -> None:
    """Register frontends (:class:`deepcart.contracts.Frontend`): interactive interfaces.

    :param register: ``register(name, frontend)`` per frontend; a command serves it by name.
    :return: ignored.
    """


@hookspec
def register_engines(register: Register) -> None:
    """Register engines (:class:`deepcart.contracts.Engine`): where the filter chain and splits run.

    :param register: ``register(name, engine)`` per engine; ``build --engine NAME`` picks one.
    :return: ignored.
    """


@hookspec
def register_commands(cli: click.Group) -> None:
    """Add top-level commands to the ``deepcart`` command line.

    :param cli: a :class:`click.Group` standing in for the root: ``cli.add_command(c)``, ``@cli.command()``.
    :return: ignored.

    A name already taken is refused with an error naming both plugins (click would silently replace
    the first). Commands get this invocation's :class:`deepcart.plugin_manager.Plugins` (and so the
    registry) as ``ctx.obj`` (``@click.pass_obj``); heavy imports belong in the callback.
    """

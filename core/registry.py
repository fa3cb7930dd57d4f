"""The component registry: which plugin provides which loader, filter, recommender, ...

The plugin manager fills one :class:`Registry` per run. Names are what people type
(``--recommender NAME``), so they are validated and a failed lookup lists the names that exist.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from deepcart.config import make_config
from deepcart.contracts import KINDS, REQUIRED_MEMBERS
from deepcart.errors import ContractError, DuplicateComponentError, UnknownComponentError

#: Component names: lower case, digits, ``.``, ``_`` and ``-``; no ``@`` (it separates a metric's
#: cut-off, as in ``NAME@10``) and nothing that could climb out of a folder when used in a path.
NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")


@dataclass(frozen=True)
class PluginSource:
    """Where a plugin came from: its name, distribution and version (and entry point, if any)."""

    name: str
    distribution: str
    version: str
    entry_point: str | None = None

    def __str__(self) -> str:
        return f"plugin {self.name!r} ({self.distribution} {self.version})"


@dataclass(frozen=True)
class Component:
    """One registered component."""

    kind: str
    name: str
    obj: Any
    source: PluginSource

    @property
    def summary(self) -> str:
        """The first line of the component's docstring, or an empty string."""
        doc = (getattr(self.obj, "__doc__", None) or "").strip()
        return doc.splitlines()[0] if doc else ""


@dataclass
class Registry:
    """Components by kind and name, in registration order."""

    _components: dict[str, dict[str, Component]] = field(default_factory=lambda: {k: {} for k in KINDS})

    def add(self, kind: str, name: str, obj: Any, source: PluginSource) -> Component:
        """Register ``obj`` as the ``kind`` component called ``name``.

        :raises ContractError: unknown kind, invalid name, or ``obj`` lacks a required member.
        :raises DuplicateComponentError: another plugin already registered ``name`` for ``kind``.
        """
        if kind not in self._components:
            raise ContractError(f"{source} registered a component of unknown kind {kind!r}")
        if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name):
            raise ContractError(f"{source} registered {kind} {name!r}: names must match {NAME_PATTERN.pattern}")
        missing = [m for m in REQUIRED_MEMBERS[kind] if not hasattr(obj, m)]
        if missing:
            raise ContractError(f"{source} registered {kind} {name!r}, which lacks {', '.join(missing)} "
                                f"(see deepcart.contracts.{kind.capitalize()})")
        existing = self._components[kind].get(name)
        if existing is not None:
            raise DuplicateComponentError(kind, name, str(existing.source), str(source))
        component = self._components[kind][name] = Component(kind, name, obj, source)
        return component

    def remove_source(self, source: PluginSource) -> None:
        """Drop every component ``source`` registered (used when a plugin fails half-way)."""
        for by_name in self._components.values():
            for name in [n for n, c in by_name.items() if c.source == source]:
                del by_name[name]

    def get(self, kind: str, name: str) -> Component:
        """The component ``name`` of ``kind``; :class:`UnknownComponentError` lists the available ones."""
        try:
            return self._components[kind][name]
        except KeyError:
            raise UnknownComponentError(kind, name, self._components.get(kind, {})) from None

    def names(self, kind: str) -> list[str]:
        """Registered names of ``kind``, in registration order."""
        return list(self._components[kind])

    def components(self, kind: str | None = None) -> Iterator[Component]:
        """Every component (of ``kind`` when given), in kind then registration order."""
        for k in KINDS if kind is None else (kind,):
            yield from self._components[k].values()

    def create(self, kind: str, name: str, options: Mapping[str, Any] | None = None) -> Any:
        """Instantiate a component with validated options (see :func:`deepcart.config.make_config`)."""
        component = self.get(kind, name)
        config = make_config(component.obj.Config, options or {}, what=f"{kind} {name!r}")
        return component.obj(config)

"""Exceptions with messages meant for people: click prints ``Error: <message>`` and exits 1, no
traceback, while library callers catch them by type."""

from __future__ import annotations

import difflib
from collections.abc import Iterable

import click


def did_you_mean(name: str, known: Iterable[str]) -> str:
    """`` Did you mean 'x'?`` for the known name closest to a mistyped one, else an empty string."""
    return "".join(f" Did you mean {c!r}?" for c in difflib.get_close_matches(name, list(known), n=1, cutoff=0.6))


class DeepcartError(click.ClickException):
    """Base class of every error deepcart raises on purpose."""


class PluginLoadError(DeepcartError):
    """A plugin could not be loaded (raised instead of a warning under ``DEEPCART_STRICT_PLUGINS``)."""


class DuplicateComponentError(DeepcartError):
    """Two plugins registered the same component name for one kind."""

    def __init__(self, kind: str, name: str, first: str, second: str):
        super().__init__(f"{kind} {name!r} is registered twice: by {first} and by {second}. "
                         f"Uninstall one of them or ask its author to rename the {kind}.")
        self.kind, self.name, self.first, self.second = kind, name, first, second


class UnknownComponentError(DeepcartError):
    """A component name that no plugin registered."""

    def __init__(self, kind: str, name: str, available: Iterable[str]):
        names = sorted(available)
        listed = ", ".join(names) if names else "none (is a plugin missing?)"
        super().__init__(f"unknown {kind} {name!r}.{did_you_mean(name, names)} Available {kind}s: {listed}.")
        self.kind, self.name, self.available = kind, name, names


class ContractError(DeepcartError):
    """A registered component does not meet its kind's contract."""


class ConfigError(DeepcartError):
    """Options for a component failed validation; the message names each bad field."""


class BadInputError(DeepcartError):
    """Input data is malformed; the message names the file, the line and the problem."""

    def __init__(self, path: str, line: int | None, problem: str):
        where = f"{path}, line {line:,}" if line is not None else str(path)
        super().__init__(f"{where}: {problem}")
        self.path, self.line, self.problem = path, line, problem

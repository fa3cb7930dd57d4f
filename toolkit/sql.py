"""Putting values into DuckDB SQL safely: the one quoting helper and the settings' validation.

Table functions (``read_parquet``), ``COPY ... TO`` and ``SET`` take no bound parameters for every
argument, so file names and settings are spliced into SQL text; they always go through
:func:`sql_str` (a string literal with quotes doubled), and settings a person types are checked
against their form first (:func:`memory_limit`), so no value can end the literal and run SQL of its
own (a data folder named ``it's``, or ``--memory-limit "1GB'; COPY ..."``).
"""

from __future__ import annotations

import re

from deepcart.errors import DeepcartError

_MEMORY = re.compile(r"\d+(\.\d+)?\s*(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB|%)", re.IGNORECASE)
_SIZE = re.compile(r"(\d+(?:\.\d+)?)\s*(B|KB|MB|GB|KiB|MiB|GiB)?", re.IGNORECASE)
_UNITS = {"b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "kib": 2**10, "mib": 2**20, "gib": 2**30}


def sql_str(text: object) -> str:
    """``text`` as a SQL string literal (single quotes doubled)."""
    return "'" + str(text).replace("'", "''") + "'"


def memory_limit(text: str) -> str:
    """A DuckDB memory limit as typed (``4GB``, ``512 MiB``, ``80%``), checked; else a clear error."""
    value = str(text).strip()
    if not _MEMORY.fullmatch(value):
        raise DeepcartError(f"--memory-limit {text!r}: expected a number and a unit, such as 4GB, 512MB or 80%")
    return value


def byte_size(text: str, option: str, *, low: int = 1, high: int | None = None) -> int:
    """A size as typed (``16MiB``, ``64 MB``, ``1GiB``, plain bytes) in bytes, within [low, high]."""
    match = _SIZE.fullmatch(str(text).strip())
    if not match:
        raise DeepcartError(f"{option} {text!r}: expected a number and a unit, such as 16MiB or 64MB")
    size = int(float(match.group(1)) * _UNITS[(match.group(2) or "b").lower()])
    if size < low or (high is not None and size > high):
        top = f" and {high:,}" if high is not None else ""
        raise DeepcartError(f"{option} {text!r}: must be between {low:,}{top} bytes")
    return size

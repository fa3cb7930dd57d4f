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


def sql_str(text: object) -> str:
    """``text`` as a SQL string literal (single quotes doubled)."""
    return "'" + str(text).replace("'", "''") + "'"


def memory_limit(text: str) -> str:
    """A DuckDB memory limit as typed (``4GB``, ``512 MiB``, ``80%``), checked; else a clear error."""
    value = str(text).strip()
    if not _MEMORY.fullmatch(value):
        raise DeepcartError(f"--memory-limit {text!r}: expected a number and a unit, such as 4GB, 512MB or 80%")
    return value

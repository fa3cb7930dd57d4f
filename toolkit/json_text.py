"""Reading JSON from files anyone may have written.

Python's ``json`` parser recurses per nesting level: ``[[[[...`` a hundred thousand deep (a 200 KB
line) raises ``RecursionError``, which no ``except ValueError`` catches, so one hostile line or
manifest became a traceback. :func:`loads` makes it one more kind of bad JSON.
"""

from __future__ import annotations

import json
from typing import Any


def loads(text: str | bytes) -> Any:
    """``json.loads(text)``; JSON nested too deeply to read raises ``ValueError`` like any bad JSON."""
    try:
        return json.loads(text)
    except RecursionError:
        raise ValueError("JSON nested too deeply to read") from None

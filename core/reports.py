"""What loaders and filters report back to the build, and what ends up in a tag's manifest."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class Rejected:
    """One input line refused by a loader (``--on-bad-records skip``)."""

    path: str
    line: int
    problem: str
    raw: str

    def to_json(self) -> dict[str, Any]:
        """The record written to ``rejects.jsonl``."""
        return asdict(self)


@dataclass
class IngestReport:
    """What a loader read.

    :ivar lines_read: input lines (or CSV rows) seen across all review files.
    :ivar rejected: lines refused (only with ``on_bad_records="skip"``; ``"fail"`` raises instead).
    :ivar duplicates_dropped: repeated (user, item) reviews dropped (the earliest one is kept).
    :ivar reviews_without_meta: kept reviews whose item has no row in the item meta.
    :ivar items_read: item meta rows read.
    """

    lines_read: int = 0
    rejected: list[Rejected] = field(default_factory=list)
    duplicates_dropped: int = 0
    reviews_without_meta: int = 0
    items_read: int = 0
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class FilterReport:
    """What one filter step dropped; ``message`` is printed and kept in the manifest."""

    step: str
    params: dict[str, Any]
    dropped_users: int
    dropped_items: int
    dropped_ratings: int
    message: str

    def to_json(self) -> dict[str, Any]:
        """The manifest entry of this step."""
        return asdict(self)

"""Steps shared by the built-in filters, written once in ibis: degree counts, row deletion, wording.

Every filter works on the ``interactions`` table of a :class:`~deepcart.toolkit.frames.Frame`, so the
same step runs on DuckDB and on Spark. Counting what a step dropped is done with aggregates over
small saved tables (the ids being dropped, the ids they touch) rather than distinct counts over the
whole table before and after: on five million ratings a distinct count of users costs about as much
as the filter itself.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from deepcart.toolkit.frames import Frame, Key, other, temp

if TYPE_CHECKING:
    import ibis.expr.types as ir


def degrees(frame: Frame, key: Key) -> ir.Table:
    """Ratings per ``key`` id of ``interactions``: columns ``key`` and ``n``."""
    t = frame.interactions()
    return t.group_by(key).aggregate(n=t.count())


def low_degree(frame: Frame, key: Key, below: int, into: str) -> tuple[int, int]:
    """Save the ``key`` ids with fewer than ``below`` ratings as the helper table ``into``.

    :return: (ids found, ratings they hold).
    """
    d = degrees(frame, key)
    low = frame.save(temp(into), d.filter(d.n < int(below)))
    found = frame.values(low, ids=low.count(), ratings=low.n.sum())
    return int(found["ids"]), int(found["ratings"])


def touched(frame: Frame, key: Key, ids: str, into: str) -> None:
    """Save as ``into`` the distinct ``other(key)`` ids rated by the ``key`` ids of the table ``ids``."""
    t = frame.interactions()
    frame.save(temp(into), t.semi_join(frame.table(temp(ids)), key).select(other(key)).distinct())


def vanished(frame: Frame, key: Key, ids: str) -> int:
    """How many ``key`` ids of the helper table ``ids`` no longer have any rating."""
    return frame.count(frame.table(temp(ids)).anti_join(frame.interactions(), key))


def drop_below(frame: Frame, key: Key, n: int) -> tuple[int, int, int]:
    """Drop every ``key`` id with fewer than ``n`` ratings, with all its ratings.

    :return: (``key`` ids dropped, ``other(key)`` ids left without any rating, ratings dropped).
    """
    try:
        ids, ratings = low_degree(frame, key, n, "low")
        if ids == 0:
            return 0, 0, 0
        # Only the other side's ids that the dropped ratings touch can vanish: remember them, delete,
        # then count those with no rating left.
        touched(frame, key, "low", "touched")
        frame.drop_ids(key, frame.table(temp("low")))
        return ids, vanished(frame, other(key), "touched"), ratings
    finally:
        frame.forget(temp("low"), temp("touched"))


# -- wording ---------------------------------------------------------------------------------------


def plural(n: int, word: str) -> str:
    """``1 user``, ``12,345 users``."""
    return f"{n:,} {word}" if n == 1 else f"{n:,} {word}s"


def below(n: int) -> str:
    """The rule of a minimum-count filter: ``<5 ratings``."""
    return f"<{n:,} rating" if n == 1 else f"<{n:,} ratings"


def left_without(n: int, word: str) -> str:
    """``1 item was left without ratings``, ``7 items were left without ratings``."""
    return f"{plural(n, word)} {'was' if n == 1 else 'were'} left without ratings"

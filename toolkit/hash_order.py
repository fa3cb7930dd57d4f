"""A seeded order of ids, cut without a global sort: what ``subsample`` and ``user-holdout`` share.

Ids are ordered by ``md5("<seed>:<id>")`` (then by the id itself), a standard both engines compute
alike. Taking "the first ``k`` ids in that order" with ``ORDER BY ... LIMIT k`` or a ``row_number()``
over all ids works on one machine, but on Spark both pull every id through one task. Here the ids
are grouped into 65,536 buckets by the first four hex digits of their hash; the bucket sizes (a
small table) say which bucket each cut falls in, and only the order *within* buckets is computed,
bucket by bucket, in parallel. The result is exactly the same set as the global sort's.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass
from decimal import Decimal, localcontext
from typing import TYPE_CHECKING, Any

from deepcart.toolkit.frames import Frame, temp

if TYPE_CHECKING:
    import ibis.expr.types as ir

#: Hex digits of the hash that name a bucket: 16**4 = 65,536 buckets.
BUCKET_DIGITS = 4


@dataclass
class HashOrder:
    """Ids in seeded hash order, saved with their bucket and rank within it; see :func:`hash_order`."""

    table: Any  # ir.Table: key, h, bucket, r (0-based rank in the bucket)
    buckets: list[str]  # the non-empty buckets, in order
    ends: list[int]  # ends[i]: ids in buckets[0..i]
    name: str

    @property
    def size(self) -> int:
        """How many ids there are."""
        return self.ends[-1] if self.ends else 0

    def first(self, k: int) -> ir.BooleanValue:
        """Whether an id of :attr:`table` is among the first ``k`` in hash order."""
        import ibis

        if k <= 0:
            return ibis.literal(False)
        if k >= self.size:
            return ibis.literal(True)
        i = bisect.bisect_left(self.ends, k)  # the bucket holding the k-th id
        before = self.ends[i - 1] if i else 0
        t = self.table
        return (t.bucket < self.buckets[i]) | ((t.bucket == self.buckets[i]) & (t.r < k - before))


def hash_order(frame: Frame, ids: ir.Table, key: str, seed: int, name: str) -> HashOrder:
    """Save the distinct ``key`` values of ``ids`` in seeded hash order as the helper table ``name``.

    The caller forgets ``temp(name)`` when done.
    """
    import ibis

    ids = ids.select(key).distinct()
    ids = ids.mutate(h=(ibis.literal(f"{int(seed)}:") + ids[key]).hexdigest("md5"))
    ids = ids.mutate(bucket=ids.h.substr(0, BUCKET_DIGITS))
    rank = ibis.row_number().over(ibis.window(group_by=ids.bucket, order_by=[ids.h, ids[key]]))
    saved = frame.save(temp(name), ids.mutate(r=rank))
    sizes = sorted((row["bucket"], int(row["n"]))
                   for row in frame.rows(saved.group_by("bucket").aggregate(n=saved.count())))
    ends, total = [], 0
    for _, n in sizes:
        total += n
        ends.append(total)
    return HashOrder(saved, [bucket for bucket, _ in sizes], ends, name)


def cut(fraction: float | Decimal, n: int) -> int:
    """How many of ``n`` positions ``0, 1, ...`` lie below ``fraction * n``, computed exactly.

    ``fraction`` counts as written (``repr``): ``0.1`` is one tenth, and a float sum such as
    ``0.4 + 0.2`` is ``0.6000000000000001``, as DuckDB's decimal arithmetic took it before.
    """
    value = fraction if isinstance(fraction, Decimal) else Decimal(repr(fraction))
    with localcontext() as ctx:
        ctx.prec = 60
        return max(0, min(n, math.ceil(value * n)))

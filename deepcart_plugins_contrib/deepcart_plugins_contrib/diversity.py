"""The ``gini`` metric: how unequally the recommended lists spread over the catalogue.

Relevance plays no part: it measures the *diversity of the picks* as a whole. Let ``x_j`` be the
number of users whose top-k holds item ``j`` (its exposure), over all ``n = n_items`` items of the
catalogue, never-recommended ones included (``x_j = 0``). With the items sorted by exposure,
ascending, and ``rank_j`` their 1-based position (tied items share their mean position)::

    gini@k = sum_j w_j x_j / sum_j x_j,    w_j = (2 rank_j - n - 1) / n

the usual Gini index of the exposure distribution: 0 when every item is recommended equally often,
close to 1 when everyone gets the same few items (at most ``1 - k / n``). Lower is more diverse,
so ``higher_is_better`` is False.

**Per user.** The sum runs over recommendation slots, one ``w_j`` per listed item, so the index
is the mean of ``w`` over all slots. A user's value is the mean ``w`` of the items in their own
list: how over-exposed the items they were shown are. The aggregate is the mean of the per-user
values weighted by list length (exactly, not approximately; equal to the plain mean when every
list is full). Users with an empty list are NaN. Padding (``-1``) is ignored.
"""

from __future__ import annotations

from typing import ClassVar, Literal

import numpy as np
import pydantic

from deepcart import hookimpl
from deepcart.metric_types import MetricResult, Rankings


class GiniConfig(pydantic.BaseModel):
    """Options of the ``gini`` metric (it has none)."""

    model_config = pydantic.ConfigDict(extra="forbid")


class Gini:
    """Gini index of item exposure in the top-k lists (0 = perfectly even; lower is more diverse)."""

    Config: ClassVar[type] = GiniConfig
    needs: ClassVar[Literal["rankings"]] = "rankings"
    higher_is_better: ClassVar[bool] = False

    def __init__(self, config: GiniConfig | None = None):
        self.config = config or GiniConfig()

    def compute(self, data: Rankings, *, k: int | None = None) -> MetricResult:
        """Evaluate the top-``k`` of ``data`` (``k=None``: the full list width)."""
        n_items = int(data.n_items)
        if n_items < 1:
            raise ValueError(f"gini needs a catalogue of at least one item, got n_items={n_items}")
        ranked = np.asarray(data.ranked)
        if k is not None:
            ranked = ranked[:, :k]
        listed = ranked >= 0
        if ranked.size and ranked.max() >= n_items:
            raise ValueError(f"ranked item index {int(ranked.max())} is outside the catalogue ({n_items})")
        exposure = np.bincount(ranked[listed], minlength=n_items)
        weight = exposure_weights(exposure)
        slot = np.where(listed, weight[np.maximum(ranked, 0)], 0.0)
        lengths = listed.sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            per_user = np.where(lengths > 0, slot.sum(axis=1) / lengths, np.nan)
        total = int(lengths.sum())
        value = float(slot.sum() / total) if total else 0.0
        extra = {"items": float(np.count_nonzero(exposure)), "slots": float(total)}
        return MetricResult(value, per_user, extra)


def exposure_weights(exposure: np.ndarray) -> np.ndarray:
    """``w_j = (2 rank_j - n - 1) / n`` with tied exposures sharing their mean rank."""
    n = len(exposure)
    values, inverse, counts = np.unique(exposure, return_inverse=True, return_counts=True)
    last = np.cumsum(counts)  # 1-based rank of the last item of each tie group
    mean_rank = last - (counts - 1) / 2.0
    return ((2.0 * mean_rank - n - 1.0) / n)[inverse]


@hookimpl
def register_metrics(register) -> None:
    """Register ``gini`` (``gini@k``)."""
    register("gini", Gini)

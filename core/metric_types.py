"""The data metrics consume and return (:class:`deepcart.contracts.Metric`): :class:`RatingPairs` for
accuracy and correlation metrics, :class:`Rankings` for top-K metrics; column arrays over all users.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class RatingPairs:
    """Predicted vs. actual ratings of check items.

    :ivar users: evaluated-user index of each pair (0..n_users-1, int).
    :ivar predicted: predicted ratings (may hold NaN where the model cannot predict).
    :ivar actual: the ratings the users gave.
    :ivar n_users: number of evaluated users (rows of per-user results).
    """

    users: np.ndarray
    predicted: np.ndarray
    actual: np.ndarray
    n_users: int


@dataclass(frozen=True)
class Rankings:
    """Each user's ranked list and the items relevant to them.

    :ivar ranked: ``(n_users, K)`` item indices, best first in the direction evaluated; ``-1`` pads.
    :ivar relevant: CSR boolean ``(n_users, n_items)`` matrix of relevant check items.
    :ivar n_items: size of the catalogue (for catalogue-wide measures).
    """

    ranked: np.ndarray
    relevant: object
    n_items: int


@dataclass(frozen=True)
class MetricResult:
    """An aggregate metric value plus per-user values (NaN where a user is not covered)."""

    value: float
    per_user: np.ndarray | None = None
    extra: dict[str, float] = field(default_factory=dict)

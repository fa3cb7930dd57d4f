"""Correlation metric: ``pearson`` between predicted and actual ratings of check items.

Per user, over that user's (predicted, actual) pairs::

    r_u = sum((p - mean(p)) * (a - mean(a))) / sqrt(sum((p - mean(p))^2) * sum((a - mean(a))^2))

``value`` is the mean of ``r_u`` over the users it is defined for: at least 2 pairs, and neither
the predictions nor the actual ratings constant (a constant side has no variance, so the
correlation is undefined, not 0); the other users get NaN in ``per_user``. ``extra["global"]`` is
the same formula over all pairs pooled (NaN when fewer than 2 pairs or a side is constant), and
``extra["missing"]`` counts the pairs left out because the prediction is NaN, as ``rmse`` does.
The direction of evaluation does not matter: ratings are ratings.
"""

from __future__ import annotations

from typing import ClassVar, Literal

import numpy as np
import pydantic

from deepcart import hookimpl
from deepcart.metric_types import MetricResult, RatingPairs


class _NoOptions(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")


def _correlation(pred: np.ndarray, actual: np.ndarray) -> float:
    """Pearson's r of two 1-D arrays; NaN when undefined."""
    if pred.size < 2 or np.ptp(pred) == 0 or np.ptp(actual) == 0:
        return float("nan")
    dp, da = pred - pred.mean(), actual - actual.mean()
    r = (dp @ da) / np.sqrt((dp @ dp) * (da @ da))
    return float(np.clip(r, -1.0, 1.0))


class Pearson:
    """Pearson correlation of predicted vs. actual ratings per user, averaged over users."""

    Config: ClassVar[type] = _NoOptions
    needs: ClassVar[Literal["ratings"]] = "ratings"
    higher_is_better: ClassVar[bool] = True

    def __init__(self, config: _NoOptions | None = None):
        self.config = config or _NoOptions()

    def compute(self, data: RatingPairs, *, k: int | None = None) -> MetricResult:
        """Evaluate ``data``; ``k`` is ignored."""
        predicted = np.asarray(data.predicted, dtype=np.float64)
        ok = ~np.isnan(predicted)
        users = np.asarray(data.users)[ok]
        pred = predicted[ok]
        actual = np.asarray(data.actual, dtype=np.float64)[ok]
        n = data.n_users

        # Group the pairs by user once; every per-user statistic is then a reduceat or bincount.
        if users.size and (np.diff(users) < 0).any():  # pairs usually arrive grouped already
            order = np.argsort(users, kind="stable")
            users, pred, actual = users[order], pred[order], actual[order]
        counts = np.bincount(users, minlength=n)
        has = counts > 0
        starts = (np.cumsum(counts) - counts)[has]

        # Constant sides are found exactly (max == min): centring a constant around a computed mean
        # can leave rounding noise that would otherwise pass for variance.
        varies = np.zeros(n, bool)
        if starts.size:
            spread_p = np.maximum.reduceat(pred, starts) - np.minimum.reduceat(pred, starts)
            spread_a = np.maximum.reduceat(actual, starts) - np.minimum.reduceat(actual, starts)
            varies[has] = (spread_p > 0) & (spread_a > 0)
        covered = varies & (counts >= 2)

        # Two passes (means, then centred sums) for accuracy on ratings with a large common offset.
        with np.errstate(invalid="ignore", divide="ignore"):
            mean_p = np.bincount(users, weights=pred, minlength=n) / counts
            mean_a = np.bincount(users, weights=actual, minlength=n) / counts
            dp, da = pred - mean_p[users], actual - mean_a[users]
            cov = np.bincount(users, weights=dp * da, minlength=n)
            var_p = np.bincount(users, weights=dp * dp, minlength=n)
            var_a = np.bincount(users, weights=da * da, minlength=n)
            per_user = np.clip(cov / np.sqrt(var_p * var_a), -1.0, 1.0)
        per_user[~covered] = np.nan

        value = float(per_user[covered].mean()) if covered.any() else float("nan")
        extra = {"global": _correlation(pred, actual), "missing": float((~ok).sum()),
                 "users": float(covered.sum())}
        return MetricResult(value, per_user, extra)


@hookimpl
def register_metrics(register) -> None:
    """Register ``pearson``."""
    register("pearson", Pearson)

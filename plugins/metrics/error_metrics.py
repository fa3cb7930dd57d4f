"""Rating-error metrics: ``rmse`` and ``mae`` over check items.

Both are computed over every (user, check item) pair the model predicted (pairs with a NaN prediction
are left out and counted in ``extra["missing"]``); the per-user values use the same formula on each
user's own pairs.
"""

from __future__ import annotations

from typing import ClassVar, Literal

import numpy as np
import pydantic

from deepcart import hookimpl
from deepcart.metric_types import MetricResult, RatingPairs


class _NoOptions(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")


class _ErrorMetric:
    Config: ClassVar[type] = _NoOptions
    needs: ClassVar[Literal["ratings"]] = "ratings"
    higher_is_better: ClassVar[bool] = False
    power: ClassVar[int]

    def __init__(self, config: _NoOptions | None = None):
        self.config = config or _NoOptions()

    def compute(self, data: RatingPairs, *, k: int | None = None) -> MetricResult:
        ok = ~np.isnan(data.predicted)
        err = np.abs(data.predicted[ok] - data.actual[ok]) ** self.power
        users = data.users[ok]
        sums = np.bincount(users, weights=err, minlength=data.n_users)
        counts = np.bincount(users, minlength=data.n_users)
        with np.errstate(invalid="ignore", divide="ignore"):
            per_user = sums / counts
        total = err.mean() if err.size else np.nan
        if self.power == 2:
            per_user, total = np.sqrt(per_user), float(np.sqrt(total))
        return MetricResult(float(total), per_user, {"missing": float((~ok).sum())})


class RMSE(_ErrorMetric):
    """Root mean squared error of predicted vs. actual ratings: sqrt(mean((p - r)^2))."""

    power = 2


class MAE(_ErrorMetric):
    """Mean absolute error of predicted vs. actual ratings: mean(|p - r|)."""

    power = 1


@hookimpl
def register_metrics(register) -> None:
    """Register ``rmse`` and ``mae``."""
    register("rmse", RMSE)
    register("mae", MAE)

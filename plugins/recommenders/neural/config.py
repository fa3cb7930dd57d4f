"""Training options shared by the neural recommenders (no torch here)."""

from __future__ import annotations

from typing import Any, Literal

import pydantic

from deepcart.toolkit import json_text
from deepcart.toolkit.engagement import EngagementOptions


def int_list(value: Any) -> Any:
    """Accept ``500``, ``"500"``, ``"500,200"`` or ``"[500, 200]"`` for a list of layer sizes.

    ``-o hidden=500,200`` on the command line arrives as a string; pydantic then checks the ints.
    """
    if isinstance(value, int):
        return [value]
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            return json_text.loads(text)
        return [part.strip() for part in text.split(",") if part.strip()]
    return value


class TorchConfig(EngagementOptions):
    """Training options common to the neural recommenders (and the shared ranking options)."""

    epochs: int = pydantic.Field(50, ge=1, description="passes over the training users (at most)")
    batch_size: int = pydantic.Field(256, ge=1, description="people per gradient step")
    lr: float = pydantic.Field(1e-3, gt=0, description="Adam learning rate")
    weight_decay: float = pydantic.Field(
        0.0, ge=0, description="decoupled (AdamW) weight decay; item tables: rows a batch touches"
    )
    patience: int = pydantic.Field(
        5, ge=1, description="epochs without a better validation RMSE before stopping"
    )
    device: Literal["auto", "cpu", "cuda"] = pydantic.Field("auto", description="where to train")
    progress: bool = pydantic.Field(True, description="progress bar on stderr (only on a terminal)")
    log_csv: str | None = pydantic.Field(None, description="write per-epoch losses to this CSV file")

"""The ``temporal`` splitter: a global time cut, like the official Amazon 2023 timestamp split.

Ratings before ``val_cut`` are train. A user with ratings in ``[val_cut, test_cut)`` is a validation
user: those ratings are their check, their ratings before ``val_cut`` their input. A user with
ratings at or after ``test_cut`` is a test user: those are the check, the ratings before ``test_cut``
the input. The defaults are the official cut points (ms): 1628643414042 and 1658002729837. A user
can be in train, val and test at once, as in the official split: the cut is in time, not in people.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

import pydantic

from deepcart import hookimpl
from deepcart.toolkit.frames import COLUMNS, as_frame

if TYPE_CHECKING:
    from deepcart.toolkit.frames import Frame


class TemporalConfig(pydantic.BaseModel):
    """Options of the ``temporal`` splitter (cut points in Unix milliseconds)."""

    model_config = pydantic.ConfigDict(extra="forbid")
    val_cut: int = 1628643414042
    test_cut: int = 1658002729837

    @pydantic.model_validator(mode="after")
    def _ordered(self) -> TemporalConfig:
        if self.val_cut >= self.test_cut:
            raise ValueError("val_cut must be before test_cut")
        return self


class Temporal:
    """Global time cut into train / val / test (official 2023 cut points by default)."""

    Config: ClassVar[type] = TemporalConfig
    portable: ClassVar[bool] = True  # written in ibis: runs on every engine

    def __init__(self, config: TemporalConfig | None = None):
        self.config = config or TemporalConfig()

    def split(self, frame: Frame, *, seed: int) -> None:
        """Create ``train``, ``val_input``, ``val_check``, ``test_input``, ``test_check``; no randomness."""
        frame = as_frame(frame)
        t = frame.interactions()
        v, cut = moment(self.config.val_cut), moment(self.config.test_cut)
        cols = list(COLUMNS)
        frame.save("train", t.filter(t.timestamp < v).select(cols))
        for part, lo, hi in (("val", v, cut), ("test", cut, None)):
            window = [t.timestamp >= lo] + ([t.timestamp < hi] if hi is not None else [])
            check = frame.save(f"{part}_check", t.filter(*window).select(cols))
            people = check.select("user_id").distinct()
            frame.save(f"{part}_input", t.filter(t.timestamp < lo).semi_join(people, "user_id").select(cols))


def moment(ms: int):
    """Unix milliseconds as a timestamp literal (UTC, no zone, like the ``timestamp`` column)."""
    import datetime

    import ibis

    when = datetime.datetime(1970, 1, 1) + datetime.timedelta(milliseconds=ms)
    return ibis.literal(when, type="timestamp")


@hookimpl
def register_splitters(register) -> None:
    """Register ``temporal``."""
    register("temporal", Temporal)

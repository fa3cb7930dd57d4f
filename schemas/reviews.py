"""pandera schema of a review record after type conversion (what a loader reads, before dedup).

The column builders here are shared with :mod:`deepcart.schemas.interactions`, whose rows are the
same records after deduplication and filtering.

pandera (and through it pandas) is imported inside the functions, never at module level: importing
this module is free, and ``deepcart --help`` never pays for pandera. Use :func:`schema`, which builds
the schema once and caches it.

Rules, from the dataset's documentation and what the real files hold (see ``DATA.md``):

* ``user_id`` and ``parent_asin`` are non-empty strings (no length or pattern rule: the 2014 and
  2018 eras use other id formats);
* ``rating`` is a float in [1, 5] (a 0.0 has been seen in the wild);
* ``timestamp`` is a datetime in [1994-01-01, 2100-01-01): Amazon was founded in 1994, and the
  range catches seconds read as milliseconds (1970) and the reverse (far future);
* ``title``, ``text`` (nullable strings), ``helpful_vote`` (nullable integer >= 0) and
  ``verified_purchase`` (nullable boolean) are checked when present: rating-only formats (the
  benchmark CSVs) do not have them.

A raw record set may repeat a (user, item) pair (loaders keep the earliest), so nothing is unique.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandera.pandas as pa

NAME = "reviews"

#: Columns that identify a row in failure reports.
KEY: tuple[str, ...] = ("user_id", "parent_asin")


#: Plausible review times: Amazon was founded in July 1994.
EARLIEST = dt.datetime(1994, 1, 1)
LATEST = dt.datetime(2100, 1, 1)


def pandera() -> Any:
    """The pandas flavour of pandera (``pandera.pandas`` since 0.24; plain ``pandera`` before)."""
    with quiet_pyspark():
        try:
            import pandera.pandas as pa
        except ImportError:  # pragma: no cover - pandera < 0.24
            import pandera as pa
    return pa


@contextmanager
def quiet_pyspark() -> Iterator[None]:
    """Silence PySpark's pandas-3 warning while pandera runs.

    With PySpark installed (``deepcart[spark]``) pandera imports ``pyspark.pandas`` (on import and
    again when it first validates), which warns that it does not support pandas 3 yet; deepcart
    never uses pandas-on-Spark, so the warning would only confuse.
    """
    import warnings

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "PySpark does not yet fully support", FutureWarning)
        yield


def id_column(pa: Any, what: str, *, unique: bool = False) -> pa.Column:
    """A non-empty string id."""
    return pa.Column(
        str, pa.Check.str_length(min_value=1), nullable=False, unique=unique, description=what
    )


def rating_column(pa: Any) -> pa.Column:
    """A star rating, 1.0 to 5.0."""
    return pa.Column(float, pa.Check.in_range(1.0, 5.0), nullable=False, description="stars, 1 to 5")


def timestamp_column(pa: Any) -> pa.Column:
    """When the review was written, between 1994 and 2100."""
    return pa.Column(
        "datetime64[ns]",
        pa.Check.in_range(EARLIEST, LATEST, include_max=False),
        nullable=False,
        description="review time (naive UTC)",
    )


def review_columns(pa: Any) -> dict[str, pa.Column]:
    """The optional columns of a review's text and votes."""
    return {
        "title": pa.Column(str, nullable=True, required=False, description="review title"),
        "text": pa.Column(str, nullable=True, required=False, description="review body"),
        "helpful_vote": pa.Column(
            "Int64", pa.Check.ge(0), nullable=True, required=False, description="helpful votes"
        ),
        "verified_purchase": pa.Column(
            "boolean", nullable=True, required=False, description="bought on Amazon"
        ),
    }


@cache
def schema() -> pa.DataFrameSchema:
    """The schema of review records (integers as pandas ``Int64``, booleans as ``boolean``)."""
    pa = pandera()
    return pa.DataFrameSchema(
        {
            "user_id": id_column(pa, "reviewer id"),
            "parent_asin": id_column(pa, "item id (join key to the item meta)"),
            "rating": rating_column(pa),
            "timestamp": timestamp_column(pa),
            **review_columns(pa),
        },
        name=NAME,
        strict=False,
    )

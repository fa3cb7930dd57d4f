"""pandera schema of the item meta table (``items``), keyed by ``parent_asin``.

After the loader's type conversion: ``price`` is a float or null (the raw files also hold strings
such as ``"—"`` and Hugging Face copies ``"None"``: loaders turn those into null), ``details`` is a
JSON object as a string (a dict in the raw files, already a string in Hugging Face copies),
``categories`` and ``features`` are lists of strings. The table may be empty (rating-only inputs
have no meta); an empty table with the right columns passes.

pandera is imported inside :func:`schema` (see :mod:`deepcart.schemas.reviews`).
"""

from __future__ import annotations

import json
from functools import cache
from typing import TYPE_CHECKING, Any

from deepcart.schemas.reviews import id_column, pandera

if TYPE_CHECKING:
    import pandera.pandas as pa

NAME = "items"

#: Columns that identify a row in failure reports.
KEY: tuple[str, ...] = ("parent_asin",)



def is_string_list(value: Any) -> bool:
    """A list (or array) of strings; ``None`` passes (nullability is a separate rule)."""
    if value is None:
        return True
    if isinstance(value, (str, bytes, dict)) or not hasattr(value, "__iter__"):
        return False
    return all(isinstance(v, str) for v in value)


def is_json_object(value: Any) -> bool:
    """A string holding a JSON object (``{...}``); ``None`` passes."""
    if value is None:
        return True
    try:
        return isinstance(json.loads(value), dict)
    except (TypeError, ValueError):
        return False


@cache
def schema() -> pa.DataFrameSchema:
    """The schema of the item meta table."""
    pa = pandera()

    def text(what: str) -> pa.Column:
        return pa.Column(str, nullable=True, description=what)

    def string_list(what: str) -> pa.Column:
        return pa.Column(
            object,
            pa.Check(is_string_list, element_wise=True, name="is_string_list"),
            nullable=True,
            description=what,
        )

    return pa.DataFrameSchema(
        {
            "parent_asin": id_column(pa, "item id", unique=True),
            "title": text("product name"),
            "main_category": text("top-level category (varies within one category file)"),
            "store": text("seller / brand"),
            "price": pa.Column(float, pa.Check.ge(0.0), nullable=True, description="price in USD"),
            "average_rating": pa.Column(
                float, pa.Check.in_range(0.0, 5.0), nullable=True, description="mean stars on the page"
            ),
            "rating_number": pa.Column(
                "Int64", pa.Check.ge(0), nullable=True, description="number of ratings on the page"
            ),
            "categories": string_list("category path"),
            "features": string_list("bullet points"),
            "details": pa.Column(
                str,
                pa.Check(is_json_object, element_wise=True, name="is_json_object"),
                nullable=True,
                description="product details as a JSON object",
            ),
        },
        name=NAME,
        strict=False,
    )

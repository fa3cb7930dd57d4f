"""Picks: the worst (or best) surviving products with non-trivial engagement for one person.

:func:`pick` asks a model to fold in a person's ratings, keeps the items they have not rated that
have at least ``min_engagement`` ratings in the dataset, and returns the ``k`` most relevant for
the direction: likely to be met and rated low (``direction="worst"``) or high (``"best"``), by the
one rule of :func:`deepcart.pipeline.rank.relevance` (by predicted stars alone for a model without
engagement), ranked by :func:`deepcart.pipeline.rank.rank_scored` (equal relevance: most rated
first, as everywhere).
Each pick carries what a person needs to judge it: title, store, price, predicted and mean stars,
number of ratings, and a real review that fits the direction: the most damning (lowest rating, then
most helpful votes) with worst picks, the most glowing (highest rating, then most helpful) with best.

The :class:`Catalogue` is built once per process from a dataset tag (DuckDB over its Parquet files)
and shared; a pick request is then a fold-in plus a partial sort over the catalogue.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from deepcart.pipeline.rank import Scored, rank_scored, score_people
from deepcart.pipeline.tags import INTERACTIONS, ITEMS
from deepcart.toolkit.sql import sql_str
from deepcart.toolkit.id_index import IdIndex

#: Default for the "non-trivial engagement" rule: at least this many ratings in the dataset.
DEFAULT_MIN_ENGAGEMENT = 20
EXCERPT_CHARS = 280


@dataclass
class Catalogue:
    """Per-item facts of a dataset tag, in one order (``ids`` sorted)."""

    ids: np.ndarray
    titles: np.ndarray
    stores: np.ndarray
    prices: np.ndarray
    mean_rating: np.ndarray
    n_ratings: np.ndarray
    review_rating: np.ndarray
    review_title: np.ndarray
    review_text: np.ndarray
    review_votes: np.ndarray
    categories: np.ndarray | None = None
    #: The most glowing review (highest rating, then most helpful), shown with best picks.
    glowing_rating: np.ndarray | None = None
    glowing_title: np.ndarray | None = None
    glowing_text: np.ndarray | None = None
    glowing_votes: np.ndarray | None = None

    def index_of(self, ids: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """Positions of ``ids`` in the catalogue and a mask of which exist."""
        return self._index.positions(ids)

    @cached_property
    def _index(self) -> IdIndex:
        return IdIndex(self.ids)

    def __len__(self) -> int:
        return len(self.ids)


def load_catalogue(tag_dir: Path) -> Catalogue:
    """Item facts from a tag: meta from ``items.parquet``, engagement and reviews from interactions."""
    import duckdb

    con = duckdb.connect()
    interactions, items = Path(tag_dir) / INTERACTIONS, Path(tag_dir) / ITEMS
    table = con.sql(
        f"""
        WITH stats AS (
            SELECT parent_asin, count(*) AS n_ratings, avg(rating) AS mean_rating
            FROM read_parquet({sql_str(interactions)}) GROUP BY parent_asin
        ), damning AS ({quoted_review(interactions, "review", "rating")}
        ), glowing AS ({quoted_review(interactions, "glowing", "rating DESC")}
        )
        SELECT s.parent_asin, it.title, it.store, it.price, it.categories, s.mean_rating, s.n_ratings,
               d.review_rating, d.review_title, d.review_text, d.review_votes,
               g.glowing_rating, g.glowing_title, g.glowing_text, g.glowing_votes
        FROM stats s JOIN damning d USING (parent_asin) JOIN glowing g USING (parent_asin)
        LEFT JOIN read_parquet({sql_str(items)}) it USING (parent_asin)
        ORDER BY s.parent_asin
        """
    ).to_arrow_table()
    con.close()

    def col(name, dtype=object):
        return np.asarray(table.column(name).to_pylist(), dtype=dtype)

    return Catalogue(
        ids=col("parent_asin", str),
        titles=col("title"),
        stores=col("store"),
        prices=np.asarray([np.nan if p is None else p for p in table.column("price").to_pylist()], float),
        mean_rating=col("mean_rating", float),
        n_ratings=col("n_ratings", np.int64),
        review_rating=col("review_rating", float),
        review_title=col("review_title"),
        review_text=col("review_text"),
        review_votes=col("review_votes", np.int64),
        categories=col("categories"),
        glowing_rating=col("glowing_rating", float),
        glowing_title=col("glowing_title"),
        glowing_text=col("glowing_text"),
        glowing_votes=col("glowing_votes", np.int64),
    )


def quoted_review(interactions: Path, prefix: str, stars_order: str) -> str:
    """SQL of each item's one review to quote: first by ``stars_order``, then the most helpful, the
    longest, the lowest user id (so the choice is stable); columns ``{prefix}_rating`` and so on."""
    return f"""
            SELECT parent_asin, rating AS {prefix}_rating, title AS {prefix}_title, text AS {prefix}_text,
                   coalesce(helpful_vote, 0) AS {prefix}_votes
            FROM read_parquet({sql_str(interactions)})
            QUALIFY row_number() OVER (
                PARTITION BY parent_asin
                ORDER BY {stars_order}, coalesce(helpful_vote, 0) DESC, length(coalesce(text, '')) DESC, user_id
            ) = 1"""


def excerpt(text: str | None, limit: int = EXCERPT_CHARS) -> str:
    """Clean review text (tags, entities, whitespace) cut at a word boundary."""
    if not text:
        return ""
    clean = re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", text))).strip()
    if len(clean) <= limit:
        return clean
    return clean[:limit].rsplit(" ", 1)[0] + "…"


@dataclass
class Pick:
    """One recommended (or warned-against) product."""

    rank: int
    parent_asin: str
    title: str | None
    store: str | None
    price: float | None
    predicted: float
    mean_rating: float
    n_ratings: int
    review_rating: float | None
    review_title: str | None
    review_excerpt: str
    review_helpful_votes: int
    #: Which review is quoted: the most damning (worst picks) or the most glowing (best picks).
    review_kind: str = "most damning"
    #: The model's prediction before clipping to 1-5, when it is outside (what ranked it): None inside.
    model_score: float | None = None
    #: How likely the person is to meet the product, as its engagement's share of the candidates at
    #: or below it (100: the likeliest); None for a model that ranks by stars alone.
    likely_percentile: float | None = None

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return asdict(self)


class CatalogueScorer:
    """A model aligned with a catalogue: maps the model's item columns to catalogue rows once."""

    def __init__(self, model, catalogue: Catalogue):
        self.model = model
        self.catalogue = catalogue
        model_items = np.asarray(model.item_ids).astype(str)
        pos, found = catalogue.index_of(model_items)
        self.columns = np.flatnonzero(found)  # model columns that the catalogue knows
        self.rows = pos[found]  # their catalogue rows
        # Sorted once: a request only binary-searches its few rated items.
        self._model_index = IdIndex(model_items)

    def _columns(self, asins: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """Model columns of ``asins`` and a mask of which the model knows."""
        return self._model_index.positions(np.asarray(list(asins), dtype=str))

    def known(self, asins: Sequence[str]) -> np.ndarray:
        """Which of ``asins`` the model was trained on."""
        return self._columns(asins)[1]

    def scores(self, history: Sequence[tuple[str, float]]) -> Scored:
        """Predicted stars (and engagement) per catalogue row after folding in ``history``.

        Items the model does not know are skipped; an item rated twice counts with its last rating.
        Catalogue rows the model has no column for get NaN stars (never ranked).
        """
        cols, ok = self._columns([asin for asin, _ in history])
        batched = hasattr(self.model, "fold_in_batch") or hasattr(self.model, "fold_in_engagement_batch")
        if batched:
            import scipy.sparse as sp

            latest = {int(c): float(r) for c, r, k in zip(cols, (r for _, r in history), ok) if k}
            row = sp.csr_matrix((np.fromiter(latest.values(), np.float32, len(latest)),
                                 (np.zeros(len(latest), dtype=np.int64),
                                  np.fromiter(latest.keys(), np.int64, len(latest)))),
                                shape=(1, len(self._model_index)))
            raw = score_people(self.model, row)
        else:
            raw = Scored(np.asarray(self.model.fold_in([h for h, k in zip(history, ok) if k]),
                                    dtype=np.float32)[None, :])
        def on_catalogue(values: np.ndarray | None) -> np.ndarray | None:
            if values is None:
                return None
            out = np.full(len(self.catalogue), np.nan, dtype=np.float32)
            out[self.rows] = values[0, self.columns]
            return out

        return replace(raw, stars=on_catalogue(raw.stars), engagement=on_catalogue(raw.engagement),
                                   raw=on_catalogue(raw.raw))


def pick(
    catalogue: Catalogue,
    scores: Scored | np.ndarray,
    history: Sequence[tuple[str, float]],
    *,
    k: int = 10,
    direction: str = "worst",
    min_engagement: int = DEFAULT_MIN_ENGAGEMENT,
) -> list[Pick]:
    """The ``k`` worst (or best) unrated items with at least ``min_engagement`` ratings.

    ``scores`` are the person's scores over ``catalogue`` rows (``CatalogueScorer.scores``; a plain
    array is predicted stars alone); ``history`` is what they rated, so it is never picked. Ranked
    by :mod:`deepcart.pipeline.rank`.
    """
    cat = catalogue
    scored = scores if isinstance(scores, Scored) else Scored(np.asarray(scores, dtype=np.float32))
    blocked = cat.n_ratings < min_engagement
    rated, found = cat.index_of([h[0] for h in history])
    blocked[rated[found]] = True
    ranked = rank_scored(scored, k, direction=direction, blocked=blocked, counts=cat.n_ratings)
    likely = None
    if scored.engagement is not None:
        pool = np.sort(scored.engagement[~blocked & np.isfinite(scored.engagement)])
        likely = lambda row: round(100.0 * np.searchsorted(pool, scored.engagement[row], side="right")  # noqa: E731
                                   / max(len(pool), 1), 1)
    glowing = direction == "best" and cat.glowing_rating is not None
    review = ((cat.glowing_rating, cat.glowing_title, cat.glowing_text, cat.glowing_votes) if glowing else
              (cat.review_rating, cat.review_title, cat.review_text, cat.review_votes))
    picks = []
    for rank, row in enumerate(ranked[ranked >= 0].tolist(), start=1):
        picks.append(Pick(
            rank=rank,
            parent_asin=str(cat.ids[row]),
            title=cat.titles[row],
            store=cat.stores[row],
            price=None if np.isnan(cat.prices[row]) else float(cat.prices[row]),
            predicted=round(float(scored.stars[row]), 3),
            model_score=(round(float(scored.raw[row]), 3) if scored.raw is not None
                         and not 1.0 <= scored.raw[row] <= 5.0 else None),
            mean_rating=round(float(cat.mean_rating[row]), 3),
            n_ratings=int(cat.n_ratings[row]),
            review_rating=float(review[0][row]),
            review_title=review[1][row],
            review_excerpt=excerpt(review[2][row]),
            review_helpful_votes=int(review[3][row]),
            review_kind="most glowing" if glowing else "most damning",
            likely_percentile=likely(row) if likely else None,
        ))
    return picks


#: Control characters, C1 included (``\x9b`` starts a terminal sequence as ``\x1b[`` does).
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def plain(text: str | None) -> str:
    """``text`` without control characters: a title or a review from a data file must not move
    the cursor, clear the screen or retitle the terminal it is printed to."""
    return _CONTROL.sub("", text or "")


def render_picks(picks: Sequence[Pick], direction: str) -> str:
    """A readable list of picks for the terminal (texts from the data made :func:`plain`)."""
    if not picks:
        return "No candidates: lower --min-engagement or rate fewer items."
    lines = [f"{'Worst' if direction == 'worst' else 'Best'} picks:"]
    if any(p.likely_percentile is not None for p in picks):
        lines.append(f"(ranked by how likely you are to meet each product and how "
                     f"{'low' if direction == 'worst' else 'high'} you would rate it)")
    for p in picks:
        price = f"${p.price:,.2f}" if p.price is not None else "price n/a"
        likely = f" · likely: top {max(100 - p.likely_percentile, 0.1):.1f}%" if p.likely_percentile is not None else ""
        lines.append(f"{p.rank:>3}. {plain(p.title) or 'no details in the item file'} [{plain(p.parent_asin)}]")
        beyond = f" (model score {p.model_score:.2f})" if p.model_score is not None else ""
        lines.append(f"     {plain(p.store) or 'unknown store'} · {price} · predicted {p.predicted:.2f}★{beyond}"
                     f"{likely} · mean {p.mean_rating:.2f}★ of {p.n_ratings:,} ratings")
        if p.review_excerpt:
            lines.append(f"     {p.review_kind} review, {p.review_rating:.0f}★ \"{plain(p.review_title)}\": "
                         f"{plain(p.review_excerpt)}")
    return "\n".join(lines)

"""The dashboard's logic, with no UI library: shared data, one person's session, search, downloads.

The Panel view (:mod:`deepcart.plugins.frontends.panel.view`) is a thin layer over this module,
so everything a person can do in the page is a method here that unit tests call without a browser;
:mod:`deepcart.plugins.frontends.panel.data` loads a :class:`DashboardData` from disk.

* :class:`DashboardData` is loaded once per server process and shared, read-only, by every browser
  session: the catalogue of a dataset tag, a :class:`TitleIndex` over its titles, per-item star
  counts, the loaded models, and the problems met while loading them (shown in the page, never as a
  traceback).
* :class:`DashboardSession` is created per browser session: the person's ratings (kept in memory
  only, never written into the dataset), the filters (direction, ``k``, minimum engagement), the
  chosen model, and the picks, recomputed by folding the ratings into the model after each change.
"""

from __future__ import annotations

import importlib
import json
import re
import secrets
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from deepcart.pipeline.picks import DEFAULT_MIN_ENGAGEMENT, Catalogue, CatalogueScorer, Pick, pick
from deepcart.pipeline.rank import Scored

#: Choices of the "how many picks" selector.
K_CHOICES: tuple[int, ...] = (5, 10, 20, 50)
#: Search results shown at most.
SEARCH_LIMIT = 50
#: Prefix of the ``user_id`` written into downloaded ratings.
SESSION_USER_PREFIX = "DEEPCART_SESSION_"
_WORD = re.compile(r"[0-9a-z]+")


def tokenize(text: str | None) -> list[str]:
    """Lower-case alphanumeric words of ``text`` (``"USB-C Hub, 7-in-1"`` -> usb, c, hub, 7, in, 1)."""
    return _WORD.findall(text.lower()) if text else []


def train_command_line(data_tag: str, recommender: str = "knn", out: str = "DIR") -> str:
    """The command line that trains a model for ``data_tag`` (quoted in the page's error messages)."""
    return f"deepcart train --data-tag {data_tag} --recommender {recommender} --out {out}"


class TitleIndex:
    """An inverted index from title words to catalogue rows, for type-as-you-search.

    Built once per process: each distinct word gets an id in sorted order, and the rows whose title
    holds it form one contiguous slice of ``postings`` (CSR layout). Rows are stored as their rank by
    engagement (0 = most ratings), so every slice is sorted, the intersection of slices stays sorted,
    and its head is the most-rated matches: no per-query sort. Each query word matches as a prefix
    (``head`` finds ``headphones``), and since the vocabulary is sorted, the words sharing a prefix
    are a contiguous range whose postings are one slice too. A query costs a few ``searchsorted``
    calls and ``np.intersect1d`` over the matching slices.
    """

    def __init__(self, titles: Sequence[str | None], popularity: np.ndarray):
        popularity = np.asarray(popularity)
        # rank[row] = position of row when sorted by popularity, descending (stable: ties by row)
        self.by_rank = np.argsort(-popularity, kind="stable")
        rank = np.empty(len(popularity), dtype=np.int64)
        rank[self.by_rank] = np.arange(len(popularity))
        word_ids: dict[str, int] = {}
        words: list[int] = []
        rows: list[int] = []
        for row, title in enumerate(titles):
            for word in set(tokenize(title)):
                words.append(word_ids.setdefault(word, len(word_ids)))
                rows.append(row)
        vocab = np.array(list(word_ids), dtype=str) if word_ids else np.array([], dtype=str)
        order = np.argsort(vocab, kind="stable")
        remap = np.empty(len(vocab), dtype=np.int64)
        remap[order] = np.arange(len(vocab))
        self.vocab = vocab[order]
        word_arr = remap[np.asarray(words, dtype=np.int64)] if words else np.array([], dtype=np.int64)
        rank_arr = rank[np.asarray(rows, dtype=np.int64)] if rows else np.array([], dtype=np.int64)
        by_word = np.lexsort((rank_arr, word_arr))
        self.postings = rank_arr[by_word].astype(np.int32)
        self.indptr = np.zeros(len(self.vocab) + 1, dtype=np.int64)
        np.cumsum(np.bincount(word_arr, minlength=len(self.vocab)), out=self.indptr[1:])

    def _matches(self, word: str) -> np.ndarray:
        """Sorted unique ranks of the rows with a title word starting with ``word``."""
        lo = np.searchsorted(self.vocab, word, side="left")
        hi = np.searchsorted(self.vocab, word + "\U0010ffff", side="left")
        found = self.postings[self.indptr[lo]:self.indptr[hi]]
        if hi - lo <= 1:
            return found
        if len(found) < len(self.by_rank) // 64:
            return np.unique(found)
        seen = np.zeros(len(self.by_rank), dtype=bool)  # a short prefix: O(n) beats sorting
        seen[found] = True
        return np.flatnonzero(seen).astype(np.int32)

    def _intersect(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """The sorted intersection of two sorted unique arrays of ranks."""
        if len(a) > len(b):
            a, b = b, a
        if len(b) < len(self.by_rank) // 64:
            return np.intersect1d(a, b, assume_unique=True)
        seen = np.zeros(len(self.by_rank), dtype=bool)
        seen[b] = True
        return a[seen[a]]

    def search(self, query: str, limit: int = SEARCH_LIMIT) -> tuple[np.ndarray, int]:
        """Rows whose title has every word of ``query`` (as a prefix), most-rated first.

        :returns: ``(rows, total)``: at most ``limit`` catalogue rows and the number of matches.
        """
        words = sorted(set(tokenize(query)), key=len, reverse=True)
        if not words or not len(self.vocab):
            return np.array([], dtype=np.int64), 0
        hits = None
        for word in words:  # longest words first: usually the most selective
            found = self._matches(word)
            hits = found if hits is None else self._intersect(hits, found)
            if not len(hits):
                break
        return self.by_rank[hits[:limit]], int(len(hits))


@dataclass
class LoadedModel:
    """A model folder loaded and aligned with the catalogue."""

    label: str
    folder: Path
    recommender: str
    manifest: dict[str, Any]
    scorer: SessionScorer

    @property
    def personalised(self) -> bool:
        """Whether the person's ratings can move its predictions (the recommender's own flag)."""
        return bool(type(self.scorer.model).personalised)


class SessionScorer(CatalogueScorer):
    """A :class:`~deepcart.pipeline.picks.CatalogueScorer` that imports scipy up front, not on the first rating."""

    def __init__(self, model, catalogue: Catalogue):
        super().__init__(model, catalogue)
        if hasattr(model, "fold_in_batch"):
            # it takes a while; a person's first rating must not wait
            importlib.import_module("scipy.sparse")


@dataclass
class DashboardData:
    """What a server process loads once and every session shares (never mutated by a session)."""

    data_tag: str
    catalogue: Catalogue
    models: dict[str, LoadedModel] = field(default_factory=dict)
    #: Messages for the page: a model that failed to load, no model given, no dataset, ...
    problems: list[str] = field(default_factory=list)
    #: The problems that are failures of something the person named (the dataset, a model), as
    #: opposed to advice ("no model is loaded: train one"): ``deepcart serve`` refuses to start on these.
    failures: list[str] = field(default_factory=list)
    #: ``(len(catalogue), 5)``: how many 1..5-star ratings each item got.
    star_counts: np.ndarray | None = None
    #: A few existing users to offer for "start as an existing user": ``(user_id, n_ratings)``.
    sample_users: list[tuple[str, int]] = field(default_factory=list)
    tag_dir: Path | None = None
    index: TitleIndex | None = None
    #: The ``deepcart train`` command suggested when no usable model is loaded.
    train_hint: str = ""

    def __post_init__(self) -> None:
        if self.index is None:
            self.index = TitleIndex(self.catalogue.titles, self.catalogue.n_ratings)
        if self.star_counts is None:
            self.star_counts = _star_counts_from_means(self.catalogue)
        self.train_hint = self.train_hint or train_command_line(self.data_tag)

    @property
    def usable(self) -> bool:
        """Whether at least one model is loaded (otherwise the page only explains how to get one)."""
        return bool(self.models) and len(self.catalogue) > 0

    def user_history(self, user_id: str) -> list[dict[str, Any]]:
        """An existing user's ratings in the dataset (with their review title, text and time)."""
        if self.tag_dir is None:
            return []
        import pyarrow as pa
        import pyarrow.parquet as pq

        from deepcart.pipeline.tags import INTERACTIONS

        table = pq.read_table(Path(self.tag_dir) / INTERACTIONS,
                              columns=["parent_asin", "rating", "title", "text", "timestamp"],
                              filters=[("user_id", "=", user_id)])
        stamps = table.column("timestamp").cast(pa.timestamp("ms")).cast(pa.int64()).to_pylist()
        return [
            {"parent_asin": a, "rating": r, "title": t or "", "text": x or "",
             "timestamp": s if s is not None else _now_ms()}
            for a, r, t, x, s in zip(*(table.column(c).to_pylist() for c in
                                       ("parent_asin", "rating", "title", "text")), stamps)
        ]


def _now_ms() -> int:
    return int(time.time() * 1000)


def _star_counts_from_means(cat: Catalogue) -> np.ndarray:
    """A stand-in when per-star counts are unknown: every rating of an item at its rounded mean."""
    counts = np.zeros((len(cat), 5), dtype=np.int64)
    if len(cat):
        stars = np.clip(np.rint(np.nan_to_num(cat.mean_rating, nan=3.0)), 1, 5).astype(int)
        counts[np.arange(len(cat)), stars - 1] = cat.n_ratings
    return counts


@dataclass
class Rating:
    """One rating the person gave in this session."""

    parent_asin: str
    stars: int
    title: str = ""
    text: str = ""
    timestamp: int = field(default_factory=_now_ms)  # milliseconds, as in the Amazon 2023 files

    def to_review(self, user_id: str) -> dict[str, Any]:
        """This rating as one line of an Amazon Reviews 2023 review file."""
        return {"rating": float(self.stars), "title": self.title, "text": self.text, "images": [],
                "asin": self.parent_asin, "parent_asin": self.parent_asin, "user_id": user_id,
                "timestamp": int(self.timestamp), "helpful_vote": 0, "verified_purchase": False}


@dataclass
class Notice:
    """A message for the person: ``level`` is ``info``, ``success``, ``warning``, ``danger``, or
    ``confirm`` (a question: the same action again goes ahead)."""

    level: str
    text: str


@dataclass
class PicksResult:
    """The picks of the current state and how long they took to compute."""

    picks: list[Pick]
    elapsed_ms: float
    #: Rated items the model does not know (they cannot move the picks).
    unknown: list[str]
    direction: str
    model: str | None
    #: Set when the model failed while scoring (a bug in a plugin): shown instead of the picks.
    error: str | None = None


class DashboardSession:
    """One person's state in the dashboard: ratings, filters, chosen model, and the picks.

    Ratings live only in this object; :meth:`to_jsonl` hands them out in the Amazon 2023 review
    format (for ``deepcart recommend --ratings``), and nothing is ever written into the dataset.
    The fold-in scores are cached per (model, ratings), so changing ``k``, the direction or the
    engagement filter re-ranks without asking the model again.
    """

    def __init__(self, data: DashboardData, *, model: str | None = None, direction: str = "worst",
                 k: int = 10, min_engagement: int = DEFAULT_MIN_ENGAGEMENT):
        self.data = data
        self.user_id = SESSION_USER_PREFIX + secrets.token_hex(8).upper()
        self.ratings: dict[str, Rating] = {}
        self.started_from: str | None = None  # the dataset user this session started as
        self.model_name = model if model is not None else next(iter(data.models), None)
        if self.model_name is not None and self.model_name not in data.models:
            raise ValueError(f"unknown model {self.model_name!r}; loaded: {', '.join(data.models)}")
        self.direction = direction
        self.k = k
        self.min_engagement = min_engagement
        self._cache: tuple[Any, np.ndarray] | None = None
        self.set_direction(direction)
        self.set_k(k)
        self.set_min_engagement(min_engagement)

    # -- filters --------------------------------------------------------------------------------

    @property
    def model(self) -> LoadedModel | None:
        """The chosen model, or ``None`` when none is loaded."""
        return self.data.models.get(self.model_name) if self.model_name else None

    def set_model(self, label: str) -> None:
        """Choose one of the loaded models."""
        if label not in self.data.models:
            raise ValueError(f"unknown model {label!r}; loaded: {', '.join(self.data.models)}")
        self.model_name = label

    def set_direction(self, direction: str) -> None:
        """``"worst"`` (lowest predicted stars first) or ``"best"``."""
        if direction not in ("worst", "best"):
            raise ValueError(f"direction must be 'worst' or 'best', not {direction!r}")
        self.direction = direction

    def set_k(self, k: int) -> None:
        """How many picks to show (at least 1)."""
        if int(k) < 1:
            raise ValueError(f"k must be at least 1, not {k!r}")
        self.k = int(k)

    def set_min_engagement(self, n: int) -> None:
        """Only pick items with at least ``n`` ratings in the dataset."""
        if int(n) < 0:
            raise ValueError(f"min_engagement must be >= 0, not {n!r}")
        self.min_engagement = int(n)

    # -- ratings --------------------------------------------------------------------------------

    def history(self) -> list[tuple[str, float]]:
        """The person's ratings as ``(parent_asin, stars)`` pairs, oldest first."""
        return [(r.parent_asin, float(r.stars)) for r in self.ratings.values()]

    def rate(self, parent_asin: str, stars: int, *, title: str = "", text: str = "") -> Notice:
        """Rate a product 1-5 stars (again: replaces the earlier rating), with an optional review."""
        if not isinstance(stars, (int, np.integer)) or not 1 <= int(stars) <= 5:
            raise ValueError(f"stars must be an integer from 1 to 5, not {stars!r}")
        row = self.row_of(parent_asin)
        if row is None:
            return Notice("danger", f"There is no product {parent_asin} in dataset {self.data.data_tag!r}.")
        self.ratings.pop(parent_asin, None)  # a new rating moves to the end (newest)
        self.ratings[parent_asin] = Rating(parent_asin, int(stars), (title or "").strip(), (text or "").strip())
        name = _short(self.data.catalogue.titles[row] or parent_asin)
        model = self.model
        if model is not None and not model.scorer.known([parent_asin])[0]:
            return Notice("warning", f"Rated {name} {stars}★, but model {model.label} was not trained on it, "
                                     "so it cannot move the picks. Your other ratings still count.")
        if model is not None and not model.personalised:
            return Notice("info", f"Rated {name} {stars}★. Model {model.label} ignores ratings: "
                                  "choose a personalised model to see the picks move.")
        return Notice("success", f"Rated {name} {stars}★.")

    def unrate(self, parent_asin: str) -> None:
        """Forget the rating of one product."""
        self.ratings.pop(parent_asin, None)

    def clear(self) -> None:
        """Forget every rating (and the dataset user this session started as)."""
        self.ratings.clear()
        self.started_from = None

    def start_as_user(self, user_id: str, *, confirmed: bool = False) -> Notice:
        """Replace the ratings with those of an existing dataset user.

        The person's own ratings are never replaced silently: while they have any and ``confirmed``
        is false, nothing changes and the notice (level ``confirm``) asks first.
        """
        user_id = (user_id or "").strip()
        if not user_id:
            return Notice("warning", "Enter a user id of the dataset first.")
        rows = self.data.user_history(user_id)
        if not rows:
            return Notice("danger", f"There is no user {user_id} in dataset {self.data.data_tag!r}.")
        own = len(self.ratings)
        if own and not confirmed and self.started_from is None:
            return Notice("confirm", f"Starting as {user_id} replaces your {own} rating{'s' if own != 1 else ''} "
                                     "(download them first to keep them). Click again to go ahead.")
        self.ratings = {}
        for r in sorted(rows, key=lambda r: r["timestamp"]):
            self.ratings[r["parent_asin"]] = Rating(r["parent_asin"], int(round(r["rating"])), r["title"],
                                                    r["text"], int(r["timestamp"]))
        self.started_from = user_id
        return Notice("success", f"Started as user {user_id}: {len(rows)} ratings loaded.")

    def rated_rows(self) -> list[dict[str, Any]]:
        """The person's ratings with product titles, newest first (for the "your ratings" table)."""
        cat = self.data.catalogue
        out = []
        for r in reversed(self.ratings.values()):
            row = self.row_of(r.parent_asin)
            out.append({"parent_asin": r.parent_asin, "title": (cat.titles[row] if row is not None else None)
                        or r.parent_asin, "stars": r.stars, "review": r.title})
        return out

    # -- products -------------------------------------------------------------------------------

    def row_of(self, parent_asin: str) -> int | None:
        """The catalogue row of a product, or ``None``."""
        pos, found = self.data.catalogue.index_of([parent_asin])
        return int(pos[0]) if found[0] else None

    def search(self, query: str, limit: int = SEARCH_LIMIT) -> tuple[list[dict[str, Any]], int]:
        """Products whose title has all the words of ``query``, most-rated first; an exact ASIN too.

        :returns: ``(products, total)``, each product as :meth:`details` gives it.
        """
        rows, total = self.data.index.search(query, limit)
        exact = self.row_of(query.strip().upper()) if query.strip() else None
        if exact is not None and exact not in set(rows.tolist()):
            rows, total = np.concatenate([[exact], rows])[:limit], total + 1
        return [self.details_of_row(int(r)) for r in rows], total

    def details(self, parent_asin: str) -> dict[str, Any] | None:
        """A product's facts, or ``None`` if the dataset has no such product."""
        row = self.row_of(parent_asin)
        return None if row is None else self.details_of_row(row)

    def details_of_row(self, row: int) -> dict[str, Any]:
        """Title, store, price, mean rating, number of ratings, categories and whether the model knows it."""
        cat = self.data.catalogue
        price = cat.prices[row]
        categories = cat.categories[row] if cat.categories is not None else None
        asin = str(cat.ids[row])
        model = self.model
        return {
            "parent_asin": asin,
            "title": cat.titles[row] or asin,
            "store": cat.stores[row] or "",
            "price": None if np.isnan(price) else float(price),
            "mean_rating": round(float(cat.mean_rating[row]), 2),
            "n_ratings": int(cat.n_ratings[row]),
            "categories": [str(c) for c in categories] if categories is not None else [],
            "your_rating": self.ratings[asin].stars if asin in self.ratings else None,
            "known_to_model": bool(model.scorer.known([asin])[0]) if model is not None else False,
        }

    # -- picks ----------------------------------------------------------------------------------

    def scores(self) -> Scored:
        """Predicted stars and engagement per catalogue row for this person (cached per model and ratings)."""
        model = self.model
        if model is None:
            return Scored(np.full(len(self.data.catalogue), np.nan, dtype=np.float32))
        history = self.history()
        key = (model.label, tuple(history))
        if self._cache is None or self._cache[0] != key:
            self._cache = (key, model.scorer.scores(history))
        return self._cache[1]

    def picks(self) -> PicksResult:
        """The current worst (or best) picks: fold-in of the ratings, then the filters."""
        started = time.perf_counter()
        model = self.model
        if model is None:
            return PicksResult([], 0.0, [], self.direction, None)
        history = self.history()
        try:
            scores = self.scores()
        except Exception as exc:  # a plugin's bug: say so in the page, keep the session alive
            return PicksResult([], 0.0, [], self.direction, model.label,
                               error=f"Model {model.label} failed: {type(exc).__name__}: {exc}")
        result = pick(self.data.catalogue, scores, history, k=self.k, direction=self.direction,
                      min_engagement=self.min_engagement)
        known = model.scorer.known([a for a, _ in history]) if history else np.array([], bool)
        unknown = [a for (a, _), k in zip(history, known) if not k]
        return PicksResult(result, (time.perf_counter() - started) * 1000, unknown, self.direction,
                           model.label)

    def star_shares(self, picks: Sequence[Pick]) -> dict[str, np.ndarray]:
        """Share of 1..5-star ratings among the picks' reviews vs. the candidate catalogue's.

        The catalogue side counts the items that pass the engagement filter, the pool the picks are
        drawn from. Each array has 5 entries summing to 1 (zeros when there is nothing to count).
        """
        cat, counts = self.data.catalogue, self.data.star_counts
        pool = counts[cat.n_ratings >= self.min_engagement].sum(axis=0)
        pos, found = cat.index_of([p.parent_asin for p in picks]) if picks else (np.array([], int), None)
        chosen = counts[pos[found]].sum(axis=0) if picks else np.zeros(5)

        def share(x: np.ndarray) -> np.ndarray:
            total = float(np.sum(x))
            return np.asarray(x, float) / total if total else np.zeros(5)

        return {"picks": share(chosen), "catalogue": share(pool)}

    # -- download -------------------------------------------------------------------------------

    def to_jsonl(self) -> str:
        """The ratings as JSON lines in the Amazon 2023 review format, ``user_id`` of this session."""
        return "".join(json.dumps(r.to_review(self.user_id), ensure_ascii=False) + "\n"
                       for r in self.ratings.values())

    def download_name(self) -> str:
        """File name for :meth:`to_jsonl`."""
        return f"deepcart-ratings-{self.data.data_tag}.jsonl"


def _short(title: str, limit: int = 60) -> str:
    title = str(title)
    return f"“{title}”" if len(title) <= limit else f"“{title[:limit].rsplit(' ', 1)[0]}…”"


def picks_summary(result: PicksResult) -> Mapping[str, Any]:
    """A JSON-ready description of a :class:`PicksResult` (used by tests and logs)."""
    return {"direction": result.direction, "model": result.model, "elapsed_ms": round(result.elapsed_ms, 2),
            "unknown": result.unknown, "picks": [p.to_json() for p in result.picks]}

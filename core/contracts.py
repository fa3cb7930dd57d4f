"""The typed contracts that plugin components must meet, one per component kind.

pluggy checks hook names and arguments, not what a plugin registers: these Protocols are the API
reference for component authors, and the registry checks :data:`REQUIRED_MEMBERS` at registration.
Every component is a class with a ``Config`` (a pydantic model, possibly empty) validating its options
(``-o key=value``, the dashboard and Python alike), built as ``Component(config)`` by the registry;
its first docstring line is its summary in listings. Heavy libraries are imported inside methods.
:mod:`deepcart.toolkit.testing` has reusable tests of what these docstrings promise."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Protocol, runtime_checkable

if TYPE_CHECKING:
    import click
    import duckdb
    import numpy as np

    from deepcart.metric_types import MetricResult, RatingPairs, Rankings
    from deepcart.ratings import Ratings
    from deepcart.reports import FilterReport, IngestReport

#: Component kinds, in the order the kernel lists them.
KINDS: tuple[str, ...] = ("loader", "filter", "splitter", "recommender", "metric", "frontend", "engine")


@runtime_checkable
class Loader(Protocol):
    """Reads source files into the two raw tables of a build.

    ``ingest`` creates in ``con`` a table ``interactions(user_id VARCHAR, parent_asin VARCHAR, rating
    DOUBLE, timestamp TIMESTAMP)``, one row per (user, item) pair; a table ``items`` keyed by
    ``parent_asin`` (possibly empty); and a table or view ``reviews(user_id, parent_asin, title, text,
    helpful_vote, verified_purchase)`` (the build joins it to the kept rows only: a view keeps texts
    out of memory). ``on_bad_records``: ``"fail"`` raises :class:`deepcart.errors.BadInputError` naming
    file, line and problem; ``"skip"`` drops the records and lists them in the report."""

    Config: ClassVar[type]

    def can_read(self, path: Path) -> bool:
        """Whether ``path`` looks like this loader's format (when no loader is named)."""

    def ingest(self, con: duckdb.DuckDBPyConnection, reviews: Sequence[Path], items: Sequence[Path], *,
               on_bad_records: Literal["fail", "skip"]) -> IngestReport:
        """Create ``interactions``, ``items`` and ``reviews`` in ``con``; say what was read."""


@runtime_checkable
class Filter(Protocol):
    """One step of the filter chain, on the ``interactions`` table.

    ``apply`` replaces ``interactions`` with the rows it keeps and reports what it dropped (users,
    items, ratings, and a message such as ``Dropped 1,350,025 items (<100 ratings)``), the same for a
    ``seed``. ``portable = True``: it gets an ibis frame (any engine); else DuckDB's connection.
    """

    Config: ClassVar[type]

    def apply(self, data: Any, *, seed: int) -> FilterReport:
        """Filter ``interactions`` in place; return what was dropped."""


@runtime_checkable
class Splitter(Protocol):
    """Divides a dataset into train / validation / test, the latter two as input + check parts."""

    Config: ClassVar[type]

    def split(self, data: Any, *, seed: int) -> Any:
        """Create the five part tables from ``interactions`` (a frame if ``portable``, else DuckDB)."""


@runtime_checkable
class Recommender(Protocol):
    """A model that predicts how a person would rate products.

    * ``fit(train, seed=...)`` learns from a :class:`deepcart.ratings.Ratings`, returns ``self``; same
      seed, same model. It may early-stop on ``validation=(inputs, checks)`` (held-out users' Ratings).
    * ``predict(users, items)``: stars, shape ``(len(users), len(items))``, ``NaN`` for a user or item
      unseen in training; ``items=None`` is every item, in :attr:`item_ids` order.
    * ``fold_in(history, items)`` scores a person known only by ``(parent_asin, rating)`` pairs, without
      retraining, shape ``(len(items),)``; a training user's own ratings give their ``predict`` row.
    * ``save(folder)`` writes plain data (JSON, ``.npz`` with ``allow_pickle=False``, a torch state
      dict); ``load(folder)`` reads it back without executing code and predicts identically.
    * ``personalised``: whether a person's own ratings move the predictions; frontends read it.
    * Optional: ``fold_in_batch(matrix)`` scores the rows of a CSR of ratings (columns in
      :attr:`item_ids` order) as dense float32; evaluation uses it (with ``clip=False`` if it takes it).
    * Optional: ``fold_in_engagement_batch(matrix)`` (float32 ``(rows, len(item_ids))``, how likely
      each person rates each item, > 0) and ``stars_weights`` (``{"best": w, "worst": w}``): lists
      rank by ``log(engagement) +/- w * stars``, else by stars; ``tune_space``: options to search.
    """

    Config: ClassVar[type]
    personalised: ClassVar[bool]

    @property
    def item_ids(self) -> np.ndarray:
        """The items the model was trained on, in column order."""

    def fit(self, train: Ratings, *, seed: int = 0, validation: Any = None) -> Recommender:
        """Learn from ``train`` (optionally early-stopping on ``validation``); return ``self``."""

    def predict(self, users: Sequence[str], items: Sequence[str] | None = None) -> np.ndarray:
        """Predicted ratings for known users; ``NaN`` where unknown."""

    def fold_in(self, history: Sequence[tuple[str, float]], items: Sequence[str] | None = None) -> np.ndarray:
        """Predicted ratings for a new person described by their ratings."""

    def save(self, folder: Path) -> None:
        """Write the fitted model's weights and config as plain data into ``folder``."""

    @classmethod
    def load(cls, folder: Path) -> Recommender:
        """Read a model written by :meth:`save`."""


@runtime_checkable
class Metric(Protocol):
    """An evaluation measure.

    ``needs``: ``"ratings"`` metrics get :class:`~deepcart.metric_types.RatingPairs` (predicted vs.
    actual stars of check items), ``"rankings"`` ones :class:`~deepcart.metric_types.Rankings` (top-K
    lists, relevant items) and a cut-off ``k``. ``compute`` returns the aggregate and per-user values
    (``NaN`` where a user is not covered), vectorised over users."""

    Config: ClassVar[type]
    needs: ClassVar[Literal["ratings", "rankings"]]
    higher_is_better: ClassVar[bool]

    def compute(self, data: RatingPairs | Rankings, *, k: int | None = None) -> MetricResult:
        """Evaluate ``data``; the aggregate and the per-user values."""


@runtime_checkable
class Frontend(Protocol):
    """An interactive interface: ``command(name)`` returns the click command (with its own options,
    such as ``--port``) that serves it; the UI library is imported in the command's callback."""

    Config: ClassVar[type]

    def command(self, name: str) -> click.Command:
        """Build the click command, called ``name``, that serves this frontend."""


@runtime_checkable
class Engine(Protocol):
    """Where the filter chain and splits run; ``runs_duckdb_sql``: non-portable steps get DuckDB."""

    Config: ClassVar[type]
    runs_duckdb_sql: ClassVar[bool]

    def open(self, con: duckdb.DuckDBPyConnection, work: Path) -> Any:
        """Context manager: a frame over ``con``'s tables (staged in ``work``); ``finish(con)`` syncs."""


#: What the registry checks on each component when it is registered, per kind.
REQUIRED_MEMBERS: dict[str, tuple[str, ...]] = {
    "loader": ("Config", "can_read", "ingest"),
    "filter": ("Config", "apply"),
    "splitter": ("Config", "split"),
    "recommender": ("Config", "fit", "predict", "fold_in", "save", "load", "personalised"),
    "metric": ("Config", "needs", "higher_is_better", "compute"),
    "frontend": ("Config", "command"),
    "engine": ("Config", "open", "runs_duckdb_sql"),
}

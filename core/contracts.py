"""The typed contracts that plugin components must meet, one per component kind.

pluggy checks hook *names* and *arguments*, not what a plugin registers, so these Protocols are the
API reference for component authors, and :data:`REQUIRED_MEMBERS` is what the registry checks when a
component is registered. Every component is a class:

* it has a ``Config`` class (a pydantic model; may have no fields) that validates its options, so the
  command line (``-o key=value``), the dashboard's forms and Python callers share one validation path;
* it is instantiated as ``Component(config)`` by :meth:`deepcart.registry.Registry.create`;
* its first docstring line is its one-line summary in plugin listings.

Heavy libraries are imported inside methods, never at module level (see :mod:`deepcart.hookspecs`).
The reusable tests in :mod:`deepcart.toolkit.testing` check the behaviour these docstrings promise.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Protocol, runtime_checkable

if TYPE_CHECKING:
    import click
    import duckdb
    import numpy as np

    from deepcart.ratings import Ratings

#: Component kinds, in the order the kernel lists them.
KINDS: tuple[str, ...] = ("loader", "filter", "splitter", "recommender", "metric", "frontend")

Direction = Literal["best", "worst"]


@runtime_checkable
class Loader(Protocol):
    """Reads source files into the two raw tables of a build.

    ``ingest`` creates, in the DuckDB connection it is given, a table ``interactions`` with the
    columns ``user_id VARCHAR, parent_asin VARCHAR, rating DOUBLE, timestamp TIMESTAMP`` holding one
    row per (user, item) pair, a table ``items`` keyed by ``parent_asin`` (possibly empty), and a
    table or view ``reviews(user_id, parent_asin, title, text, helpful_vote, verified_purchase)``
    with the texts of those pairs where the format has them (the build joins it to the rows the
    filters kept; a view is read only then, which keeps texts out of memory). Bad records
    are handled as ``on_bad_records`` says: ``"fail"`` raises :class:`deepcart.errors.BadInputError`
    naming the file, the line and the problem; ``"skip"`` drops them and returns them in the result.
    """

    Config: ClassVar[type]

    def can_read(self, path: Path) -> bool:
        """Whether ``path`` looks like this loader's format (used when no loader is named)."""
        ...

    def ingest(
        self,
        con: duckdb.DuckDBPyConnection,
        reviews: Sequence[Path],
        items: Sequence[Path],
        *,
        on_bad_records: Literal["fail", "skip"],
    ) -> Any:
        """Create ``interactions`` and ``items`` in ``con``; return an ingest report."""
        ...


@runtime_checkable
class Filter(Protocol):
    """One step of the filter chain, run in DuckDB SQL on the ``interactions`` table.

    ``apply`` replaces ``interactions`` with the rows it keeps and returns a report of what it
    dropped (users, items, ratings) with a human-readable message such as
    ``Dropped 1,350,025 items (<100 ratings)``. It must be deterministic for a given ``seed``.
    """

    Config: ClassVar[type]

    def apply(self, con: duckdb.DuckDBPyConnection, *, seed: int) -> Any:
        """Filter ``interactions`` in place; return what was dropped."""
        ...


@runtime_checkable
class Splitter(Protocol):
    """Divides a dataset into train / validation / test, each of the latter as input + check."""

    Config: ClassVar[type]

    def split(self, con: duckdb.DuckDBPyConnection, *, seed: int) -> Any:
        """Split ``interactions`` in ``con``; return the split tables and a report."""
        ...


@runtime_checkable
class Recommender(Protocol):
    """A model that predicts how a person would rate products.

    * ``fit(train, seed=...)`` learns from a :class:`deepcart.ratings.Ratings` matrix and returns
      ``self``; the same seed gives the same model.
    * ``predict(users, items)`` returns a float array of shape ``(len(users), len(items))`` with
      predicted star ratings; ``NaN`` where it cannot predict (a user or item never seen in
      training). ``items=None`` means every item seen in training, in :attr:`item_ids` order.
    * ``fold_in(history, items)`` scores a person known only by ``(parent_asin, rating)`` pairs that
      were never part of training, without retraining; it returns shape ``(len(items),)``. Folding in
      a training user's own ratings gives that user's ``predict`` row.
    * ``save(folder)`` writes plain data (JSON, ``.npz`` with ``allow_pickle=False`` or a torch state
      dict); ``load(folder)`` reads it back without executing code and predicts identically.
    * Optional, for speed: ``fold_in_batch(matrix)`` scores many new people at once from a CSR matrix
      of their ratings (rows = people, columns in :attr:`item_ids` order) and returns a dense
      ``(rows, len(item_ids))`` float32 array; evaluation uses it when present, ``fold_in`` otherwise.
    * ``fit`` may accept ``validation=(inputs, checks)``: two :class:`deepcart.ratings.Ratings` over
      held-out users (their input and check ratings, same item catalogue as ``train``) for early
      stopping; models that do not use it ignore it.
    * ``personalised`` says whether a person's own ratings move its predictions (``False`` for a
      model that gives everyone the same scores); frontends and commands read it
      instead of checking names.
    """

    Config: ClassVar[type]
    personalised: ClassVar[bool]

    @property
    def item_ids(self) -> np.ndarray:
        """The items the model was trained on, in column order."""
        ...

    def fit(self, train: Ratings, *, seed: int = 0, validation: Any = None) -> Recommender:
        """Learn from ``train`` (optionally early-stopping on ``validation``); return ``self``."""
        ...

    def predict(self, users: Sequence[str], items: Sequence[str] | None = None) -> np.ndarray:
        """Predicted ratings for known users; ``NaN`` where unknown."""
        ...

    def fold_in(
        self, history: Sequence[tuple[str, float]], items: Sequence[str] | None = None
    ) -> np.ndarray:
        """Predicted ratings for a new person described by their ratings."""
        ...

    def save(self, folder: Path) -> None:
        """Write the fitted model's weights and config as plain data into ``folder``."""
        ...

    @classmethod
    def load(cls, folder: Path) -> Recommender:
        """Read a model written by :meth:`save`."""
        ...


@runtime_checkable
class Metric(Protocol):
    """An evaluation measure.

    ``needs`` says what it consumes: ``"ratings"`` metrics get a
    :class:`deepcart.metric_types.RatingPairs` (predicted vs. actual ratings of check items);
    ``"rankings"`` metrics get a :class:`deepcart.metric_types.Rankings` (each user's top-K item
    indices and the set of relevant items) and a cut-off ``k``. ``compute`` returns a
    :class:`deepcart.metric_types.MetricResult`: the aggregate value and the per-user values (``NaN``
    for users the metric does not cover), vectorised over users, never a Python loop per user.
    """

    Config: ClassVar[type]
    needs: ClassVar[Literal["ratings", "rankings"]]
    higher_is_better: ClassVar[bool]

    def compute(self, data: Any, *, k: int | None = None) -> Any:
        """Evaluate ``data``; return a MetricResult."""
        ...


@runtime_checkable
class Frontend(Protocol):
    """An interactive interface, served by ``deepcart serve NAME``.

    ``command(name)`` returns the click command that serves it (options such as ``--port`` are the
    frontend's own). Importing the UI library belongs in the command's callback.
    """

    Config: ClassVar[type]

    def command(self, name: str) -> click.Command:
        """Build the ``deepcart serve NAME`` sub-command."""
        ...


#: What the registry checks on each component when it is registered, per kind.
REQUIRED_MEMBERS: dict[str, tuple[str, ...]] = {
    "loader": ("Config", "can_read", "ingest"),
    "filter": ("Config", "apply"),
    "splitter": ("Config", "split"),
    "recommender": ("Config", "fit", "predict", "fold_in", "save", "load", "personalised"),
    "metric": ("Config", "needs", "higher_is_better", "compute"),
    "frontend": ("Config", "command"),
}

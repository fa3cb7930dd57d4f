"""The ``ease`` recommender: Steck's EASE (2019), closed form, on rating residuals.

EASE learns an items x items weight matrix ``B`` with a zero diagonal that reconstructs each
user's row from the user's other entries, with L2 regularisation ``l2``::

    minimise ||X - X B||^2 + l2 ||B||^2   subject to diag(B) = 0
    P = (X^T X + l2 I)^-1,   B_ij = -P_ij / P_jj,   B_jj = 0

(H. Steck, "Embarrassingly Shallow Autoencoders for Sparse Data", WWW 2019.)

**From implicit feedback to star ratings.** Steck fits ``X`` = the 0/1 interaction matrix and
ranks by ``X B``, which says what a person will *interact with*, not how they will *rate* it.
deepcart ranks the best and the worst products by predicted rating, so here ``X`` holds rating
*residuals* instead: for every observed rating ``X_ui = r_ui - b_ui`` with the damped baseline
``b_ui = mu + b_u + b_i`` of :mod:`deepcart.toolkit.baseline`, and 0 (no evidence either way) elsewhere. Then::

    prediction(u, i) = clip(b_ui + (X_u B)_i, 1, 5)

``(X_u B)_i`` is the deviation from the baseline that the user's deviations on the other items
predict, learnt by exactly Steck's closed form, so a person who rated an item's neighbours above
expectation gets that item above its baseline too. With no ratings, or only items unrelated to
``i``, the prediction is the baseline.

**Memory.** The closed form needs dense items x items matrices: the float64 gram matrix,
inverted in place by Cholesky (:func:`spd_inverse_in_place`), and the float32 ``B`` made from it:
12 bytes per cell at the peak (:func:`planned_bytes`), which is what was measured: All_Beauty
0-core, 25,319 items, planned 7.69 GB, peak RSS of the whole ``deepcart evaluate`` process 7.96 GB
(the run that crashed before this plan existed had planned 15.4 GB; ``benchmarks/README.md``).
Before allocating anything, ``fit`` plans that and refuses,
with a message naming the size, the need, what is available and the way out, a catalogue whose
plan exceeds 85% of the memory available (``MemAvailable`` in ``/proc/meminfo``):
``-o max_items=N`` keeps the ``N`` most rated items in ``B`` (ties to the lower column). The other
items are still predicted, by their baseline ``b_ui`` (which knows the item's mean and the user's
bias, so they are never NaN); their ratings still count in ``b_u``, but they neither receive nor
give a learnt deviation.

Everything is deterministic (no seed is used). ``B`` is kept as float32; the gram matrix and the
inverse are float64.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar

import numpy as np
import pydantic

from deepcart import hookimpl
from deepcart.errors import DeepcartError
from deepcart.ratings import Ratings

from deepcart.toolkit.engagement import (
    EngagementOptions,
    EngagementRanking,
    engagement_arrays,
    engagement_from_arrays,
    fit_engagement,
)
from deepcart.toolkit.id_index import IdIndex
from deepcart.toolkit.baseline import (
    Baseline,
    history_row,
    rating_rows,
    score_training_users,
    select_columns,
)
from deepcart.toolkit.model_files import csr_arrays, csr_from_arrays, load_model_files, save_model_files

FORMAT_VERSION = 2
#: Bytes per catalogue cell at the peak of fitting: the float64 gram, inverted in place, and the
#: float32 B made from it (measured: see the module docstring).
BYTES_PER_CELL = 8 + 4
#: Share of the available memory that fitting may plan to use (the rest: the process, the OS).
MEMORY_SHARE = 0.85
#: Gram matrix columns computed per sparse product.
GRAM_BLOCK = 1024
#: Rows mirrored at a time after the in-place inversion.
MIRROR_BLOCK = 512


class CatalogueTooLargeError(DeepcartError):
    """The dense items x items matrices of EASE would not fit in the available memory."""


class EaseConfig(EngagementOptions):
    """Options of the ``ease`` recommender (and deepcart's shared ranking options)."""

    l2: float = pydantic.Field(
        50.0, gt=0, description="L2 regularisation added to the gram matrix's diagonal"
    )
    damping: float = pydantic.Field(5.0, ge=0, description="pseudo-ratings in the baseline means")
    max_items: int | None = pydantic.Field(
        None, ge=1, description="keep only the N most rated items in B (the rest: baseline only)"
    )


class EaseRecommender(EngagementRanking):
    """EASE (Steck 2019): closed-form item-item regression on rating residuals, dense."""

    Config: ClassVar[type] = EaseConfig
    #: What ``deepcart tune`` searches (besides the engagement options and the stars weights).
    tune_space: ClassVar[dict[str, list]] = {"l2": [50.0, 200.0, 500.0]}
    #: A person's own ratings move the predictions (see the Recommender contract).
    personalised: ClassVar[bool] = True

    def __init__(self, config: EaseConfig | None = None):
        self.config = config or EaseConfig()
        self._items = IdIndex(np.array([], dtype=str))
        self._users = IdIndex(np.array([], dtype=str))
        self._baseline = Baseline(3.0, np.zeros(0), self.config.damping)
        self._kept = np.zeros(0, dtype=np.int64)  # catalogue columns that have a row/column in B
        self._weights = np.zeros((0, 0), dtype=np.float32)  # B over the kept items
        self._train = None  # users x items CSR of the training ratings (float64)
        self._column_map = np.zeros(0, dtype=np.int64)

    @property
    def item_ids(self) -> np.ndarray:
        return self._items.ids

    @property
    def weights(self) -> np.ndarray:
        """``B``: the ``(kept, kept)`` float32 item-item weights (zero diagonal)."""
        return self._weights

    @property
    def kept_items(self) -> np.ndarray:
        """The ids of the items in ``B`` (all items unless ``max_items`` capped them)."""
        return self._items.ids[self._kept]

    # -- training ---------------------------------------------------------------------------------

    def fit(self, train: Ratings, *, seed: int = 0, validation=None) -> EaseRecommender:
        """Fit the baseline and ``B`` (deterministic: ``seed`` is not used)."""
        n_items = len(train.item_ids)
        rows = rating_rows(train.csr(), n_items)
        self._items = IdIndex(train.item_ids)
        self._users = IdIndex(train.user_ids)
        self._train = rows
        self._baseline = Baseline.fit(rows, self.config.damping)
        self._engagement = fit_engagement(rows, self.config)
        self._kept = self._popular_items(rows)
        check_memory(len(self._kept), n_items)
        self._prepare()

        residual = self._residual_rows(rows)  # users x kept, float32
        gram = _gram(residual.astype(np.float64))
        gram[np.diag_indices_from(gram)] += self.config.l2
        inverse = spd_inverse_in_place(gram)
        diagonal = np.diag(inverse).copy()
        inverse /= -diagonal[None, :]  # B_ij = -P_ij / P_jj
        np.fill_diagonal(inverse, 0.0)
        self._weights = np.ascontiguousarray(inverse, dtype=np.float32)
        return self

    def _popular_items(self, rows) -> np.ndarray:
        """The catalogue columns kept in ``B``: all, or the ``max_items`` most rated."""
        n_items = rows.shape[1]
        cap = self.config.max_items
        if cap is None or cap >= n_items:
            return np.arange(n_items, dtype=np.int64)
        counts = np.bincount(rows.indices, minlength=n_items)
        order = np.lexsort((np.arange(n_items), -counts))  # most rated first, ties to low column
        return np.sort(order[:cap]).astype(np.int64)

    def _prepare(self) -> None:
        self._column_map = np.full(len(self._items), -1, dtype=np.int64)
        self._column_map[self._kept] = np.arange(len(self._kept))

    # -- scoring ----------------------------------------------------------------------------------

    def _residual_rows(self, rows, user_bias: np.ndarray | None = None):
        """Residuals ``r_ui - b_ui`` of ``rows`` on the kept columns, as a float32 CSR."""
        import scipy.sparse as sp

        if user_bias is None:
            user_bias = self._baseline.user_bias(rows)
        residual = self._baseline.residuals(rows, user_bias)
        cols = self._column_map[rows.indices]
        keep = cols >= 0
        owner = np.repeat(np.arange(rows.shape[0]), np.diff(rows.indptr))
        return sp.csr_matrix(
            (residual[keep].astype(np.float32), (owner[keep], cols[keep])),
            shape=(rows.shape[0], len(self._kept)),
        )

    def _scores(self, rows, clip: bool = True) -> np.ndarray:
        """Predicted ratings of every catalogue item for each ratings row (float32; clipped to 1-5
        unless ``clip`` is false)."""
        user_bias = self._baseline.user_bias(rows)
        out = self._baseline.dense(user_bias).astype(np.float32)
        if len(self._kept):
            deviation = self._residual_rows(rows, user_bias) @ self._weights
            out[:, self._kept] += np.asarray(deviation, dtype=np.float32)
        if clip:
            np.clip(out, 1.0, 5.0, out=out)
        return out

    # -- the Recommender contract -----------------------------------------------------------------

    def predict(self, users: Sequence[str], items: Sequence[str] | None = None) -> np.ndarray:
        """Predicted ratings of training users from their training ratings; NaN if unknown."""
        scores = score_training_users(self._users, users, len(self._items),
                                      lambda rows: self._scores(self._train[rows]))
        return select_columns(scores, self._items, items)

    def fold_in(
        self, history: Sequence[tuple[str, float]], items: Sequence[str] | None = None
    ) -> np.ndarray:
        """Predicted ratings of a new person from ``(parent_asin, rating)`` pairs (unknown items ignored)."""
        scores = self._scores(history_row(history, self._items))
        return select_columns(scores, self._items, items)[0]

    def fold_in_batch(self, matrix, *, clip: bool = True) -> np.ndarray:
        """Predictions for many new people: CSR rows = people, columns in ``item_ids`` order."""
        return self._scores(rating_rows(matrix, len(self._items)), clip)

    def save(self, folder: Path) -> None:
        """Write ``weights.npz`` (plain arrays) and ``config.json`` into ``folder``."""
        save_model_files(folder, self.config, {
            "items": self._items.ids, "users": self._users.ids, "mu": np.array(self._baseline.mu),
            "item_bias": self._baseline.item_bias, "kept": self._kept, "weights": self._weights,
            **csr_arrays("train", self._train), **engagement_arrays(self._engagement),
        }, kind="ease", format_version=FORMAT_VERSION)

    @classmethod
    def load(cls, folder: Path) -> EaseRecommender:
        """Read a model written by :meth:`save` (no pickle)."""
        config, data = load_model_files(folder, EaseConfig, kind="ease", format_version=FORMAT_VERSION)
        model = cls(config)
        model._items, model._users = IdIndex(data["items"]), IdIndex(data["users"])
        model._baseline = Baseline(float(data["mu"]), data["item_bias"], config.damping)
        model._kept, model._weights = data["kept"], data["weights"]
        n_items = len(model._items)
        if (model._weights.shape != (len(model._kept),) * 2 or np.shape(data["item_bias"]) != (n_items,)
                or (len(model._kept) and (model._kept.min() < 0 or model._kept.max() >= n_items))):
            raise ValueError(f"{folder}: the weights, kept items and baseline do not fit the {n_items} items")
        model._train = csr_from_arrays(data, "train", (len(model._users), n_items))
        model._engagement = engagement_from_arrays(data, len(model._items))
        model._prepare()
        return model


def _gram(residual) -> np.ndarray:
    """``X^T X`` as a dense float64 array, a block of columns at a time (no sparse n x n result)."""
    n = residual.shape[1]
    gram = np.empty((n, n), dtype=np.float64)
    transposed = residual.T.tocsr()
    columns = residual.tocsc()
    for lo in range(0, n, GRAM_BLOCK):
        hi = min(lo + GRAM_BLOCK, n)
        gram[:, lo:hi] = (transposed @ columns[:, lo:hi]).toarray()
    return gram


def spd_inverse_in_place(matrix: np.ndarray) -> np.ndarray:
    """The inverse of a symmetric positive definite float64 matrix, computed in its own memory.

    Cholesky (LAPACK ``dpotrf`` + ``dpotri``) on the Fortran-ordered view of the C-ordered array
    (the same matrix, being symmetric), then the triangle LAPACK wrote is mirrored a block at a
    time: no second ``n x n`` array is ever allocated.

    **One BLAS thread.** The OpenBLAS that numpy and scipy ship crashed the whole process (SIGSEGV)
    when it factorised matrices of 23,100 rows and more on two threads, whether through
    ``scipy.linalg.inv`` or ``dpotrf`` directly (All_Beauty 0-core, 25,319 items, crashed after
    the memory check had passed); on one thread the same calls ran. The factorisation therefore
    runs under ``threadpool_limits(1)``: at most about 2x slower on a two-core machine, never a
    crash.
    """
    from scipy.linalg import lapack
    from threadpoolctl import threadpool_limits

    if matrix.dtype != np.float64 or not matrix.flags.c_contiguous or matrix.shape[0] != matrix.shape[1]:
        raise ValueError("expected a square, C-contiguous float64 matrix")
    view = matrix.T  # Fortran-ordered: LAPACK works in place
    with threadpool_limits(1, "blas"):
        factor, info = lapack.dpotrf(view, lower=False, clean=False, overwrite_a=True)
        if info == 0:
            factor, info = lapack.dpotri(factor, lower=False, overwrite_c=True)
    if info != 0 or not np.shares_memory(factor, matrix):
        raise DeepcartError(f"ease: the regularised gram matrix could not be inverted (LAPACK info {info}); "
                            "raise -o l2")
    # LAPACK wrote the upper triangle of the view = the lower triangle of ``matrix``.
    n = matrix.shape[0]
    for lo in range(0, n, MIRROR_BLOCK):
        hi = min(lo + MIRROR_BLOCK, n)
        matrix[lo:hi, hi:] = matrix[hi:, lo:hi].T
        block = matrix[lo:hi, lo:hi]
        upper = np.triu_indices(hi - lo, 1)
        block[upper] = block.T[upper]
    return matrix


def available_memory() -> int | None:
    """Bytes of memory available to a new allocation: ``MemAvailable``, else free pages; or None."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (AttributeError, OSError, ValueError):
        return None


def planned_bytes(n_kept: int) -> int:
    """Memory that fitting ``n_kept`` items allocates at its peak (bytes).

    While the gram matrix is built: itself (8 bytes a cell) and one block of columns, as a sparse
    product and its dense copy (about 20 bytes a cell of the block); while it is inverted: itself
    and the float32 ``B`` (12 bytes a cell). The larger of the two.
    """
    block = min(GRAM_BLOCK, n_kept)
    return max(BYTES_PER_CELL * n_kept**2, 8 * n_kept**2 + 20 * n_kept * block)


def largest_fitting(budget: float) -> int:
    """The most items whose :func:`planned_bytes` stays within ``budget``."""
    low, high = 0, 1
    while planned_bytes(high) <= budget:
        low, high = high, high * 2
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (middle, high) if planned_bytes(middle) <= budget else (low, middle)
    return low


def check_memory(n_kept: int, n_items: int) -> None:
    """Refuse, with the way out, a catalogue whose dense EASE matrices would not fit in memory."""
    need = planned_bytes(n_kept)
    available = available_memory()
    if available is None or need <= MEMORY_SHARE * available:
        return
    fits = _round_down(largest_fitting(MEMORY_SHARE * available))
    raise CatalogueTooLargeError(
        f"ease: a catalogue of {n_kept:,} items needs dense {n_kept:,} x {n_kept:,} matrices, about "
        f"{_bytes(need)} of memory, but only {_bytes(available)} is available"
        f"{f' ({n_items:,} items in the data)' if n_items != n_kept else ''}. "
        f"Keep the most rated items with `-o max_items=N` (N = {fits:,} fits here); the other items "
        "are then predicted by their baseline. Or build a smaller catalogue (`deepcart build "
        "--min-ratings N`)."
    )


def _round_down(n: int) -> int:
    """``n`` rounded down to two significant digits (a friendly suggestion)."""
    if n < 100:
        return max(n, 1)
    scale = 10 ** (len(str(n)) - 2)
    return n // scale * scale


def _bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB", "PB"):
        if n < 1024 or unit == "PB":
            return f"{n:,.1f} {unit}" if unit != "B" else f"{int(n)} B"
        n /= 1024
    raise AssertionError("unreachable")


@hookimpl
def register_recommenders(register) -> None:
    """Register ``ease``."""
    register("ease", EaseRecommender)

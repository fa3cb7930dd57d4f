"""The ``als`` recommender: the ``implicit`` library's ALS, mapped to star ratings.

This module shows a plugin wrapping a well-kept third-party library instead of re-implementing it:
the factorisation, the fold-in and the model file are :mod:`implicit`'s own
(``implicit.cpu.als.AlternatingLeastSquares``: ``fit``, ``recalculate_user``, ``save`` /
``load`` to ``.npz`` with ``allow_pickle=False``). The plugin adds what deepcart needs on top: ids,
a rating scale, NaN for the unknown, and the contract's guarantees.

**The model.** implicit fits Hu, Koren and Volinsky's weighted matrix factorisation: every cell
``(u, i)`` has a preference ``p_ui`` in {0, 1} and a confidence ``c_ui``; unobserved cells have
``p = 0``, ``c = 1``; a positive matrix value ``v`` means ``p = 1, c = v`` and a negative one
``p = 0, c = |v|``. It minimises ``sum c_ui (p_ui - x_u . y_i)^2 + regularization (|x|^2 + |y|^2)``.

**From implicit feedback to star ratings.** A star rating says more than "interacted": it says
better or worse than expected. With the damped baseline ``b_ui = mu + b_u + b_i`` of
:mod:`deepcart.toolkit.baseline` and the residual ``d_ui = r_ui - b_ui`` of each observed rating, the matrix given
to implicit is::

    v_ui = +(1 + alpha * d_ui)    if d_ui >= 0   (liked at least as expected: p = 1)
    v_ui = -(1 + alpha * |d_ui|)  if d_ui < 0    (disliked: p = 0, with more confidence than "unseen")

so ``s_ui = x_u . y_i`` estimates how likely ``u`` is to rate ``i`` above its baseline. That score
is put on the star scale by a linear calibration fitted, by least squares, on the training
ratings (``d_ui ~ a + c * s_ui``)::

    prediction(u, i) = clip(b_ui + a + c * s_ui, 1, 5)

The calibration is two numbers learnt from data, so the scale of ``s`` (which depends on
``alpha``, ``regularization`` and ``factors``) never has to be guessed; ``c`` is reported as
:attr:`AlsRecommender.calibration`.

**Fold-in.** implicit's ALS ends on an item step, and its conjugate-gradient solver is approximate,
so the user factors it leaves are not the exact least-squares answer for the final item factors.
After ``fit``, every training user is therefore recomputed with ``recalculate_user`` (an exact
Cholesky solve with the same regularisation), and a folded-in person goes through the very same
call with a row built by the same code: folding in a training user's ratings reproduces their
``predict`` row. Training is deterministic for a seed (``random_state`` = the seed; ``threads``
fixed; one BLAS thread, as implicit recommends).
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import ClassVar

import numpy as np
import pydantic

from deepcart import hookimpl
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
from deepcart.toolkit.model_files import load_model_files, model_file, save_model_files

FORMAT_VERSION = 2
#: Training ratings scored per block while calibrating.
CALIBRATION_BLOCK = 1 << 20


class AlsConfig(EngagementOptions):
    """Options of the ``als`` recommender (and deepcart's shared ranking options)."""

    factors: int = pydantic.Field(32, ge=1, le=1024, description="latent factors per user and item")
    regularization: float = pydantic.Field(10.0, gt=0, description="L2 weight on the factors")
    alpha: float = pydantic.Field(
        2.0, ge=0, description="extra confidence per star of deviation from the baseline"
    )
    iterations: int = pydantic.Field(15, ge=1, description="ALS sweeps")
    damping: float = pydantic.Field(5.0, ge=0, description="pseudo-ratings in the baseline means")
    threads: int = pydantic.Field(1, ge=0, description="implicit's num_threads (0: every core)")


class AlsRecommender(EngagementRanking):
    """Alternating least squares from the implicit library, calibrated to star ratings."""

    Config: ClassVar[type] = AlsConfig
    #: What ``deepcart tune`` searches (besides the engagement options and the stars weights).
    tune_space: ClassVar[dict[str, list]] = {"factors": [32, 64], "regularization": [1.0, 10.0], "alpha": [1.0, 2.0]}
    #: A person's own ratings move the predictions (see the Recommender contract).
    personalised: ClassVar[bool] = True

    def __init__(self, config: AlsConfig | None = None):
        self.config = config or AlsConfig()
        self._items = IdIndex(np.array([], dtype=str))
        self._users = IdIndex(np.array([], dtype=str))
        self._baseline = Baseline(3.0, np.zeros(0), self.config.damping)
        self._user_bias = np.zeros(0)
        self._calibration = (0.0, 0.0)
        self._model = None  # implicit.cpu.als.AlternatingLeastSquares

    @property
    def item_ids(self) -> np.ndarray:
        return self._items.ids

    @property
    def model(self):
        """The wrapped ``implicit.cpu.als.AlternatingLeastSquares`` (user factors recalculated)."""
        return self._model

    @property
    def calibration(self) -> tuple[float, float]:
        """``(a, c)``: a score ``s`` adds ``a + c * s`` stars to the baseline."""
        return self._calibration

    # -- training ---------------------------------------------------------------------------------

    def fit(self, train: Ratings, *, seed: int = 0, validation=None) -> AlsRecommender:
        """Factorise the signed-confidence matrix with implicit, then calibrate its scores."""
        from implicit.cpu.als import AlternatingLeastSquares

        cfg = self.config
        rows = rating_rows(train.csr(), len(train.item_ids))
        self._items, self._users = IdIndex(train.item_ids), IdIndex(train.user_ids)
        self._baseline = Baseline.fit(rows, cfg.damping)
        self._engagement = fit_engagement(rows, self.config)
        self._user_bias = self._baseline.user_bias(rows)
        confidence = self._confidence(rows, self._user_bias)
        with _one_blas_thread():
            model = AlternatingLeastSquares(
                factors=cfg.factors, regularization=cfg.regularization, alpha=1.0,
                dtype=np.float32, iterations=cfg.iterations, num_threads=cfg.threads,
                random_state=seed,
            )
            model.fit(confidence, show_progress=False)
            # Exact user factors for the final item factors: what fold-in computes.
            model.user_factors = model.recalculate_user(np.arange(rows.shape[0]), confidence)
        self._model = model
        self._calibration = self._calibrate(rows, self._user_bias, model.user_factors)
        return self

    def _confidence(self, rows, user_bias: np.ndarray):
        """implicit's input for ratings ``rows``: signed confidences (see the module docstring)."""
        import scipy.sparse as sp

        residual = self._baseline.residuals(rows, user_bias)
        value = 1.0 + self.config.alpha * np.abs(residual)
        value[residual < 0] *= -1.0
        return sp.csr_matrix((value.astype(np.float32), rows.indices, rows.indptr), shape=rows.shape)

    def _calibrate(self, rows, user_bias: np.ndarray, user_factors: np.ndarray) -> tuple[float, float]:
        """Least-squares ``(a, c)`` of the residuals on the scores, over the training ratings.

        The sums of the normal equations are accumulated a block of ratings at a time, so memory
        stays bounded (a block of entries times the factors) whatever the number of ratings.
        """
        owner = np.repeat(np.arange(rows.shape[0]), np.diff(rows.indptr))
        residual = self._baseline.residuals(rows, user_bias)
        item_factors = self._model.item_factors
        n, s, ss, d, sd = len(residual), 0.0, 0.0, 0.0, 0.0
        for lo in range(0, n, CALIBRATION_BLOCK):
            hi = min(lo + CALIBRATION_BLOCK, n)
            score = np.einsum("nf,nf->n", user_factors[owner[lo:hi]].astype(np.float64),
                              item_factors[rows.indices[lo:hi]].astype(np.float64))
            s, ss = s + score.sum(), ss + score @ score
            d, sd = d + residual[lo:hi].sum(), sd + score @ residual[lo:hi]
        if n == 0:
            return 0.0, 0.0
        variance = ss / n - (s / n) ** 2
        if variance <= 1e-12 * max(ss / n, 1e-300):  # all scores equal: nothing to calibrate
            return float(d / n), 0.0
        c = (sd / n - (s / n) * (d / n)) / variance
        return float(d / n - c * s / n), float(c)

    # -- scoring ----------------------------------------------------------------------------------

    def _factors_of(self, rows, user_bias: np.ndarray) -> np.ndarray:
        """User factors of ratings ``rows`` through implicit's ``recalculate_user``."""
        if rows.shape[0] == 0:
            return np.zeros((0, self._model.factors), dtype=np.float32)
        with _one_blas_thread():
            return self._model.recalculate_user(
                np.arange(rows.shape[0]), self._confidence(rows, user_bias)
            ).reshape(rows.shape[0], -1)

    def _scores(self, user_factors: np.ndarray, user_bias: np.ndarray, clip: bool = True) -> np.ndarray:
        """Predicted ratings of every item for each row's factors and bias (float32; clipped to 1-5
        unless ``clip`` is false)."""
        a, c = self._calibration
        out = self._baseline.dense(user_bias + a).astype(np.float32)
        out += np.float32(c) * (user_factors @ self._model.item_factors.T)
        if clip:
            np.clip(out, 1.0, 5.0, out=out)
        return out

    # -- the Recommender contract -----------------------------------------------------------------

    def predict(self, users: Sequence[str], items: Sequence[str] | None = None) -> np.ndarray:
        """Predicted ratings of training users; NaN for unknown users and items."""
        scores = score_training_users(
            self._users, users, len(self._items),
            lambda rows: self._scores(self._model.user_factors[rows], self._user_bias[rows]))
        return select_columns(scores, self._items, items)

    def fold_in(
        self, history: Sequence[tuple[str, float]], items: Sequence[str] | None = None
    ) -> np.ndarray:
        """Predicted ratings of a new person (``recalculate_user`` on their ratings)."""
        scores = self.fold_in_batch(history_row(history, self._items))
        return select_columns(scores, self._items, items)[0]

    def fold_in_batch(self, matrix, *, clip: bool = True) -> np.ndarray:
        """Predictions for many new people: CSR rows = people, columns in ``item_ids`` order."""
        rows = rating_rows(matrix, len(self._items))
        user_bias = self._baseline.user_bias(rows)
        return self._scores(self._factors_of(rows, user_bias), user_bias, clip)

    def save(self, folder: Path) -> None:
        """implicit's own ``als.npz``, plus ``weights.npz`` (ids, baseline) and ``config.json``."""
        save_model_files(folder, self.config, {
            "items": self._items.ids, "users": self._users.ids, "mu": np.array(self._baseline.mu),
            "item_bias": self._baseline.item_bias, "user_bias": self._user_bias,
            "calibration": np.array(self._calibration), **engagement_arrays(self._engagement),
        }, kind="als", format_version=FORMAT_VERSION)
        self._model.save(str(Path(folder) / "als.npz"))

    @classmethod
    def load(cls, folder: Path) -> AlsRecommender:
        """Read a model written by :meth:`save` (implicit's loader uses ``allow_pickle=False`` too)."""
        from implicit.cpu.als import AlternatingLeastSquares

        config, data = load_model_files(folder, AlsConfig, kind="als", format_version=FORMAT_VERSION)
        model = cls(config)
        model._items, model._users = IdIndex(data["items"]), IdIndex(data["users"])
        model._baseline = Baseline(float(data["mu"]), data["item_bias"], config.damping)
        model._user_bias = data["user_bias"]
        a, c = data["calibration"].tolist()
        model._calibration = (float(a), float(c))
        model._engagement = engagement_from_arrays(data, len(model._items))
        if np.shape(model._user_bias) != (len(model._users),) or np.shape(data["item_bias"]) != (len(model._items),):
            raise ValueError(f"{folder}: the baselines do not fit the users and items")
        with _one_blas_thread():
            model._model = AlternatingLeastSquares.load(str(model_file(folder, "als.npz")))
        factors = (model._model.item_factors.shape[0], model._model.user_factors.shape[0])
        if factors != (len(model._items), len(model._users)):
            raise ValueError(f"{folder}: als.npz has factors for {factors[0]} items and {factors[1]} users, "
                             f"not {len(model._items)} and {len(model._users)}")
        return model


@contextmanager
def _one_blas_thread():
    """One BLAS thread inside implicit (it warns otherwise: a BLAS thread pool slows ALS down)."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1, "blas"):
        yield


@hookimpl
def register_recommenders(register) -> None:
    """Register ``als``."""
    register("als", AlsRecommender)

"""The recommender shell both neural models share: :class:`TorchRecommender`.

Data handling, prediction, fold-in and persistence around a torch net; the nets themselves are in
:mod:`deepcart.plugins.recommenders.neural.nets`, which is imported only inside ``fit`` and ``load``.

* **Only rated items get parameters.** Catalogue items without a single training rating would only
  carry untrained weights; the per-item tables hold rows for the rated ("active") items, and the
  rest are predicted at the global mean. Folding in a rating of such an item changes nothing.
* **Rating scale.** Both models predict a *residual* from a fixed item baseline (the item mean damped
  towards the global mean, the ``naive`` model): ``rating = baseline[i] + f(person)[i]``, clipped
  to [1, 5]. With ``f = 0`` a model is exactly that baseline: the net only has to learn how a
  person departs from it.
* **Ids.** Catalogue items and training users are looked up through one
  :class:`~deepcart.toolkit.id_index.IdIndex` each, built when the model is fitted or loaded.
* **Ranking.** Lists rank by engagement and predicted stars together
  (:mod:`deepcart.toolkit.engagement`): the engagement model is fitted beside the net on the same
  training ratings and stored in ``data.npz``.
* **Persistence.** ``config.json`` + ``model.pt`` (a state dict, read with ``weights_only=True``) +
  ``data.npz`` (ids, active items, the train CSR, the engagement model; read with
  ``allow_pickle=False``): no code runs when a model is loaded.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from deepcart.plugins.recommenders.neural.bags import Bags, make_bags
from deepcart.plugins.recommenders.neural.config import TorchConfig
from deepcart.plugins.recommenders.neural.training import EpochRow, fit_loop, resolve_device, seed_all
from deepcart.ratings import Ratings
from deepcart.toolkit.engagement import (
    EngagementRanking,
    engagement_arrays,
    engagement_from_arrays,
    fit_engagement,
)
from deepcart.toolkit.id_index import IdIndex
from deepcart.toolkit.model_files import checked_csr, load_model_files, model_file, save_model_files

if TYPE_CHECKING:
    import scipy.sparse as sp
    import torch

#: Pseudo-ratings at the global mean per item in the baseline (the ``naive`` model with ``damping=5``).
BASELINE_DAMPING = 5.0
#: Upper bound of the dense score block built at once when predicting (bytes).
SCORE_BLOCK_BYTES = 64 * 2**20
RATING_MIN, RATING_MAX = 1.0, 5.0
#: Layout of ``data.npz`` (2: with the engagement model).
FORMAT_VERSION = 2
#: The arrays of a saved torch model (beside its state dict, model.pt).
DATA_FILE = "data.npz"


class TorchRecommender(EngagementRanking):
    """Data handling, prediction, fold-in and persistence around a torch net.

    Subclasses provide ``Config`` and three methods: :meth:`_build_net` (the module, whose
    ``rating_rows`` attribute is an :class:`~deepcart.plugins.recommenders.neural.nets.ItemRows`),
    :meth:`_hidden` (a person's representation in eval mode, fed to ``rating_rows``) and
    :meth:`_make_loss` (the training objective).
    """

    Config: ClassVar[type[TorchConfig]]
    #: A person's own ratings move the predictions (see the Recommender contract).
    personalised: ClassVar[bool] = True
    #: Name used in the progress bar.
    label: ClassVar[str] = "model"

    def __init__(self, config: TorchConfig | None = None):
        self.config = config or self.Config()
        self._items = IdIndex(np.array([], dtype=str))  # the catalogue, in column order
        self._users = IdIndex(np.array([], dtype=str))  # the training users, in row order
        self._active = np.array([], dtype=np.int64)  # catalogue column of each model item
        self._row_of = np.array([], dtype=np.int64)  # model item of each catalogue column, or -1
        self._train = None  # CSR people x model items: the training users' ratings
        self._mean = 3.0
        self._net = None
        self._device = None
        #: Per-epoch training log of the last :meth:`fit`.
        self.history: list[EpochRow] = []

    # -- subclass hooks --------------------------------------------------------------------------

    def _build_net(self, n_items: int, baseline: torch.Tensor, fan_in: float) -> torch.nn.Module:
        """The net (called by :meth:`fit` and :meth:`load`, the only places that may import
        :mod:`~deepcart.plugins.recommenders.neural.nets`, and with it torch)."""
        raise NotImplementedError

    def _hidden(self, net: torch.nn.Module, bags: Bags) -> torch.Tensor:
        raise NotImplementedError

    def _residual_weight(self, net: torch.nn.Module, h: torch.Tensor) -> torch.Tensor | None:
        """How much of the personal residual ``h . v_i + e_i`` a prediction keeps: per item
        ``(n_items,)`` or per person and item ``(len(h), n_items)``; None keeps all of it."""
        return None

    def _ratings(self, net: torch.nn.Module, bags: Bags, items: torch.Tensor | None) -> torch.Tensor:
        """Unclipped predicted ratings of every person in ``bags`` for ``items`` (None: all):
        ``b_i + w * (h . v_i + e_i)`` with ``w`` from :meth:`_residual_weight`."""
        h = self._hidden(net, bags)
        scores = net.rating_rows.matrix(h, items)
        weight = self._residual_weight(net, h)
        if weight is None:
            return scores
        base = net.rating_rows.baseline
        if items is not None:
            base, weight = base[items], weight[..., items]
        return base + weight * (scores - base)

    def _scores_need_every_item(self) -> bool:
        """Whether :meth:`_ratings` computes full-catalogue rows even for a few ``items``."""
        return False

    def _rating_pairs(self, net: torch.nn.Module, bags: Bags, rows: torch.Tensor,
                      items: torch.Tensor) -> torch.Tensor:
        """Unclipped predicted ratings of the (person, item) pairs ``rows``, ``items``; the same
        values as :meth:`_ratings` at those cells."""
        h = self._hidden(net, bags)
        scores = net.rating_rows.pairs(h, rows, items)
        weight = self._residual_weight(net, h)
        if weight is None:
            return scores
        base = net.rating_rows.baseline[items]
        return base + (weight[items] if weight.dim() == 1 else weight[rows, items]) * (scores - base)

    def _make_loss(self, net: torch.nn.Module) -> Callable[[Bags], torch.Tensor]:
        raise NotImplementedError

    # -- contract --------------------------------------------------------------------------------

    @property
    def item_ids(self) -> np.ndarray:
        return self._items.ids

    def fit(self, train: Ratings, *, seed: int = 0, validation: Any = None) -> TorchRecommender:
        """Learn from ``train``; with ``validation=(inputs, checks)`` early-stop on their RMSE."""
        import scipy.sparse as sp
        import torch

        device = resolve_device(self.config.device)
        rng = seed_all(seed)
        self._items = IdIndex(train.item_ids)
        self._users = IdIndex(train.user_ids)
        csr = train.csr()
        csr.sum_duplicates()
        self._engagement = fit_engagement(csr, self.config)
        counts = np.bincount(csr.indices, minlength=csr.shape[1])
        self._active = np.flatnonzero(counts).astype(np.int64)
        self._row_of = np.full(len(self._items), -1, dtype=np.int64)
        self._row_of[self._active] = np.arange(len(self._active))
        self._train = sp.csr_matrix(
            (csr.data.astype(np.float32), self._row_of[csr.indices], csr.indptr),
            shape=(csr.shape[0], len(self._active)),
        )
        self._mean = float(csr.data.mean()) if csr.nnz else 3.0
        sums = np.bincount(csr.indices, weights=csr.data, minlength=csr.shape[1])[self._active]
        baseline = (sums + BASELINE_DAMPING * self._mean) / (counts[self._active] + BASELINE_DAMPING)

        people = np.flatnonzero(np.diff(self._train.indptr))  # users with at least one rating
        fan_in = float(self._train.nnz / max(len(people), 1))
        self._device = device
        net = self._build_net(len(self._active), torch.from_numpy(baseline.astype(np.float32)),
                              fan_in).to(device)
        size = self.config.batch_size
        n_batches = math.ceil(len(people) / size)

        def batches() -> Iterator[Bags]:
            order = people[rng.permutation(len(people))]
            for start in range(0, len(order), size):
                yield make_bags(self._train[order[start : start + size]], device)

        validate = self._validator(net, validation) if validation is not None else None
        self.history = fit_loop(net, batches, n_batches, self._make_loss(net), self.config,
                                validate=validate, desc=self.label)
        self._net = net
        return self

    def predict(self, users: Sequence[str], items: Sequence[str] | None = None) -> np.ndarray:
        """Predicted ratings of training users; NaN for unknown users or items."""
        self._check_fitted()
        cols, col_known = self._columns(items)
        rows, row_known = self._users.positions(users)
        out = np.full((len(rows), len(cols)), np.nan, dtype=np.float32)
        if not (row_known.any() and col_known.any()):
            return out
        people, wanted = np.flatnonzero(row_known), np.flatnonzero(col_known)
        for start, stop, block in self._score_blocks(self._train[rows[people]], cols[wanted]):
            if len(wanted) == len(cols):
                out[people[start:stop]] = block
            else:
                out[np.ix_(people[start:stop], wanted)] = block
        return out

    def fold_in(
        self, history: Sequence[tuple[str, float]], items: Sequence[str] | None = None
    ) -> np.ndarray:
        """Score a new person from ``(parent_asin, rating)`` pairs (unknown items are ignored)."""
        import scipy.sparse as sp

        self._check_fitted()
        ids = [str(item) for item, _ in history]
        ratings = np.array([float(r) for _, r in history], dtype=np.float32)
        pos, known = self._items.positions(ids)
        model_items = np.where(known, self._row_of[pos], -1)
        keep = model_items >= 0
        latest: dict[int, float] = {}
        for item, rating in zip(model_items[keep].tolist(), ratings[keep].tolist()):
            latest[item] = rating  # a repeated item: the last rating counts
        row = sp.csr_matrix(
            (np.array(list(latest.values()), dtype=np.float32),
             (np.zeros(len(latest), dtype=np.int64), np.array(list(latest), dtype=np.int64))),
            shape=(1, len(self._active)),
        )
        cols, col_known = self._columns(items)
        out = np.full(len(cols), np.nan, dtype=np.float32)
        if col_known.any():
            for _, _, block in self._score_blocks(row, cols[col_known]):
                out[col_known] = block[0]
        return out

    def fold_in_batch(self, matrix, *, clip: bool = True) -> np.ndarray:
        """Score many new people at once from a CSR of their ratings over :attr:`item_ids`
        (``clip=False``: before clipping to 1-5)."""
        import scipy.sparse as sp

        self._check_fitted()
        m = sp.csr_matrix(matrix)
        if m.shape[1] != len(self._items):
            raise ValueError(f"matrix has {m.shape[1]} columns, the model {len(self._items)} items")
        rows = np.repeat(np.arange(m.shape[0]), np.diff(m.indptr))
        cols = self._row_of[m.indices]
        keep = cols >= 0
        model = sp.csr_matrix((m.data[keep].astype(np.float32), (rows[keep], cols[keep])),
                              shape=(m.shape[0], len(self._active)))
        out = np.empty((m.shape[0], len(self._items)), dtype=np.float32)
        for start, stop, block in self._score_blocks(model, np.arange(len(self._items)), clip=clip):
            out[start:stop] = block
        return out

    def save(self, folder: Path) -> None:
        """Write ``config.json``, ``model.pt`` (state dict) and ``data.npz`` into ``folder``."""
        import torch

        self._check_fitted()
        folder = Path(folder)
        arrays = dict(
            items=self._items.ids, users=self._users.ids, active=self._active,
            indptr=self._train.indptr.astype(np.int64), indices=self._train.indices.astype(np.int32),
            data=self._train.data.astype(np.float32), mean=np.float64(self._mean),
            **engagement_arrays(self._engagement),
        )
        save_model_files(folder, self.config, arrays, kind=self.label, format_version=FORMAT_VERSION,
                         weights=DATA_FILE)
        state = {k: v.detach().cpu() for k, v in self._net.state_dict().items()}
        torch.save(state, folder / "model.pt")

    @classmethod
    def load(cls, folder: Path) -> TorchRecommender:
        """Read a model written by :meth:`save`; no code from the files is executed."""
        import scipy.sparse as sp
        import torch

        folder = Path(folder)
        config, data = load_model_files(folder, cls.Config, kind=cls.label, format_version=FORMAT_VERSION,
                                        weights=DATA_FILE)
        model = cls(config)
        # weights_only: torch's restricted unpickler refuses anything but tensors and containers.
        state = torch.load(model_file(folder, "model.pt"), map_location="cpu", weights_only=True)
        model._items, model._users = IdIndex(data["items"]), IdIndex(data["users"])
        model._engagement = engagement_from_arrays(data, len(model._items))
        model._active = np.asarray(data["active"]).astype(np.int64)
        if len(model._active) and (np.any(np.diff(model._active) <= 0) or model._active[0] < 0
                                   or model._active[-1] >= len(model._items)):
            raise ValueError(f"{folder}: the active items are not increasing positions of the catalogue")
        model._mean = float(data["mean"])
        n_active = len(model._active)
        model._train = checked_csr(data["data"], data["indices"], data["indptr"],
                                   (len(data["indptr"]) - 1, n_active), what="the training ratings")
        model._row_of = np.full(len(model._items), -1, dtype=np.int64)
        model._row_of[model._active] = np.arange(n_active)
        # A model trained on a GPU still loads where there is none.
        model._device = resolve_device("auto" if config.device == "cuda" else config.device)
        fan_in = 1.0  # only shapes matter: the state dict overwrites every weight
        net = model._build_net(n_active, torch.zeros(n_active), fan_in)
        net.load_state_dict(state)
        model._net = net.to(model._device).eval()
        return model

    # -- internals -------------------------------------------------------------------------------

    def _check_fitted(self) -> None:
        if self._net is None:
            raise RuntimeError(f"the {self.label} model is not fitted; call fit() or load() first")

    def _columns(self, items: Sequence[str] | None) -> tuple[np.ndarray, np.ndarray]:
        if items is None:
            return np.arange(len(self._items)), np.ones(len(self._items), bool)
        return self._items.positions(items)

    def _score_blocks(self, matrix: sp.csr_matrix, cols: np.ndarray,
                      clip: bool = True) -> Iterator[tuple[int, int, np.ndarray]]:
        """Predicted ratings (clipped unless ``clip`` is false) for people given as a CSR over model items, at catalogue columns
        ``cols``, as ``(start, stop, block)`` with ``block`` of shape ``(stop - start, len(cols))``.

        Blocks stay under :data:`SCORE_BLOCK_BYTES`, so callers fill their output without a second
        full-size copy. Catalogue items without a training rating get the global mean.
        """
        import torch

        self._check_fitted()
        model_items = self._row_of[cols]
        active = model_items >= 0
        wanted = model_items[active]
        everything = len(wanted) == len(self._active) and np.array_equal(wanted, np.arange(len(wanted)))
        items = None if everything else torch.from_numpy(wanted).to(self._device)
        fill = np.float32(np.clip(self._mean, RATING_MIN, RATING_MAX))
        # A model whose scores need every item (the VAE's gate normalises over the catalogue) holds
        # full-width rows whatever ``cols`` is: size the blocks by those.
        width = len(self._active) if self._scores_need_every_item() else len(cols)
        step = max(1, min(1024, SCORE_BLOCK_BYTES // (4 * max(width, 1))))
        net = self._net.eval()
        with torch.inference_mode():
            for start in range(0, matrix.shape[0], step):
                stop = min(start + step, matrix.shape[0])
                if not len(wanted):
                    yield start, stop, np.full((stop - start, len(cols)), fill, dtype=np.float32)
                    continue
                bags = make_bags(matrix[start:stop], self._device)
                scores = self._ratings(net, bags, items)
                scores = (scores.clamp_(RATING_MIN, RATING_MAX) if clip else scores).cpu().numpy()
                if active.all():
                    yield start, stop, scores
                else:
                    block = np.full((stop - start, len(cols)), fill, dtype=np.float32)
                    block[:, active] = scores
                    yield start, stop, block

    def _validator(self, net, validation) -> Callable[[], tuple[float, float]]:
        """``validate()`` for :func:`fit_loop`: score validation people from their inputs, compare
        with their check ratings. Check items the model has no row for always get the same
        prediction, so leaving them out cannot change which epoch is best."""
        import scipy.sparse as sp
        import torch

        inputs, checks = validation
        people = IdIndex(np.union1d(np.asarray(inputs.user_ids).astype(str),
                                    np.asarray(checks.user_ids).astype(str)))

        def model_coords(r: Ratings) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
            rows, _ = people.positions(np.asarray(r.user_ids).astype(str)[r.users])
            pos, known = self._items.positions(np.asarray(r.item_ids).astype(str)[r.items])
            cols = np.where(known, self._row_of[pos], -1)
            keep = cols >= 0
            return rows[keep], cols[keep], r.values[keep].astype(np.float32)

        rows, cols, values = model_coords(inputs)
        matrix = sp.csr_matrix((values, (rows, cols)), shape=(len(people), len(self._active)))
        c_rows, c_cols, c_values = model_coords(checks)
        order = np.argsort(c_rows, kind="stable")
        c_rows, c_cols, c_values = c_rows[order], c_cols[order], c_values[order]
        device = self._device
        step = self.config.batch_size

        def validate() -> tuple[float, float]:
            sse = sse_clipped = 0.0
            for start in range(0, len(people), step):
                lo, hi = np.searchsorted(c_rows, [start, start + step])
                if lo == hi:
                    continue
                bags = make_bags(matrix[start : start + step], device)
                pred = self._rating_pairs(
                    net, bags, torch.from_numpy(c_rows[lo:hi] - start).to(device),
                    torch.from_numpy(c_cols[lo:hi]).to(device),
                )
                target = torch.from_numpy(c_values[lo:hi]).to(device)
                sse += float(((pred - target) ** 2).sum())
                sse_clipped += float(((pred.clamp(RATING_MIN, RATING_MAX) - target) ** 2).sum())
            n = max(len(c_values), 1)
            return sse / n, math.sqrt(sse_clipped / n)

        return validate

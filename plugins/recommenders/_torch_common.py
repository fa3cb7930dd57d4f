"""Shared machinery of the neural recommenders (``autoencoder``, ``vae``).

Everything here that touches torch imports it inside a function, so the plugin modules may import
this one at their top and ``deepcart --help`` still never pays for torch. What the two models share:

* **Sparse input.** A person is a bag of ``(item, rating)`` pairs. The first layer is an
  ``nn.EmbeddingBag(mode="sum")`` fed each bag's item indices with ``per_sample_weights`` derived
  from the ratings: the same product as ``x @ W`` for the dense rating row ``x``, without building
  ``x`` (Electronics 5-core would be 2.36 TB dense). See :func:`make_bags`, :class:`SparseInput`.
* **Gathered output.** Ratings are scored only where they are asked for: the loss gathers the output
  rows of the observed items instead of computing ``(batch, n_items)`` outputs (``ItemRows``).
* **Only rated items get parameters.** Catalogue items without a single training rating would only
  carry untrained weights; the per-item tables hold rows for the rated ("active") items, and the
  rest are predicted at the global mean. Folding in a rating of such an item changes nothing.
* **Rating scale.** Both models predict a *residual* from a fixed item baseline (the item mean damped
  towards the global mean, the ``naive`` model): ``rating = baseline[i] + f(person)[i]``, clipped
  to [1, 5]. With ``f = 0`` a model is exactly the naive baseline: the net only has to learn how a
  person departs from it.
* **Training.** Adam with decoupled weight decay (AdamW), lazy on the sparse-gradient item tables:
  only the rows a batch touches move (as ``torch.optim.SparseAdam``), their decay included. Early
  stopping on validation RMSE restores the best weights. Seeded: ``torch.manual_seed`` + a numpy generator for shuffling; bit-identical on CPU.
* **Persistence.** ``config.json`` + ``model.pt`` (a state dict, read with ``weights_only=True``) +
  ``data.npz`` (ids, active items, the train CSR; read with ``allow_pickle=False``): no code runs
  when a model is loaded.
"""

from __future__ import annotations

import csv
import functools
import json
import math
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import numpy as np
import pydantic

from deepcart.ratings import Ratings, lookup

if TYPE_CHECKING:
    import scipy.sparse as sp
    import torch

#: Pseudo-ratings at the global mean per item in the baseline (the ``naive`` model's default).
BASELINE_DAMPING = 5.0
#: Upper bound of the dense score block built at once when predicting (bytes).
SCORE_BLOCK_BYTES = 64 * 2**20
RATING_MIN, RATING_MAX = 1.0, 5.0


# --------------------------------------------------------------------------------------------------
# Configuration shared by both models (no torch here)


def int_list(value: Any) -> Any:
    """Accept ``500``, ``"500"``, ``"500,200"`` or ``"[500, 200]"`` for a list of layer sizes.

    ``-o hidden=500,200`` on the command line arrives as a string; pydantic then checks the ints.
    """
    if isinstance(value, int):
        return [value]
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            return json.loads(text)
        return [part.strip() for part in text.split(",") if part.strip()]
    return value


class TorchConfig(pydantic.BaseModel):
    """Training options common to the neural recommenders."""

    model_config = pydantic.ConfigDict(extra="forbid")

    epochs: int = pydantic.Field(50, ge=1, description="passes over the training users (at most)")
    batch_size: int = pydantic.Field(256, ge=1, description="people per gradient step")
    lr: float = pydantic.Field(1e-3, gt=0, description="Adam learning rate")
    weight_decay: float = pydantic.Field(
        0.0, ge=0, description="decoupled (AdamW) weight decay; item tables: rows a batch touches"
    )
    patience: int = pydantic.Field(
        5, ge=1, description="epochs without a better validation RMSE before stopping"
    )
    device: Literal["auto", "cpu", "cuda"] = pydantic.Field("auto", description="where to train")
    progress: bool = pydantic.Field(True, description="progress bar on stderr (only on a terminal)")
    log_csv: str | None = pydantic.Field(None, description="write per-epoch losses to this CSV file")


# --------------------------------------------------------------------------------------------------
# Torch helpers


def resolve_device(name: str) -> torch.device:
    """``auto`` -> CUDA when available, else CPU; asking for CUDA without one is an error."""
    import torch

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device='cuda' was asked for but torch sees no CUDA device")
    return torch.device(name)


def seed_all(seed: int) -> np.random.Generator:
    """Seed torch (CPU and every CUDA device) and return the numpy generator used for shuffling."""
    import torch

    torch.manual_seed(seed)
    return np.random.default_rng(seed)


@dataclass
class Bags:
    """A batch of people as EmbeddingBag input: CSR rows moved to the device.

    :ivar indices: item (model row) of each rating, int64.
    :ivar offsets: where each person's ratings start in ``indices``, int64, one per person.
    :ivar values: the ratings, float32.
    :ivar rows: the person (0..n-1) each rating belongs to, int64 (for gathering outputs).
    :ivar n: number of people.
    """

    indices: torch.Tensor
    offsets: torch.Tensor
    values: torch.Tensor
    rows: torch.Tensor
    n: int


def make_bags(matrix: sp.csr_matrix, device: torch.device) -> Bags:
    """Turn the rows of a CSR matrix (people x model items) into :class:`Bags` on ``device``."""
    import torch

    indptr = matrix.indptr.astype(np.int64)
    n = matrix.shape[0]
    rows = np.repeat(np.arange(n, dtype=np.int64), np.diff(indptr))

    def move(array: np.ndarray, dtype) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(array, dtype=dtype)).to(device)

    return Bags(
        move(matrix.indices, np.int64),
        move(indptr[:-1], np.int64),
        move(matrix.data, np.float32),
        move(rows, np.int64),
        n,
    )


@functools.cache
def layers():
    """The torch building blocks (defined on first use, so importing this module stays cheap)."""
    import torch
    from torch import nn

    class SparseInput(nn.Module):
        """``x @ W + b`` for a sparse ``x`` given as bags: ``EmbeddingBag(mode="sum")`` with
        ``per_sample_weights`` = the entries of ``x``.

        ``channels > 1`` gives each item several input features (the VAE feeds "rated" and "how
        it was rated"): row ``c * n_in + i`` of the table is item ``i``'s weight in channel ``c``,
        exactly as a dense ``[x_0, x_1, ...] @ W`` with ``W`` of shape ``(channels * n_in, n_out)``.

        The table gets sparse gradients. Its initial scale uses the *effective* fan-in, the mean
        number of non-zeros per person, not the catalogue size: each output sums that many terms.
        """

        def __init__(self, n_in: int, n_out: int, *, fan_in: float, channels: int = 1):
            super().__init__()
            self.n_in, self.channels = n_in, channels
            self.bag = nn.EmbeddingBag(channels * n_in, n_out, mode="sum", sparse=True)
            bound = 1.0 / math.sqrt(max(fan_in * channels, 1.0))
            nn.init.uniform_(self.bag.weight, -bound, bound)
            self.bias = nn.Parameter(torch.zeros(n_out))

        def forward(self, bags: Bags, *weights: torch.Tensor) -> torch.Tensor:
            """One tensor of per-rating weights per channel (aligned with ``bags.indices``)."""
            if len(weights) != self.channels:
                raise ValueError(f"expected {self.channels} weight tensors, got {len(weights)}")
            out = self.bias.expand(bags.n, -1)
            for c, w in enumerate(weights):
                idx = bags.indices if c == 0 else bags.indices + c * self.n_in
                out = out + self.bag(idx, bags.offsets, per_sample_weights=w)
            return out

    class ItemRows(nn.Module):
        """Per-item output vectors ``v_i`` and biases ``e_i`` plus the fixed item baseline:
        ``rating(h, i) = baseline_i + h . v_i + e_i``.

        :meth:`pairs` scores only the (person, item) pairs asked for, gathering rows (sparse
        gradients); :meth:`matrix` scores every (person, item) for prediction.
        """

        def __init__(self, n_items: int, dim: int, baseline: torch.Tensor):
            super().__init__()
            self.weight = nn.Embedding(n_items, dim, sparse=True)
            bound = 1.0 / math.sqrt(dim)
            nn.init.uniform_(self.weight.weight, -bound, bound)
            self.bias = nn.Embedding(n_items, 1, sparse=True)
            nn.init.zeros_(self.bias.weight)
            self.register_buffer("baseline", baseline.clone().float())

        def pairs(self, h: torch.Tensor, rows: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
            v = self.weight(items)
            return self.baseline[items] + (h[rows] * v).sum(1) + self.bias(items).squeeze(1)

        def matrix(self, h: torch.Tensor, items: torch.Tensor | None = None) -> torch.Tensor:
            if items is None:
                v, e, b = self.weight.weight, self.bias.weight[:, 0], self.baseline
            else:
                v, e, b = self.weight.weight[items], self.bias.weight[items, 0], self.baseline[items]
            return torch.addmm(b + e, h, v.T)

    activations = {
        "sigmoid": nn.Sigmoid,
        "tanh": nn.Tanh,
        "relu": nn.ReLU,
        "elu": nn.ELU,
        "selu": nn.SELU,
        "identity": nn.Identity,
    }
    return SparseInput, ItemRows, activations


# --------------------------------------------------------------------------------------------------
# Training loop


@dataclass
class EpochRow:
    """One line of the training log."""

    epoch: int
    train_loss: float
    val_loss: float
    val_rmse: float
    seconds: float


class _EpochLog:
    """tqdm bar on stderr (only on a terminal, and only if wanted) + optional CSV file."""

    FIELDS = ("epoch", "train_loss", "val_loss", "val_rmse", "seconds")

    def __init__(self, total: int, *, progress: bool, log_csv: str | None, desc: str):
        from tqdm import tqdm

        self.bar = tqdm(total=total, desc=desc, file=sys.stderr, leave=False, unit="batch",
                        disable=not (progress and sys.stderr.isatty()))
        self.file = None
        if log_csv:
            path = Path(log_csv)
            path.parent.mkdir(parents=True, exist_ok=True)
            self.file = path.open("w", newline="")
            self.writer = csv.writer(self.file)
            self.writer.writerow(self.FIELDS)

    def batch(self, loss: Callable[[], float]) -> None:
        self.bar.update(1)
        if not self.bar.disable and self.bar.n % 10 == 0:
            self.bar.set_postfix(loss=f"{loss():.4f}", refresh=False)

    def epoch(self, row: EpochRow) -> None:
        if not self.bar.disable:
            self.bar.set_postfix(epoch=row.epoch, loss=f"{row.train_loss:.4f}",
                                 val_rmse=f"{row.val_rmse:.4f}")
        if self.file:
            self.writer.writerow([row.epoch, f"{row.train_loss:.6g}", f"{row.val_loss:.6g}",
                                  f"{row.val_rmse:.6g}", f"{row.seconds:.3f}"])
            self.file.flush()

    def close(self) -> None:
        self.bar.close()
        if self.file:
            self.file.close()


class LazyAdam:
    """Adam with decoupled weight decay (AdamW) that is lazy for row-sparse gradients.

    Dense gradients get the plain AdamW update. Sparse ones (``nn.Embedding(sparse=True)``) update
    only the rows present, moments and decay included, as ``torch.optim.SparseAdam`` does, but with
    ``index_select``/``index_copy_`` on plain tensors instead of sparse-tensor arithmetic: about
    1.5x faster on CPU at 80,000 rows x 500. (Being ours also spares the first fit the ~3 s import of
    ``torch._dynamo`` that constructing a ``torch.optim`` optimizer triggers.)
    """

    def __init__(self, params, *, lr: float, weight_decay: float = 0.0,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8):
        self.params = list(params)
        self.lr, self.weight_decay, self.betas, self.eps = lr, weight_decay, betas, eps
        self.state: dict[int, tuple] = {}

    def zero_grad(self, set_to_none: bool = True) -> None:
        for p in self.params:
            p.grad = None

    def step(self) -> None:
        import torch

        b1, b2 = self.betas
        shrink = 1 - self.lr * self.weight_decay
        with torch.no_grad():
            for p in self.params:
                if p.grad is None:
                    continue
                m, v, t = self.state.get(id(p)) or (torch.zeros_like(p), torch.zeros_like(p), 0)
                t += 1
                self.state[id(p)] = (m, v, t)
                if not p.grad.is_sparse:
                    g = p.grad
                    m.lerp_(g, 1 - b1)
                    v.mul_(b2).addcmul_(g, g, value=1 - b2)
                    denom = (v / (1 - b2**t)).sqrt_().add_(self.eps)
                    p.mul_(shrink).addcdiv_(m, denom, value=-self.lr / (1 - b1**t))
                    continue
                grad = p.grad.coalesce()
                rows, g = grad.indices()[0], grad.values()
                m_rows = m.index_select(0, rows).lerp_(g, 1 - b1)
                v_rows = v.index_select(0, rows).mul_(b2).addcmul_(g, g, value=1 - b2)
                m.index_copy_(0, rows, m_rows)
                v.index_copy_(0, rows, v_rows)
                denom = v_rows.div_(1 - b2**t).sqrt_().add_(self.eps)
                new = p.index_select(0, rows).mul_(shrink)
                new.addcdiv_(m_rows, denom, value=-self.lr / (1 - b1**t))
                p.index_copy_(0, rows, new)


def fit_loop(
    module: torch.nn.Module,
    batches: Callable[[], Iterator[Bags]],
    n_batches: int,
    loss_fn: Callable[[Bags], torch.Tensor],
    config: TorchConfig,
    *,
    validate: Callable[[], tuple[float, float]] | None = None,
    desc: str = "training",
) -> list[EpochRow]:
    """Train ``module`` for up to ``config.epochs`` epochs; early-stop on ``validate``.

    ``validate()`` returns ``(val_loss, val_rmse)`` and runs in eval mode without gradients. Training
    stops after ``config.patience`` epochs without a better RMSE, and the weights of the best epoch
    are restored. Returns the per-epoch log (also written to ``config.log_csv``).
    """
    import torch

    optimizer = LazyAdam(module.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    log = _EpochLog(config.epochs * n_batches, progress=config.progress, log_csv=config.log_csv,
                    desc=desc)
    history: list[EpochRow] = []
    best_rmse, best_state, waited = math.inf, None, 0
    try:
        for epoch in range(1, config.epochs + 1):
            start = time.perf_counter()
            module.train()
            total = torch.zeros((), dtype=torch.float64, device=next(module.parameters()).device)
            seen = 0
            for bags in batches():
                optimizer.zero_grad()
                loss = loss_fn(bags)
                loss.backward()
                optimizer.step()
                total += loss.detach() * bags.n  # stays on the device: no sync per batch
                seen += bags.n
                log.batch(lambda: float(loss))
            train_loss = float(total) / max(seen, 1)
            val_loss = val_rmse = math.nan
            if validate is not None:
                module.eval()
                with torch.no_grad():
                    val_loss, val_rmse = validate()
            row = EpochRow(epoch, train_loss, val_loss, val_rmse, time.perf_counter() - start)
            history.append(row)
            log.epoch(row)
            if validate is None:
                continue
            if val_rmse < best_rmse:
                best_rmse, waited = val_rmse, 0
                if best_state is None:
                    best_state = {k: v.detach().clone() for k, v in module.state_dict().items()}
                else:  # in place: never two snapshots alive at once
                    for k, v in module.state_dict().items():
                        best_state[k].copy_(v)
            else:
                waited += 1
                if waited >= config.patience:
                    break
    finally:
        log.close()
    if best_state is not None:
        module.load_state_dict(best_state)
    module.eval()
    return history


# --------------------------------------------------------------------------------------------------
# The recommender shell both models share


class TorchRecommender:
    """Data handling, prediction, fold-in and persistence around a torch net.

    Subclasses provide ``Config`` and three methods: :meth:`_build_net` (the module, whose
    ``rating_rows`` attribute is an ``ItemRows``), :meth:`_hidden` (a person's representation in
    eval mode, fed to ``rating_rows``) and :meth:`_make_loss` (the training objective).
    """

    Config: ClassVar[type[TorchConfig]]
    #: A person's own ratings move the predictions (see the Recommender contract).
    personalised: ClassVar[bool] = True
    #: Name used in the progress bar.
    label: ClassVar[str] = "model"

    def __init__(self, config: TorchConfig | None = None):
        self.config = config or self.Config()
        self._items = np.array([], dtype=str)
        self._users = np.array([], dtype=str)
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
        return self._items

    def fit(self, train: Ratings, *, seed: int = 0, validation: Any = None) -> TorchRecommender:
        """Learn from ``train``; with ``validation=(inputs, checks)`` early-stop on their RMSE."""
        import scipy.sparse as sp
        import torch

        device = resolve_device(self.config.device)
        rng = seed_all(seed)
        self._items = np.asarray(train.item_ids).astype(str)
        self._users = np.asarray(train.user_ids).astype(str)
        csr = train.csr()
        csr.sum_duplicates()
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
        rows, row_known = lookup(self._users, users)
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
        pos, known = lookup(self._items, ids)
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

    def fold_in_batch(self, matrix) -> np.ndarray:
        """Score many new people at once from a CSR of their ratings over :attr:`item_ids`."""
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
        for start, stop, block in self._score_blocks(model, np.arange(len(self._items))):
            out[start:stop] = block
        return out

    def save(self, folder: Path) -> None:
        """Write ``config.json``, ``model.pt`` (state dict) and ``data.npz`` into ``folder``."""
        import torch

        self._check_fitted()
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "config.json").write_text(self.config.model_dump_json())
        state = {k: v.detach().cpu() for k, v in self._net.state_dict().items()}
        torch.save(state, folder / "model.pt")
        np.savez(
            folder / "data.npz",
            items=self._items, users=self._users, active=self._active,
            indptr=self._train.indptr.astype(np.int64), indices=self._train.indices.astype(np.int32),
            data=self._train.data.astype(np.float32), mean=np.float64(self._mean),
        )

    @classmethod
    def load(cls, folder: Path) -> TorchRecommender:
        """Read a model written by :meth:`save`; no code from the files is executed."""
        import scipy.sparse as sp
        import torch

        folder = Path(folder)
        config = cls.Config.model_validate_json((folder / "config.json").read_text())
        model = cls(config)
        # weights_only: torch's restricted unpickler refuses anything but tensors and containers.
        state = torch.load(folder / "model.pt", map_location="cpu", weights_only=True)
        with np.load(folder / "data.npz", allow_pickle=False) as data:
            model._items, model._users = data["items"], data["users"]
            model._active = data["active"].astype(np.int64)
            model._mean = float(data["mean"])
            n_active = len(model._active)
            model._train = sp.csr_matrix((data["data"], data["indices"], data["indptr"]),
                                         shape=(len(data["indptr"]) - 1, n_active))
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
        return lookup(self._items, items)

    def _score_blocks(self, matrix: sp.csr_matrix, cols: np.ndarray) -> Iterator[tuple[int, int, np.ndarray]]:
        """Clipped predicted ratings for people given as a CSR over model items, at catalogue columns
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
                scores = scores.clamp_(RATING_MIN, RATING_MAX).cpu().numpy()
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
        people = np.union1d(np.asarray(inputs.user_ids).astype(str),
                            np.asarray(checks.user_ids).astype(str))

        def model_coords(r: Ratings) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
            rows, _ = lookup(people, np.asarray(r.user_ids).astype(str)[r.users])
            pos, known = lookup(self._items, np.asarray(r.item_ids).astype(str)[r.items])
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

"""Training: the loop with early stopping, its epoch log, the lazy AdamW, device and seeding.

Adam with decoupled weight decay (AdamW), lazy on the sparse-gradient item tables: only the rows a
batch touches move (as ``torch.optim.SparseAdam``), their decay included. Early stopping on
validation RMSE restores the best weights. Seeded: ``torch.manual_seed`` + a numpy generator for
shuffling; bit-identical on CPU.

torch is imported inside the functions, so importing this module stays cheap.
"""

from __future__ import annotations

import csv
import math
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from deepcart.plugins.recommenders.neural.config import TorchConfig

if TYPE_CHECKING:
    import torch

    from deepcart.plugins.recommenders.neural.bags import Bags


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
class EpochRow:
    """One line of the training log."""

    epoch: int
    train_loss: float
    val_loss: float
    val_rmse: float
    seconds: float


class _EpochLog:
    """Progress on stderr, if wanted: a tqdm bar on a terminal, else one line per epoch (a log file
    or a CI job would otherwise see nothing for minutes); plus an optional CSV file."""

    FIELDS = ("epoch", "train_loss", "val_loss", "val_rmse", "seconds")

    def __init__(self, total: int, *, progress: bool, log_csv: str | None, desc: str, epochs: int = 0):
        from tqdm import tqdm

        terminal = sys.stderr.isatty()
        self.bar = tqdm(total=total, desc=desc, file=sys.stderr, leave=False, unit="batch",
                        disable=not (progress and terminal))
        self.lines = progress and not terminal
        self.desc, self.epochs = desc, epochs
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
        if self.lines:
            val = f", validation RMSE {row.val_rmse:.4f}" if not math.isnan(row.val_rmse) else ""
            print(f"{self.desc}: epoch {row.epoch}/{self.epochs}, train loss {row.train_loss:.4f}{val} "
                  f"({row.seconds:.1f} s)", file=sys.stderr, flush=True)
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
                    desc=desc, epochs=config.epochs)
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
                # .item() of the detached loss: float() of a tensor that requires grad warns, and
                # the warning landed inside the progress bar on every interactive run.
                log.batch(lambda: loss.detach().item())
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

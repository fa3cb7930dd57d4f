"""The torch modules of the neural recommenders.

This module imports torch at its top: the recommenders import it only inside ``fit`` and ``load``
(:meth:`~deepcart.plugins.recommenders.neural.base.TorchRecommender._build_net`), so importing the
plugin package, and ``deepcart --help``, never pays for torch.

* **Sparse input** (:class:`SparseInput`): ``x @ W + b`` for the sparse rating row ``x`` of each
  person in a batch of :class:`~deepcart.plugins.recommenders.neural.bags.Bags`.
* **Gathered output** (:class:`ItemRows`): ratings are scored only where they are asked for: the
  loss gathers the output rows of the observed items instead of computing ``(batch, n_items)``
  outputs.
* **The nets** (:class:`AutoencoderNet`, :class:`VAENet`): their attribute names are the keys of the
  saved state dicts (``model.pt``), so they do not change.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from deepcart.plugins.recommenders.neural.bags import Bags

#: Hidden-layer activations by their config name.
ACTIVATIONS: dict[str, type[nn.Module]] = {
    "sigmoid": nn.Sigmoid,
    "tanh": nn.Tanh,
    "relu": nn.ReLU,
    "elu": nn.ELU,
    "selu": nn.SELU,
    "identity": nn.Identity,
}


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


class AutoencoderNet(nn.Module):
    """The ``autoencoder``'s net: sparse input -> hidden layers mirrored around the narrowest one
    (``[500, 200]`` -> items-500-200-500-items) -> :class:`ItemRows`.

    ``support`` (``n_i / (n_i + support_damping)`` per item, from the training counts ``n_i``) is a
    non-persistent buffer: it is rebuilt from the training matrix saved with the model, so it is not
    part of the state dict.
    """

    def __init__(self, n_items: int, hidden: list[int], *, activation: str, dropout: float,
                 fan_in: float, baseline: torch.Tensor, item_counts: np.ndarray,
                 support_damping: float):
        super().__init__()
        dims = list(hidden) + list(hidden[-2::-1])  # [500, 200] -> [500, 200, 500]

        def act() -> list[nn.Module]:
            block = [ACTIVATIONS[activation]()]
            return block + [nn.Dropout(dropout)] if dropout else block

        # The hidden layers are drawn first, then the input table, then the item rows: the order
        # of the random initialisations, which a seeded fit reproduces.
        middle: list[nn.Module] = act()
        for d_in, d_out in zip(dims[:-1], dims[1:]):
            middle += [nn.Linear(d_in, d_out), *act()]
        self.input = SparseInput(n_items, dims[0], fan_in=fan_in)
        self.middle = nn.Sequential(*middle)
        self.rating_rows = ItemRows(n_items, dims[-1], baseline)
        counts = torch.from_numpy(np.asarray(item_counts).astype(np.float32))
        kappa = support_damping
        self.register_buffer("support", counts / (counts + kappa) if kappa else torch.ones(n_items),
                             persistent=False)

    def residuals(self, bags: Bags) -> torch.Tensor:
        """``r_ui - b_i`` of each rating in ``bags``."""
        return bags.values - self.rating_rows.baseline[bags.indices]

    def encode(self, bags: Bags, residuals: torch.Tensor) -> torch.Tensor:
        """The last hidden layer, fed ``residuals`` (aligned with ``bags.indices``)."""
        return self.middle(self.input(bags, residuals))


class VAENet(nn.Module):
    """The ``vae``'s net: a two-channel sparse input and tanh encoder to ``(mu, logvar)``, a tanh
    decoder from the latent, and two heads on its last layer: ``logits`` (the multinomial over the
    catalogue, full softmax, dense gradient) and ``rating_rows`` (:class:`ItemRows`)."""

    def __init__(self, n_items: int, encoder: list[int], *, baseline: torch.Tensor):
        super().__init__()
        *hidden, latent = encoder
        # Inputs are normalised to unit norm per channel, so the fan-in is 1 whatever n_u is.
        first = hidden[0] if hidden else 2 * latent
        self.input = SparseInput(n_items, first, fan_in=1.0, channels=2)
        layers: list[nn.Module] = []
        dims = [first, *hidden[1:]]
        if hidden:
            for d_in, d_out in zip(dims[:-1], dims[1:]):
                layers += [nn.Tanh(), nn.Linear(d_in, d_out)]
            layers += [nn.Tanh(), nn.Linear(dims[-1], 2 * latent)]
        self.encoder = nn.Sequential(*layers)  # -> [mu, logvar]
        decoder: list[nn.Module] = []
        for d_in, d_out in zip([latent, *hidden[::-1]][:-1], hidden[::-1]):
            decoder += [nn.Linear(d_in, d_out), nn.Tanh()]
        self.decoder = nn.Sequential(*decoder)
        last = hidden[0] if hidden else latent
        self.logits = nn.Linear(last, n_items)
        self.rating_rows = ItemRows(n_items, last, baseline)
        self.latent = latent

    def posterior(self, bags: Bags, keep: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """``(mu, logvar)`` of q(z | x); ``keep`` is the input-dropout mask (scaled), if training.

        Both input channels, "rated" and the residual ``r_ui - b_i``, are scaled by ``1 / sqrt(n_u)``.
        """
        counts = torch.bincount(bags.rows, minlength=bags.n).clamp_(min=1)
        scale = counts.to(bags.values.dtype).rsqrt()[bags.rows]
        if keep is not None:
            scale = scale * keep
        residual = bags.values - self.rating_rows.baseline[bags.indices]
        stats = self.encoder(self.input(bags, scale, residual * scale))
        return stats[:, : self.latent], stats[:, self.latent :]

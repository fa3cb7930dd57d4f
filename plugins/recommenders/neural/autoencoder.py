"""The ``autoencoder`` recommender: a symmetric, sparse-aware AutoRec-style autoencoder of rating rows.

A person is their row of ratings over the catalogue. The net reads it as residuals from the item
baseline (the damped item mean of :mod:`deepcart.plugins.recommenders.naive`), passes it through
``hidden`` layers mirrored around the narrowest one (``[500, 200]`` -> items-500-200-500-items) and
outputs a residual per item::

    x_ui = r_ui - b_i                    (observed items only; unobserved are 0 = "as expected")
    h_u  = act(... act(x_u W_1 + c_1) ...)
    r^_ui = clip(b_i + h_u . v_i + e_i, 1, 5)

Predictions shrink the net's residual by how often the item was rated in training, ``n_i``, as the
item baseline itself is damped (``κ`` = ``support_damping``)::

    r^_ui = clip(b_i + n_i / (n_i + κ) * (h_u . v_i + e_i), 1, 5)

The output row of an item seen a handful of times is fitted to a handful of ratings; unshrunk, such
items get the most extreme predictions and crowd both ends of every ranking. On the default
synthetic data, worst-direction NDCG@10 over all items goes from 0.000 to 0.025 with ``κ`` = 5
(the item mean: 0.031), and over items with >= 20 ratings from 0.039 to 0.043 (0.031). Early
stopping watches the shrunk predictions; training fits the plain residuals.

The loss is the mean squared error on OBSERVED ratings only (AutoRec). ``input_dropout`` hides a
share of each person's ratings from the input while still asking the net to reconstruct them (a
denoising autoencoder): without it a wide enough net can learn to copy ratings through, which
predicts nothing for the items a person has not rated yet.

Sparse-aware: the first layer is an ``EmbeddingBag`` over the person's rated items (weights = the
residuals) and the loss gathers the output rows of the rated items only, so no ``(batch, n_items)``
tensor exists during training. See :mod:`deepcart.plugins.recommenders.neural.nets`; the net is
:class:`~deepcart.plugins.recommenders.neural.nets.AutoencoderNet`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, ClassVar, Literal

import numpy as np
import pydantic

from deepcart.plugins.recommenders.neural.base import TorchRecommender
from deepcart.plugins.recommenders.neural.config import TorchConfig, int_list
from deepcart.toolkit.engagement import stars_weight_field

if TYPE_CHECKING:
    import torch

    from deepcart.plugins.recommenders.neural.bags import Bags
    from deepcart.plugins.recommenders.neural.nets import AutoencoderNet


class AutoencoderConfig(TorchConfig):
    """Options of the ``autoencoder`` recommender."""

    # hidden, input_dropout and the stars weights are tuned on the real sets: scripts/tune_defaults.py, benchmarks/tuning.json.
    hidden: list[int] = pydantic.Field(
        [200], min_length=1, description="encoder layer sizes; the decoder mirrors them"
    )
    activation: Literal["sigmoid", "tanh", "relu", "elu", "selu", "identity"] = pydantic.Field(
        "sigmoid", description="activation of every hidden layer (the output is linear)"
    )
    dropout: float = pydantic.Field(0.0, ge=0, lt=1, description="dropout after each hidden layer")
    input_dropout: float = pydantic.Field(
        0.5, ge=0, lt=1, description="share of a person's ratings hidden from the input in training"
    )
    best_stars_weight: float = stars_weight_field(0.25, "best")
    worst_stars_weight: float = stars_weight_field(1.0, "worst")

    support_damping: float = pydantic.Field(
        5.0, ge=0, description="predicted residual times n_i / (n_i + this), n_i = the item's train ratings"
    )

    _parse_hidden = pydantic.field_validator("hidden", mode="before")(int_list)

    @pydantic.field_validator("hidden")
    @classmethod
    def _positive(cls, value: list[int]) -> list[int]:
        if any(v < 1 for v in value):
            raise ValueError("layer sizes must be at least 1")
        return value


class AutoencoderRecommender(TorchRecommender):
    """Symmetric autoencoder of rating rows (AutoRec-style, sparse input, masked MSE)."""

    Config: ClassVar[type] = AutoencoderConfig
    #: What ``deepcart tune`` searches (besides the engagement options and the stars weights).
    tune_space: ClassVar[dict[str, list]] = {"hidden": ["200", "500"], "input_dropout": [0.25, 0.5],
                                             "support_damping": [5.0, 20.0]}
    label: ClassVar[str] = "autoencoder"

    def _build_net(self, n_items: int, baseline: torch.Tensor, fan_in: float) -> AutoencoderNet:
        from deepcart.plugins.recommenders.neural.nets import AutoencoderNet

        cfg = self.config
        # The item counts come from the training matrix (saved with the model): ``support`` is
        # rebuilt from them, not stored in the state dict.
        return AutoencoderNet(
            n_items, cfg.hidden, activation=cfg.activation, dropout=cfg.dropout, fan_in=fan_in,
            baseline=baseline, item_counts=np.bincount(self._train.indices, minlength=n_items),
            support_damping=cfg.support_damping,
        )

    def _residual_weight(self, net: AutoencoderNet, h: torch.Tensor) -> torch.Tensor:
        """``n_i / (n_i + support_damping)`` per item."""
        return net.support

    def _hidden(self, net: AutoencoderNet, bags: Bags) -> torch.Tensor:
        return net.encode(bags, net.residuals(bags))

    def _make_loss(self, net: AutoencoderNet) -> Callable[[Bags], torch.Tensor]:
        import torch.nn.functional as F

        p = self.config.input_dropout

        def loss(bags: Bags) -> torch.Tensor:
            h = net.encode(bags, F.dropout(net.residuals(bags), p, training=True))
            return F.mse_loss(net.rating_rows.pairs(h, bags.rows, bags.indices), bags.values)

        return loss

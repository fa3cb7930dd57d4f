"""The neural recommenders ``autoencoder`` and ``vae``, on torch.

Importing this package (as every ``deepcart`` command does, ``--help`` included) never imports torch:
the torch modules live in :mod:`.nets`, which only ``fit`` and ``load`` import. The modules:

* :mod:`.config`: :class:`~.config.TorchConfig`, the training options both models share.
* :mod:`.bags`: a batch of people as ``EmbeddingBag`` input (:class:`~.bags.Bags`, :func:`~.bags.make_bags`).
* :mod:`.training`: the training loop with early stopping, its epoch log, the lazy AdamW.
* :mod:`.base`: :class:`~.base.TorchRecommender`, the recommender shell: data handling, prediction,
  fold-in, persistence.
* :mod:`.nets`: the torch ``nn.Module`` classes (sparse input layer, gathered item rows, both nets).
* :mod:`.autoencoder`, :mod:`.vae`: the two recommenders and their configs.
"""

from __future__ import annotations

from deepcart import hookimpl
from deepcart.plugins.recommenders.neural.autoencoder import AutoencoderRecommender
from deepcart.plugins.recommenders.neural.vae import VAERecommender


@hookimpl
def register_recommenders(register) -> None:
    """Register ``autoencoder`` and ``vae``."""
    register("autoencoder", AutoencoderRecommender)
    register("vae", VAERecommender)

"""A batch of people as ``EmbeddingBag`` input.

A person is a bag of ``(item, rating)`` pairs. The first layer of both nets is an
``nn.EmbeddingBag(mode="sum")`` fed each bag's item indices with ``per_sample_weights`` derived from
the ratings: the same product as ``x @ W`` for the dense rating row ``x``, without building ``x``
(Electronics 5-core would be 2.36 TB dense). torch is imported inside :func:`make_bags` only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import scipy.sparse as sp
    import torch


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

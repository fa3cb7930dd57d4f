"""Reading ratings from a tag's or a split's Parquet files into :class:`deepcart.ratings.Ratings`."""

from __future__ import annotations

import numpy as np

from deepcart.ratings import Ratings
from deepcart.toolkit.id_index import lookup, ratings_from_triples


def ratings_from_parquet(path, *, items: np.ndarray | None = None) -> Ratings:
    """Read ``user_id, parent_asin, rating`` from a Parquet file (a split part or a tag).

    Ids are dictionary-encoded by pyarrow first, so only the distinct ids become Python strings.
    """
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    table = pq.read_table(path, columns=["user_id", "parent_asin", "rating"])

    def encode(column: str) -> tuple[np.ndarray, np.ndarray]:
        encoded = pc.dictionary_encode(table.column(column)).combine_chunks()
        ids = np.asarray(encoded.dictionary.to_pylist(), dtype=str)
        order = np.argsort(ids, kind="stable")  # sorted ids: a stable, reproducible index
        rank = np.empty_like(order)
        rank[order] = np.arange(len(order))
        return ids[order], rank[encoded.indices.to_numpy(zero_copy_only=False)]

    user_ids, users = encode("user_id")
    item_ids, cols = encode("parent_asin")
    values = table.column("rating").to_numpy().astype(np.float32)
    if items is not None:
        return ratings_from_triples(user_ids[users], item_ids[cols], values, items=items)
    return Ratings(user_ids, item_ids, users.astype(np.int32), cols.astype(np.int32), values)


def paired_ratings(input_path, check_path, *, items: np.ndarray) -> tuple[Ratings, Ratings]:
    """The input and check parts of held-out users as two Ratings with the SAME user index.

    Row ``u`` of both is the same person, as early stopping and fold-in evaluation need; items are
    mapped onto ``items`` (the training catalogue) and ratings of other items are dropped.
    """
    import pyarrow.parquet as pq

    parts = [pq.read_table(p, columns=["user_id", "parent_asin", "rating"]) for p in (input_path, check_path)]
    users = np.unique(np.concatenate([np.asarray(t.column("user_id").to_pylist(), dtype=str) for t in parts]))
    items = np.asarray(items).astype(str)
    out = []
    for table in parts:
        u = np.asarray(table.column("user_id").to_pylist(), dtype=str)
        cols, ok = lookup(items, table.column("parent_asin").to_pylist())
        out.append(Ratings(users, items, np.searchsorted(users, u[ok]).astype(np.int32),
                           cols[ok].astype(np.int32),
                           table.column("rating").to_numpy().astype(np.float32)[ok]))
    return out[0], out[1]

"""Fitting a recommender on a split and evaluating it: what ``train``, ``run``, ``compare`` and ``tune`` share."""

from __future__ import annotations

import inspect
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np


def fit_recommender(registry, name: str, options: Mapping[str, Any], split, *, seed: int,
                    echo: Callable[[str], None], train=None, quiet: bool = False) -> tuple[Any, Any]:
    """Fit recommender ``name`` on a split's train part, early-stopping on its validation users.

    :param train: the split's train part as :class:`deepcart.ratings.Ratings`, if already read.
    :param quiet: turn the recommender's own training progress off (its ``progress`` option).
    :returns: ``(model, train)``.
    """
    from deepcart.pipeline.ratings_io import paired_ratings, ratings_from_parquet

    options = dict(options)
    fields = getattr(registry.get("recommender", name).obj.Config, "model_fields", {})
    if quiet and "progress" in fields:
        options.setdefault("progress", False)
    model = registry.create("recommender", name, options)
    train = train if train is not None else ratings_from_parquet(split.part("train"))
    kwargs: dict[str, Any] = {"seed": seed}
    if "validation" in inspect.signature(model.fit).parameters:
        kwargs["validation"] = paired_ratings(split.part("val_input"), split.part("val_check"), items=train.item_ids)
    echo(f"Training {name} on {len(train):,} ratings by {train.shape[0]:,} users of {train.shape[1]:,} items ...")
    started = time.perf_counter()
    model.fit(train, **kwargs)
    echo(f"Trained {name} in {time.perf_counter() - started:.1f} s.")
    return model, train


def evaluate_model(model, split, part: str, metric_names: Sequence[str], registry, *, k: int = 10,
                   min_engagement: int | Mapping[str, int] = 0, train=None, quiet: bool = True,
                   tables=None, scorer=None, directions: Sequence[str] = ("best", "worst")):
    """Evaluate a fitted model (or a ``scorer``) on ``part`` of ``split``; returns the :class:`EvalReport`.

    :param tables: the part as :class:`deepcart.pipeline.evaluate.EvalTables`, if already read.
    """
    from tqdm import tqdm

    from deepcart.pipeline.evaluate import evaluate, load_part, parse_metric, train_item_counts

    specs = [parse_metric(m, k, registry) for m in metric_names]
    item_ids = np.asarray(model.item_ids).astype(str)
    counts = train_item_counts(train, item_ids) if train is not None else None
    tables = tables if tables is not None else load_part(split, part, item_ids)
    with tqdm(total=len(tables.user_ids), desc=f"scoring {part} users", unit=" users", file=sys.stderr,
              disable=quiet or not sys.stderr.isatty()) as bar:
        return evaluate(model, tables, specs, registry, directions=directions, min_engagement=min_engagement,
                        item_counts=counts, progress=bar.update, scorer=scorer)

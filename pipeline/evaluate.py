"""Evaluation: score held-out people from their input ratings, rank candidates, compute metrics.

For each validation or test user, the model sees only their *input* ratings (fold-in, as the
dashboard does for a new person) and is judged on their *check* ratings:

* rating metrics (``rmse``, ``pearson``, ...) compare predicted and actual ratings of check items;
* ranking metrics (``map@k``, ``ndcg@k``, ...) rank the user's **candidates** - every catalogue item
  not in their input (optionally only items with at least ``min_engagement`` ratings in train, a
  number or one per direction) - and look for the relevant check items in the top K. Direction
  ``best``: relevant = check rating >= 4; direction ``worst``: relevant = check rating <= 2; each
  ranked by the model's relevance for that direction (engagement and predicted stars together,
  :func:`deepcart.pipeline.rank.relevance`; by stars alone for a model without engagement).

Ranking is :func:`deepcart.pipeline.rank.rank_scored`, whose one tie rule (equal relevance: more
train ratings first, then catalogue order, in both directions) picks and the dashboard share; items
the model cannot score (NaN) are never candidates.

Users are scored in batches sized so that a batch of dense score rows stays near 200 MB whatever the
catalogue size; no users x items matrix is ever materialised.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from deepcart.errors import DeepcartError
from deepcart.metric_types import MetricResult, RatingPairs, Rankings
from deepcart.pipeline.rank import DIRECTIONS, Scored, rank_scored, score_people
from deepcart.toolkit.id_index import IdIndex, lookup

#: Relevance thresholds of the two directions (check rating >= 4 / <= 2).
RELEVANT = {"best": lambda r: r >= 4, "worst": lambda r: r <= 2}
SCORE_BUDGET_BYTES = 200 * 2**20
#: What ``deepcart evaluate`` and ``deepcart run`` report when no ``--metric`` is given.
DEFAULT_METRICS = ("rmse", "pearson", "map@10", "ndcg@10", "recall@10")


def default_metrics(registry) -> tuple[str, ...]:
    """:data:`DEFAULT_METRICS`, limited to the metrics that are installed."""
    return tuple(m for m in DEFAULT_METRICS if m.partition("@")[0] in registry.names("metric"))


@dataclass(frozen=True)
class MetricSpec:
    """A metric as asked for on the command line: ``map@10`` -> name ``map``, k 10."""

    label: str
    name: str
    k: int | None


def parse_metric(text: str, default_k: int, registry) -> MetricSpec:
    """Parse ``name`` or ``name@k`` and check the metric exists."""
    name, _, k_text = text.partition("@")
    glued = re.fullmatch(r"([a-z][a-z-]*?)(\d+)", name)  # ndcg10 for ndcg@10
    if glued and not k_text and name not in registry.names("metric") and glued[1] in registry.names("metric"):
        raise DeepcartError(f"unknown metric {text!r}. Did you mean '{glued[1]}@{glued[2]}'?")
    component = registry.get("metric", name)
    if component.obj.needs == "ratings":
        if k_text:
            raise DeepcartError(f"metric {name!r} compares ratings and takes no @k")
        return MetricSpec(name, name, None)
    try:
        k = int(k_text) if k_text else default_k
    except ValueError:
        raise DeepcartError(f"metric {text!r}: the cut-off after '@' must be a whole number") from None
    if k < 1:
        raise DeepcartError(f"metric {text!r}: k must be at least 1")
    return MetricSpec(f"{name}@{k}", name, k)


@dataclass
class EvalTables:
    """One evaluation part as matrices over the model's catalogue."""

    user_ids: np.ndarray
    item_ids: np.ndarray
    inputs: Any  # CSR (n_users, n_items) of input ratings
    checks: Any  # CSR (n_users, n_items) of check ratings
    dropped_unknown: int = 0


def load_part(split, part: str, item_ids: np.ndarray) -> EvalTables:
    """Read ``<part>_input`` and ``<part>_check`` of a split as CSR matrices over ``item_ids``."""
    import pyarrow.parquet as pq
    import scipy.sparse as sp

    check = pq.read_table(split.part(f"{part}_check"), columns=["user_id", "parent_asin", "rating"])
    inp = pq.read_table(split.part(f"{part}_input"), columns=["user_id", "parent_asin", "rating"])
    users = np.unique(np.asarray(check.column("user_id").to_numpy(zero_copy_only=False), dtype=str))
    user_index, item_index = IdIndex(users), IdIndex(item_ids)

    def matrix(table):
        u = np.asarray(table.column("user_id").to_numpy(zero_copy_only=False), dtype=str)
        i = np.asarray(table.column("parent_asin").to_numpy(zero_copy_only=False), dtype=str)
        r = table.column("rating").to_numpy().astype(np.float32)
        rows, rows_ok = user_index.positions(u)
        cols, cols_ok = item_index.positions(i)
        ok = rows_ok & cols_ok
        mat = sp.csr_matrix((r[ok], (rows[ok], cols[ok])), shape=(len(users), len(item_ids)))
        return mat, int((rows_ok & ~cols_ok).sum())

    inputs, lost_in = matrix(inp)
    checks, lost_chk = matrix(check)
    return EvalTables(users, item_ids, inputs, checks, lost_in + lost_chk)


def train_item_counts(train, item_ids: np.ndarray) -> np.ndarray:
    """Ratings per item in ``train`` (a :class:`deepcart.ratings.Ratings`), in ``item_ids`` order."""
    per_item = np.bincount(train.items, minlength=len(train.item_ids))
    pos, found = lookup(train.item_ids, item_ids)
    return np.where(found, per_item[pos], 0)


def engagement_rule(min_engagement: int | Mapping[str, int]) -> dict[str, int]:
    """``--min-engagement`` as one number per direction."""
    if isinstance(min_engagement, Mapping):
        return {d: int(min_engagement.get(d, 0)) for d in DIRECTIONS}
    return {d: int(min_engagement) for d in DIRECTIONS}


@dataclass
class EvalReport:
    """Metric values per (label, direction), plus what is needed to save the details."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    per_user: dict[tuple[str, str], np.ndarray] = field(default_factory=dict)
    user_ids: np.ndarray | None = None
    n_users: int = 0
    #: Each user's top-K columns per direction (``-1`` pads), as ranked.
    ranked: dict[str, np.ndarray] = field(default_factory=dict)


def evaluate(
    model,
    tables: EvalTables,
    metrics: Sequence[MetricSpec],
    registry,
    *,
    directions: Sequence[str] = DIRECTIONS,
    min_engagement: int | Mapping[str, int] = 0,
    item_counts: np.ndarray | None = None,
    save_rankings: Path | None = None,
    save_predictions: Path | None = None,
    progress: Callable[[int], None] | None = None,
    scorer: Callable[[Any], Scored] | None = None,
) -> EvalReport:
    """Score every user of ``tables`` by fold-in and compute ``metrics`` in each direction.

    :param min_engagement: candidates need at least this many train ratings (one number, or one
        per direction: ``{"best": 0, "worst": 5}``).
    :param scorer: ``scorer(input_rows) -> Scored``; default :func:`deepcart.pipeline.rank.score_people`
        of ``model`` (``deepcart compare`` passes its baselines and peers this way).
    """
    import scipy.sparse as sp

    n_users, n_items = tables.inputs.shape
    instances = {m.name: registry.create("metric", m.name) for m in metrics}
    k_max = max([m.k for m in metrics if m.k] + [10 if save_rankings else 0])
    floors = engagement_rule(min_engagement)
    candidates_ok = {d: np.ones(n_items, dtype=bool) for d in directions}
    if item_counts is not None:
        candidates_ok = {d: item_counts >= floors[d] for d in directions}
    # stars, engagement and one relevance array live at once
    batch = max(1, min(4096, SCORE_BUDGET_BYTES // (12 * max(n_items, 1))))
    ranked = {d: np.full((n_users, k_max), -1, dtype=np.int64) for d in directions}
    ranked_scores = {d: np.full((n_users, k_max), np.nan, dtype=np.float32) for d in directions}
    ranked_relevance = {d: np.full((n_users, k_max), np.nan, dtype=np.float32) for d in directions}
    checks = tables.checks.tocoo()
    check_pred = np.full(checks.nnz, np.nan, dtype=np.float32)
    check_csr = tables.checks.tocsr()
    scorer = scorer or (lambda rows: score_people(model, rows))
    for start in range(0, n_users, batch):
        stop = min(start + batch, n_users)
        scored = scorer(tables.inputs[start:stop])
        stars = scored.stars
        # Predictions for the check items of this batch (CSR rows are contiguous in COO order).
        lo, hi = check_csr.indptr[start], check_csr.indptr[stop]
        check_pred[lo:hi] = stars[checks.row[lo:hi] - start, checks.col[lo:hi]]
        if k_max:
            rated = np.zeros(stars.shape, dtype=bool)
            inp = tables.inputs[start:stop].tocoo()
            rated[inp.row, inp.col] = True
            for d in directions:
                relevance = scored.relevance(d)
                blocked = rated | ~np.isfinite(relevance) | ~candidates_ok[d][None, :]
                top = rank_scored(scored, k_max, direction=d, blocked=blocked, counts=item_counts)
                ranked[d][start:stop] = top
                safe = np.maximum(top, 0)
                ranked_scores[d][start:stop] = np.where(top >= 0, np.take_along_axis(stars, safe, axis=1), np.nan)
                ranked_relevance[d][start:stop] = np.where(
                    top >= 0, np.take_along_axis(relevance, safe, axis=1), np.nan)
        if progress:
            progress(stop - start)

    report = EvalReport(user_ids=tables.user_ids, n_users=n_users, ranked=ranked)
    pairs = RatingPairs(checks.row.astype(np.int64), check_pred.astype(np.float64),
                        checks.data.astype(np.float64), n_users)
    for spec in metrics:
        metric = instances[spec.name]
        if metric.needs == "ratings":
            result: MetricResult = metric.compute(pairs)
            _add(report, spec.label, "-", result, metric)
            continue
        for d in directions:
            rel = checks.data <= 2 if d == "worst" else checks.data >= 4
            relevant = sp.csr_matrix((np.ones(int(rel.sum()), bool), (checks.row[rel], checks.col[rel])),
                                     shape=(n_users, n_items))
            result = metric.compute(Rankings(ranked[d][:, : spec.k], relevant, n_items), k=spec.k)
            _add(report, spec.label, d, result, metric)

    if save_predictions:
        write_parquet(save_predictions, {
            "user_id": tables.user_ids[checks.row], "parent_asin": tables.item_ids[checks.col],
            "predicted": check_pred, "actual": checks.data.astype(np.float32)})
    if save_rankings:
        cols: dict[str, list[np.ndarray]] = {"user_id": [], "rank": [], "parent_asin": [], "score": [],
                                             "relevance": [], "direction": []}
        for d in directions:
            rows, ranks = np.nonzero(ranked[d] >= 0)
            cols["user_id"].append(tables.user_ids[rows])
            cols["rank"].append(ranks.astype(np.int32) + 1)
            cols["parent_asin"].append(tables.item_ids[ranked[d][rows, ranks]])
            cols["score"].append(ranked_scores[d][rows, ranks])
            cols["relevance"].append(ranked_relevance[d][rows, ranks])
            cols["direction"].append(np.full(len(rows), d))
        write_parquet(save_rankings, {k: np.concatenate(v) for k, v in cols.items()})
    return report


def _add(report: EvalReport, label: str, direction: str, result: MetricResult, metric) -> None:
    covered = int(np.sum(~np.isnan(result.per_user))) if result.per_user is not None else report.n_users
    report.rows.append({"metric": label, "direction": direction, "value": float(result.value),
                        "users": covered, "higher_is_better": bool(metric.higher_is_better),
                        **{f"extra_{k}": float(v) for k, v in result.extra.items()}})
    if result.per_user is not None:
        report.per_user[(label, direction)] = np.asarray(result.per_user, dtype=np.float64)


def write_parquet(path: Path, columns: dict[str, np.ndarray]) -> None:
    """Write columns to ``path`` atomically (temp file, then rename)."""
    import os

    import pyarrow as pa
    import pyarrow.parquet as pq

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    pq.write_table(pa.table({k: pa.array(v) for k, v in columns.items()}), tmp, compression="zstd")
    os.replace(tmp, path)


def per_user_columns(report: EvalReport) -> dict[str, np.ndarray]:
    """Long-format per-user results: user_id, metric, direction, value (NaN rows left out)."""
    users, labels, dirs, values = [], [], [], []
    for (label, direction), vals in report.per_user.items():
        ok = ~np.isnan(vals)
        users.append(report.user_ids[ok])
        labels.append(np.full(int(ok.sum()), label))
        dirs.append(np.full(int(ok.sum()), direction))
        values.append(vals[ok])
    if not users:
        return {"user_id": np.array([], str), "metric": np.array([], str), "direction": np.array([], str),
                "value": np.array([], float)}
    return {"user_id": np.concatenate(users), "metric": np.concatenate(labels),
            "direction": np.concatenate(dirs), "value": np.concatenate(values)}


def render_table(report: EvalReport) -> str:
    """The metrics table printed by ``deepcart evaluate``."""
    rows = [("metric", "direction", "value", "users")]
    rows += [(r["metric"], r["direction"], f"{r['value']:.4f}", f"{r['users']:,}") for r in report.rows]
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    return "\n".join("  ".join(row[i].ljust(widths[i]) if i < 2 else row[i].rjust(widths[i])
                               for i in range(4)) for row in rows)

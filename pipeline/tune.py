"""``deepcart tune``: a seeded search of a recommender's options on the validation users.

The search space is the recommender's own ``tune_space`` (a class attribute: option -> values to
try), the shared engagement options when its config has them, and whatever the user sets with
``--space``. Options that change only how a fitted model ranks (the stars weights of
:mod:`deepcart.toolkit.engagement`) need no refit: every fitted candidate is scored once and each
direction's weight is chosen on that direction's metric alone. The other options are searched
over a grid when it has at most ``trials`` points, else over ``trials`` points drawn at random
(seeded, without repeats). Each candidate trains on the split's train users and is judged on its
validation users, never on the test users, so a later ``deepcart evaluate`` on the test part
stays an honest estimate.

The objective is one metric (``ndcg@10`` by default) in one direction, or the mean of both.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from deepcart.errors import DeepcartError
from deepcart.pipeline.rank import DIRECTIONS, Scored
from deepcart.toolkit.engagement import RANKING_ONLY

#: Values of the ranking-only stars weights tried for every fitted candidate.
STARS_WEIGHTS = (0.0, 0.25, 0.5, 1.0, 2.0, 4.0)
#: Searched for every recommender whose config has the shared engagement options.
ENGAGEMENT_SPACE: dict[str, list[Any]] = {"engagement_neighbours": [50, 100, 200], "engagement_l2": [10.0, 100.0, 500.0]}
#: The weight key of a recommender that ranks by stars alone (one object: NaN never equals itself).
STARS_ONLY = float("nan")
#: Val scores kept in memory for the weight sweep at most (bytes); above it they are recomputed.
CACHE_BYTES = 1 << 30


@dataclass
class Trial:
    """One fitted candidate: its options, time, and the validation metric per direction and weight."""

    options: dict[str, Any]
    fit_seconds: float = float("nan")
    by_weight: dict[str, dict[float, float]] = field(default_factory=dict)
    #: Validation users with something relevant, per direction (what each value averages over).
    users: dict[str, int] = field(default_factory=dict)
    error: str | None = None

    def best_weight(self, direction: str) -> tuple[float | None, float]:
        """The stars weight with the best value in ``direction`` (ties: the smaller weight)."""
        values = self.by_weight.get(direction, {})
        if not values:
            return None, float("nan")
        weight = max(sorted(values), key=lambda w: (np.nan_to_num(values[w], nan=-np.inf)))
        return weight, values[weight]

    def objective(self, directions: Sequence[str]) -> float:
        """Mean over ``directions`` of the best value each reaches (a direction in which no
        validation user has anything relevant is left out); NaN when none has a value."""
        values = np.array([self.best_weight(d)[1] for d in directions], dtype=np.float64)
        return float(np.nanmean(values)) if np.isfinite(values).any() else float("nan")


@dataclass
class TuneResult:
    """The trials and the winner: its options with each direction's best weight."""

    recommender: str
    metric: str
    directions: tuple[str, ...]
    space: dict[str, list[Any]]
    method: str
    trials: list[Trial]
    best: Trial
    best_options: dict[str, Any]
    model: Any = None

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready record (it goes into the tuned model's manifest)."""
        return {
            "recommender": self.recommender, "metric": self.metric, "directions": list(self.directions),
            "space": self.space, "method": self.method, "best_options": self.best_options,
            "best_value": self.best.objective(self.directions),
            "trials": [{"options": t.options, "fit_seconds": t.fit_seconds, "error": t.error, "users": t.users,
                        "values": {d: {str(w): v for w, v in t.by_weight.get(d, {}).items()} for d in self.directions}}
                       for t in self.trials],
        }


def parse_space(pairs: Sequence[str]) -> dict[str, list[str]]:
    """``--space key=v1,v2`` (or ``key=v1|v2`` for values with commas) as option -> values."""
    space: dict[str, list[str]] = {}
    for pair in pairs:
        key, sep, values = pair.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or not key or not values.strip():
            raise DeepcartError(f"--space {pair!r}: expected KEY=VALUE1,VALUE2,...")
        parts = values.split("|") if "|" in values else values.split(",")
        space[key] = [p.strip() for p in parts if p.strip()]
    return space


def search_space(registry, name: str, overrides: Mapping[str, list[Any]],
                 fixed: Mapping[str, Any] | None = None) -> dict[str, list[Any]]:
    """The space searched for recommender ``name``: its ``tune_space``, the engagement options (when
    its engagement model, fixed or default, is ``item-regression``), then ``overrides``."""
    cls = registry.get("recommender", name).obj
    fields = getattr(cls.Config, "model_fields", {})
    space: dict[str, list[Any]] = {}
    engagement = (fixed or {}).get("engagement", getattr(fields.get("engagement"), "default", None))
    if engagement == "item-regression" or "engagement" in overrides:
        space.update(ENGAGEMENT_SPACE)
    space.update(getattr(cls, "tune_space", {}) or {})
    space.update(overrides)
    unknown = sorted(set(space) - set(fields))
    if unknown:
        raise DeepcartError(f"recommender {name!r} has no option {', '.join(map(repr, unknown))}; "
                            f"options: {', '.join(fields)}")
    return space


def candidates(space: Mapping[str, list[Any]], trials: int, seed: int) -> tuple[str, list[dict[str, Any]]]:
    """``("grid" | "random", option dicts)`` for the options that need a refit."""
    fit_space = {k: list(v) for k, v in space.items() if k not in RANKING_ONLY}
    keys = sorted(fit_space)
    sizes = [len(fit_space[k]) for k in keys]
    total = int(np.prod(sizes)) if keys else 1
    if total <= trials:
        return "grid", [dict(zip(keys, combo)) for combo in itertools.product(*(fit_space[k] for k in keys))]
    rng = np.random.default_rng(seed)
    picked = rng.choice(total, size=trials, replace=False)
    out = []
    for flat in sorted(int(p) for p in picked):
        combo = {}
        for key, size in zip(reversed(keys), reversed(sizes)):
            flat, index = divmod(flat, size)
            combo[key] = fit_space[key][index]
        out.append(dict(sorted(combo.items())))
    return "random", out


def tune(registry, split, name: str, base_options: Mapping[str, Any], space: Mapping[str, list[Any]], *,
         metric: str = "ndcg@10", directions: Sequence[str] = DIRECTIONS, trials: int = 20, seed: int = 0,
         k: int = 10, min_engagement: Mapping[str, int] | int = 0,
         echo: Callable[[str], None] = print) -> TuneResult:
    """Search ``space`` for recommender ``name`` on the validation users of ``split``.

    ``split`` may also be a sequence of splits, such as the folds of a user cross-validation
    (:func:`deepcart.pipeline.splits.fold_splits`): every candidate is then trained on each fold and
    judged on all the folds' validation users together (each value is the mean over all of them),
    so a small dataset judges its candidates on many users rather than a few. The result then holds
    no model (each fold trained its own); with one split it holds the winner's.
    """
    from deepcart.config import make_config
    from deepcart.pipeline.evaluate import parse_metric

    spec = parse_metric(metric, k, registry)
    if spec.k is None:
        raise DeepcartError(f"tune ranks lists: choose a ranking metric (e.g. ndcg@10), not {metric!r}")
    splits = list(split) if isinstance(split, (list, tuple)) else [split]
    cls = registry.get("recommender", name).obj
    fields = getattr(cls.Config, "model_fields", {})
    # dict.fromkeys: a weight given twice (--space best_stars_weight=1,1.0) is tried once
    weights = {d: list(dict.fromkeys(float(w) for w in space.get(f"{d}_stars_weight", STARS_WEIGHTS)))
               for d in directions}
    ranks_by_engagement = all(f"{d}_stars_weight" in fields for d in directions)
    method, combos = candidates(space, trials, seed)
    for combo in combos:  # every candidate must validate before anything is trained
        make_config(cls.Config, {**base_options, **combo}, what=f"recommender {name!r}")
    folds = f" over {len(splits)} folds" if len(splits) > 1 else ""
    echo(f"Tuning {name}: {len(combos)} candidate(s) ({method} search), {metric} on the validation users{folds}"
         + (f", stars weights {', '.join(map(str, STARS_WEIGHTS))} per direction" if ranks_by_engagement else ""))
    result_trials: list[Trial] = []
    best: tuple[float, int, Any] | None = None
    data: dict[int, Any] = {}  # per split: its train part and validation tables, read once
    for number, combo in enumerate(combos, start=1):
        trial = Trial(dict(combo))
        result_trials.append(trial)
        results: dict[str, dict[float, list[tuple[float, int]]]] = {d: {} for d in directions}
        model = None
        seconds = []
        for fold, one in enumerate(splits):
            try:
                model, took = _judge(registry, one, data.setdefault(fold, {}), name, {**base_options, **combo},
                                     spec, directions, weights if ranks_by_engagement else None, results,
                                     seed=seed, min_engagement=min_engagement)
            except (DeepcartError, MemoryError, ValueError, RuntimeError) as exc:
                trial.error = (f"fold {fold + 1}: " if len(splits) > 1 else "") + f"{type(exc).__name__}: {exc}"
                break
            seconds.append(took)
        if trial.error:
            echo(f"  [{number}/{len(combos)}] {combo}: failed: {trial.error}")
            continue
        trial.fit_seconds = float(sum(seconds))
        for d in directions:
            trial.by_weight[d] = {w: _mean_over_users(parts) for w, parts in results[d].items()}
            trial.users[d] = int(max((sum(n for _, n in parts) for parts in results[d].values()), default=0))
        value = trial.objective(directions)
        picked = ", ".join(f"{d} {trial.best_weight(d)[1]:.4f}" for d in directions)
        echo(f"  [{number}/{len(combos)}] {combo or 'defaults'}: {picked} ({trial.fit_seconds:.1f} s)")
        if not np.isnan(value) and (best is None or value > best[0]):
            best = (value, number - 1, model if len(splits) == 1 else None)
    if best is None:
        errors = [t.error for t in result_trials if t.error]
        if errors:
            raise DeepcartError(f"every candidate of {name!r} failed: " + "; ".join(errors))
        raise DeepcartError(f"no validation user has a held-out rating to find in {' or '.join(directions)} "
                            "lists: nothing to tune on (a larger dataset, or --split-option val=0.2)")
    winner = result_trials[best[1]]
    best_options = {**base_options, **winner.options}
    if ranks_by_engagement:
        for d in directions:
            best_options[f"{d}_stars_weight"] = winner.best_weight(d)[0]
    config = make_config(cls.Config, best_options, what=f"recommender {name!r}")
    model = best[2]
    if model is not None:
        model.config = config
    typed = config.model_dump(mode="json")  # "25" from the command line becomes 25.0, as trained
    return TuneResult(name, spec.label, tuple(directions), {k: list(v) for k, v in space.items()}, method,
                      result_trials, winner, {k: typed.get(k, _plain(v)) for k, v in best_options.items()}, model)


def _mean_over_users(parts: list[tuple[float, int]]) -> float:
    """The mean over every user of several splits' means ``(value, users)``; one split's value as it is."""
    if len(parts) == 1:
        return parts[0][0]
    users = sum(n for _, n in parts)
    return sum(v * n for v, n in parts if n) / users if users else float("nan")


def _judge(registry, split, cached: dict[str, Any], name: str, options: Mapping[str, Any], spec,
           directions: Sequence[str], weights: Mapping[str, list[float]] | None,
           results: dict[str, dict[float, list[tuple[float, int]]]], *, seed: int,
           min_engagement: Mapping[str, int] | int) -> tuple[Any, float]:
    """Fit one candidate on ``split`` and add its validation results to ``results``.

    ``results[direction][weight]`` collects one ``(mean, users)`` per split, so that several folds
    give the mean over all their users. ``weights`` None: the model ranks by stars alone (recorded
    under :data:`STARS_ONLY`). ``cached`` keeps the split's train part and validation tables for the
    next candidate. Returns ``(model, fit seconds)``.
    """
    from deepcart.pipeline.evaluate import evaluate, load_part, train_item_counts
    from deepcart.pipeline.experiment import fit_recommender
    from deepcart.pipeline.rank import score_people
    from deepcart.pipeline.ratings_io import ratings_from_parquet

    if "train" not in cached:
        cached["train"] = ratings_from_parquet(split.part("train"))
    train = cached["train"]
    started = time.perf_counter()
    model, _ = fit_recommender(registry, name, options, split, seed=seed, echo=lambda _m: None, train=train,
                               quiet=True)
    seconds = time.perf_counter() - started
    items = np.asarray(model.item_ids).astype(str)
    if "tables" not in cached or not np.array_equal(cached["tables"].item_ids, items):
        cached["tables"] = load_part(split, "val", items)
    tables = cached["tables"]
    counts = train_item_counts(train, items)
    cache: dict[tuple, Scored] = {}
    use_cache = tables.inputs.shape[0] * tables.inputs.shape[1] * 8 <= CACHE_BYTES

    def scored_with(direction: str, weight: float):
        def scorer(rows):
            key = (rows.shape, rows.indptr.tobytes(), rows.indices.tobytes())
            scored = cache.get(key) if use_cache else None
            if scored is None:
                scored = score_people(model, rows)
                if use_cache:
                    cache[key] = scored
            return replace(scored, stars_weights={direction: weight})
        return scorer

    for d in directions:
        for w in (weights[d] if weights is not None else [STARS_ONLY]):
            report = evaluate(model, tables, [spec], registry, directions=(d,), min_engagement=min_engagement,
                              item_counts=counts, scorer=None if np.isnan(w) else scored_with(d, w))
            row = report.rows[0]
            results[d].setdefault(w, []).append((row["value"], row["users"]))
    return model, seconds


def _plain(value: Any) -> Any:
    """Option values as JSON-ready plain values (numpy scalars become Python numbers)."""
    return value.item() if isinstance(value, np.generic) else value

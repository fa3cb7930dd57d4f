"""``deepcart compare``: several systems on one split, one table, both directions, with statistics.

Every system (a deepcart recommender, a baseline recommender such as ``popularity`` or
``random``, or a peer library from :mod:`deepcart.pipeline.peers`) is trained on the same train
users and judged on the same held-out users by the same code
(:func:`deepcart.pipeline.evaluate.evaluate`), so the per-user values line up. For each metric and
direction the table gives every system's mean with a bootstrap confidence interval, and its paired
difference to a chosen baseline with that difference's interval and the p-value of a paired
randomisation test (:mod:`deepcart.pipeline.significance`).

A system that fails (out of memory, a refused option, a plugin's bug) is reported in the result
with its error; the others go on.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from deepcart.errors import DeepcartError
from deepcart.pipeline.rank import DIRECTIONS
from deepcart.pipeline.significance import bootstrap_ci, paired_test

#: Reference systems added to every comparison unless asked not to.
BASELINES = ("popularity", "random")
#: What ``deepcart compare`` reports when no ``--metric`` is given.
DEFAULT_METRICS = ("ndcg@10", "recall@10")
#: The evaluation protocol of the quality tables: best lists over every unrated item, worst lists
#: over items with at least 5 train ratings (a worst pick needs some engagement to mean anything).
DEFAULT_MIN_ENGAGEMENT = {"best": 0, "worst": 5}


@dataclass(frozen=True)
class System:
    """One column of a comparison: a registered recommender (with options) or a peer library."""

    label: str
    kind: str  # "recommender" or "peer"
    name: str
    options: Mapping[str, Any] = field(default_factory=dict)


@dataclass
class SystemRun:
    """What happened to one system: its report, its fit time, or its error."""

    system: System
    report: Any = None
    fit_seconds: float = float("nan")
    error: str | None = None


@dataclass
class Comparison:
    """The result of :func:`compare`."""

    runs: list[SystemRun]
    rows: list[dict[str, Any]]
    baseline: str
    user_ids: np.ndarray
    n_users: int
    relevant_users: dict[str, int]

    def per_user_columns(self) -> dict[str, np.ndarray]:
        """Long format for ``--per-user``: system, user_id, metric, direction, value (NaN left out)."""
        cols: dict[str, list[np.ndarray]] = {k: [] for k in ("system", "user_id", "metric", "direction", "value")}
        for run in self.runs:
            if run.report is None:
                continue
            for (label, direction), values in run.report.per_user.items():
                ok = ~np.isnan(values)
                cols["system"].append(np.full(int(ok.sum()), run.system.label))
                cols["user_id"].append(self.user_ids[ok])
                cols["metric"].append(np.full(int(ok.sum()), label))
                cols["direction"].append(np.full(int(ok.sum()), direction))
                cols["value"].append(values[ok])
        empty = {"system": str, "user_id": str, "metric": str, "direction": str, "value": float}
        return {k: np.concatenate(v) if v else np.array([], dtype=empty[k]) for k, v in cols.items()}

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready summary (everything but the per-user values)."""
        return {
            "baseline": self.baseline, "users": self.n_users, "relevant_users": self.relevant_users,
            "systems": [{"label": r.system.label, "kind": r.system.kind, "name": r.system.name,
                         "options": dict(r.system.options), "fit_seconds": r.fit_seconds, "error": r.error}
                        for r in self.runs],
            "results": self.rows,
        }


def parse_min_engagement(text: str | int | Mapping[str, int]) -> dict[str, int]:
    """``"5"`` (both directions) or ``"best=0,worst=5"`` as one number per direction."""
    if isinstance(text, Mapping):
        return {d: int(text.get(d, 0)) for d in DIRECTIONS}
    text = str(text).strip()
    if "=" not in text:
        try:
            value = int(text)
        except ValueError:
            raise DeepcartError(f"--min-engagement {text!r}: a whole number or best=N,worst=N") from None
        return dict.fromkeys(DIRECTIONS, value)
    out = dict(DEFAULT_MIN_ENGAGEMENT)
    for part in text.split(","):
        key, _, value = part.partition("=")
        key = key.strip()
        if key not in DIRECTIONS or not value.strip().isdigit():
            raise DeepcartError(f"--min-engagement {text!r}: expected best=N,worst=N with whole numbers N >= 0")
        out[key] = int(value)
    return out


def plan_systems(registry, recommenders: Sequence[str], options: Sequence[str], *,
                 baselines: Sequence[str], peers: Sequence[str]) -> list[System]:
    """The systems of a comparison, checked before any work.

    :param recommenders: ``NAME`` or ``LABEL=NAME`` (to compare one recommender with other options).
    :param options: ``LABEL.key=value`` (or ``key=value`` for every system that has the option).
    """
    from deepcart.config import make_config, parse_options
    from deepcart.pipeline.peers import make_peer

    systems: list[System] = []
    for spec in [*recommenders, *(b for b in baselines if b not in recommenders)]:
        label, _, name = spec.rpartition("=")
        label = label or name
        if any(s.label == label for s in systems):
            raise DeepcartError(f"two systems are called {label!r}: name one LABEL=NAME")
        component = registry.get("recommender", name)
        fields = getattr(component.obj.Config, "model_fields", {})
        prefixed = [o.split(".", 1)[1] for o in options if o.split("=", 1)[0].startswith(label + ".")]
        plain = [o for o in options if "." not in o.split("=", 1)[0]
                 and o.split("=", 1)[0].strip().replace("-", "_") in fields]
        chosen = parse_options([*plain, *prefixed])
        make_config(component.obj.Config, chosen, what=f"recommender {name!r}")  # fail before any work
        systems.append(System(label, "recommender", name, chosen))
    for name in peers:
        make_peer(name)
        if any(s.label == name for s in systems):
            raise DeepcartError(f"two systems are called {name!r}")
        systems.append(System(name, "peer", name))
    unknown = [o for o in options if "." in o.split("=", 1)[0]
               and o.split(".", 1)[0] not in {s.label for s in systems}]
    if unknown:
        raise DeepcartError(f"options for no system in this comparison: {', '.join(unknown)}")
    return systems


def compare(registry, split, systems: Sequence[System], metric_names: Sequence[str], *, part: str = "test",
            k: int = 10, min_engagement: Mapping[str, int] | None = None, seed: int = 0,
            baseline: str = "popularity", resamples: int = 1000, level: float = 0.95, alpha: float = 0.05,
            echo: Callable[[str], None] = print, quiet: bool = True) -> Comparison:
    """Train and evaluate every system on ``split``; the table with intervals and paired tests.

    ``split`` may also be a sequence of splits whose ``part`` users are disjoint, such as the folds
    of a cross-validation (:func:`fold_splits`): every system is trained and judged on each, and the
    statistics are computed over all their users together (each user counted once), so a small
    dataset yields as many judged users as it has.
    """
    if baseline not in {s.label for s in systems}:
        raise DeepcartError(f"the baseline {baseline!r} is not among the systems compared")
    floors = parse_min_engagement(min_engagement if min_engagement is not None else DEFAULT_MIN_ENGAGEMENT)
    splits = list(split) if isinstance(split, (list, tuple)) else [split]
    by_split = []
    for number, one in enumerate(splits):
        if len(splits) > 1:
            echo(f"Fold {number + 1} of {len(splits)}")
        by_split.append(_run_systems(registry, one, systems, metric_names, part=part, k=k, floors=floors,
                                     seed=seed, echo=echo, quiet=quiet))
    runs = by_split[0] if len(by_split) == 1 else [_pooled(column) for column in zip(*by_split)]
    done = [r for r in runs if r.report is not None]
    if not done:
        raise DeepcartError("every system failed: " + "; ".join(f"{r.system.label}: {r.error}" for r in runs))
    reference = next((r for r in done if r.system.label == baseline), None)
    user_ids = done[0].report.user_ids
    rows = _rows(done, reference, resamples=resamples, level=level, alpha=alpha, seed=seed)
    relevant = {}
    for d in DIRECTIONS:
        values = [v for (m, dd), v in done[0].report.per_user.items() if dd == d]
        relevant[d] = int(np.sum(~np.isnan(values[0]))) if values else 0
    return Comparison(runs, rows, baseline, user_ids, done[0].report.n_users, relevant)


def _run_systems(registry, split, systems: Sequence[System], metric_names: Sequence[str], *, part: str, k: int,
                 floors: Mapping[str, int], seed: int, echo: Callable[[str], None], quiet: bool) -> list[SystemRun]:
    """Train and evaluate every system on one split (a failure is recorded, the others go on)."""
    from deepcart.pipeline.evaluate import load_part
    from deepcart.pipeline.experiment import evaluate_model, fit_recommender
    from deepcart.pipeline.peers import make_peer
    from deepcart.pipeline.ratings_io import ratings_from_parquet

    train = ratings_from_parquet(split.part("train"))
    tables_by_catalogue: dict[bytes, Any] = {}
    runs: list[SystemRun] = []
    for system in systems:
        run = SystemRun(system)
        runs.append(run)
        started = time.perf_counter()
        try:
            if system.kind == "peer":
                echo(f"Training peer {system.label} ...")
                model = make_peer(system.name).fit(train, seed=seed)
                model.item_ids = train.item_ids
                scorer = model.score
            else:
                model, _ = fit_recommender(registry, system.name, system.options, split, seed=seed,
                                           echo=echo, train=train, quiet=quiet)
                scorer = None
            run.fit_seconds = time.perf_counter() - started
            items = np.asarray(model.item_ids).astype(str)
            key = items.tobytes()
            if key not in tables_by_catalogue:
                tables_by_catalogue[key] = load_part(split, part, items)
            run.report = evaluate_model(model, split, part, metric_names, registry, k=k, min_engagement=floors,
                                        train=train, quiet=quiet, tables=tables_by_catalogue[key], scorer=scorer)
        except (DeepcartError, MemoryError, ValueError, RuntimeError) as exc:
            run.error = f"{type(exc).__name__}: {exc}"
            echo(f"{system.label} failed: {run.error}")
    return runs


def _pooled(runs: Sequence[SystemRun]) -> SystemRun:
    """One system's runs on several splits as one: per-user values side by side, fit times summed.

    A system that failed on any split failed (its values would not pair with the others').
    """
    from deepcart.pipeline.evaluate import EvalReport

    pooled = SystemRun(runs[0].system, fit_seconds=float(sum(r.fit_seconds for r in runs)))
    failed = [(n, r) for n, r in enumerate(runs) if r.report is None]
    if failed:
        n, run = failed[0]
        pooled.error = f"fold {n + 1}: {run.error}"
        return pooled
    keys = list(dict.fromkeys(key for r in runs for key in r.report.per_user))
    pooled.report = EvalReport(
        rows=runs[0].report.rows,  # read for each metric's direction of goodness only
        per_user={key: np.concatenate([r.report.per_user.get(key, np.full(r.report.n_users, np.nan))
                                       for r in runs]) for key in keys},
        user_ids=np.concatenate([r.report.user_ids for r in runs]),
        n_users=sum(r.report.n_users for r in runs))
    return pooled


def _rows(done: Sequence[SystemRun], reference: SystemRun | None, *, resamples: int, level: float,
          alpha: float, seed: int) -> list[dict[str, Any]]:
    rows = []
    keys = list(dict.fromkeys(key for r in done for key in r.report.per_user))
    for metric, direction in keys:
        higher = next(row["higher_is_better"] for r in done for row in r.report.rows
                      if row["metric"] == metric and row["direction"] == direction)
        base = reference.report.per_user.get((metric, direction)) if reference is not None else None
        for run in done:
            values = run.report.per_user.get((metric, direction))
            if values is None:
                continue
            interval = bootstrap_ci(values, resamples=resamples, level=level, seed=seed)
            covered = values[~np.isnan(values)]
            se = float(covered.std(ddof=1) / np.sqrt(len(covered))) if len(covered) > 1 else float("nan")
            row: dict[str, Any] = {"metric": metric, "direction": direction, "system": run.system.label,
                                   "value": interval.mean, "se": se, "ci_low": interval.low,
                                   "ci_high": interval.high, "users": interval.n, "higher_is_better": higher}
            if base is not None and run is not reference and interval.n:
                test = paired_test(values, base, resamples=resamples, level=level, seed=seed)
                diff = test.difference
                better = (diff.mean > 0) == higher
                row.update({"difference": diff.mean, "difference_low": diff.low, "difference_high": diff.high,
                            "p_value": test.p_value, "significant": test.significant(alpha),
                            "verdict": ("better" if better else "worse") if test.significant(alpha)
                            else "no significant difference"})
            rows.append(row)
    return rows


def render(comparison: Comparison, *, title: str, level: float = 0.95) -> str:
    """The comparison as one table per metric and direction."""
    out = [title]
    failed = [r for r in comparison.runs if r.error]
    keys = list(dict.fromkeys((row["metric"], row["direction"]) for row in comparison.rows))
    for metric, direction in keys:
        rows = [r for r in comparison.rows if r["metric"] == metric and r["direction"] == direction]
        users = max(r["users"] for r in rows)
        what = {"best": "users with a held-out rating >= 4", "worst": "users with a held-out rating <= 2",
                "-": "users with a prediction"}.get(direction, "users")
        out.append(f"\n{metric} {direction if direction != '-' else ''} ({users:,} {what})".replace("  ", " "))
        table = [("system", "value", f"{level:.0%} CI", f"vs {comparison.baseline}", "p", "")]
        for r in sorted(rows, key=lambda r: -r["value"] if r["higher_is_better"] else r["value"]):
            if not r["users"]:
                table.append((r["system"], "-", "", "", "", "no predictions"))
                continue
            diff, p, verdict = "(baseline)" if r["system"] == comparison.baseline else "", "", ""
            if "difference" in r:
                diff = f"{r['difference']:+.4f} [{r['difference_low']:+.4f}, {r['difference_high']:+.4f}]"
                p, verdict = f"{r['p_value']:.3f}", r["verdict"]
            table.append((r["system"], f"{r['value']:.4f}", f"[{r['ci_low']:.4f}, {r['ci_high']:.4f}]", diff, p,
                          verdict))
        widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
        out += ["  " + "  ".join(c.ljust(widths[i]) if i in (0, 5) else c.rjust(widths[i])
                                 for i, c in enumerate(row)).rstrip() for row in table]
    for r in failed:
        out.append(f"\n{r.system.label} failed: {r.error}")
    return "\n".join(out)

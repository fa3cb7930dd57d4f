"""How deepcart's built-in defaults were chosen: ``deepcart tune`` on every real set, then one choice.

    python scripts/tune_defaults.py [--recommender knn ...] [--trials 20] [--folds K] [--weights-only]
                                    [--data-dir DIR] [--out FILE]

For each recommender and each real set of ``../shared/data`` (see ``benchmarks/real_sets.py``), the
same seeded candidates are tuned on that set's validation users (``deepcart tune``, NDCG@10, both
directions; the test users are never looked at): one seeded split's validation users, as the
recorded defaults were chosen, or with ``--folds K`` all the validation users of K user folds that
leave that split's test users out (``deepcart tune --folds``). The
default is the candidate with the best NDCG@10 pooled over every set (the mean over all their
validation users, each counted once; sets with fewer than ``--min-users`` relevant users in a
direction left out), and each direction's stars weight is chosen the same way for that candidate.
The per-set tables and the choice are written as JSON (``benchmarks/tuning.json``; with
``--weights-only``, which keeps every fit option at its default and re-chooses only the stars
weights, ``benchmarks/tuning-weights-cv.json``) and summarised on stdout.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

from real_sets import REAL_SETS, ensure_tag  # noqa: E402

TRIALS = {"naive": 3, "knn": 20, "autoencoder": 8, "vae": 8}


def main() -> None:
    from deepcart.plugin_manager import load_plugins
    from deepcart.pipeline.splits import split_dataset, tuning_folds
    from deepcart.pipeline.tune import search_space, tune

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recommender", action="append", help="default: naive, knn, autoencoder, vae")
    parser.add_argument("--trials", type=int, help="candidates per set (default: per recommender)")
    parser.add_argument("--min-users", type=int, default=10)
    parser.add_argument("--folds", type=int, default=1, help="user folds per set (1: one seeded split, as recorded)")
    parser.add_argument("--data-dir", type=Path, default=Path(tempfile.gettempdir()) / "deepcart-real-sets")
    parser.add_argument("--out", type=Path, help="default: benchmarks/tuning.json, or tuning-weights-cv.json with "
                        "--weights-only (the recorded search is never replaced by a weights-only one)")
    parser.add_argument("--weights-only", action="store_true",
                        help="keep every other option at its default and choose only the stars weights (one fit per "
                             "set and fold: a cheap check of the ranking mix)")
    parser.add_argument("--choose-only", action="store_true", help="recompute the choices of --out; tune nothing")
    args = parser.parse_args()
    bench = Path(__file__).resolve().parents[1] / "benchmarks"
    args.out = args.out or bench / ("tuning-weights-cv.json" if args.weights_only else "tuning.json")
    record = json.loads(args.out.read_text()) if args.out.is_file() else {}
    if args.choose_only:
        for name, entry in record.items():
            entry["choice"] = choose(entry["sets"], args.min_users)
            print(json.dumps({name: entry["choice"]}, indent=2))
        args.out.write_text(json.dumps(record, indent=1, default=str) + "\n")
        return
    registry = load_plugins(strict=False, only=None).registry
    for name in args.recommender or list(TRIALS):
        space = {} if args.weights_only else search_space(registry, name, {})
        per_set = {}
        for real in REAL_SETS:
            tag_dir = ensure_tag(real, args.data_dir, registry)
            if tag_dir is None:
                print(f"{real.tag}: skipped (files absent)", file=sys.stderr)
                continue
            quiet = lambda _m: None  # noqa: E731
            splits = (tuning_folds(tag_dir, registry, "user-holdout", {}, args.folds, seed=0, echo=quiet)
                      if args.folds > 1 else [split_dataset(tag_dir, registry, "user-holdout", seed=0, echo=quiet)])
            if not any(split.manifest["counts"]["val_check"]["ratings"] for split in splits):
                print(f"{real.tag}: skipped (no validation user has a rating to check)", file=sys.stderr)
                continue
            print(f"{name} on {real.tag} ...", file=sys.stderr, flush=True)
            result = tune(registry, splits, name, {}, space, trials=args.trials or TRIALS.get(name, 10),
                          min_engagement={"best": 0, "worst": 5}, echo=lambda m: print(m, file=sys.stderr))
            per_set[real.tag] = result.to_json()
        record[name] = {"space": space, "folds": args.folds, "weights_only": args.weights_only, "sets": per_set,
                        "choice": choose(per_set, args.min_users)}
        print(json.dumps({name: record[name]["choice"]}, indent=2))
        args.out.write_text(json.dumps(record, indent=1, default=str) + "\n")


def choose(per_set: dict, min_users: int) -> dict:
    """The candidate (and each direction's weight) with the best NDCG@10 pooled over every set.

    Pooled: the mean over all validation users of all sets, each user counted once (a set's value
    weighs by its number of users with something relevant), so a set with two such users cannot
    swing the choice; then the mean of the two directions. Sets with fewer than ``min_users`` in a
    direction are left out of it.
    """
    first = next(iter(per_set.values()))
    n_candidates = len(first["trials"])

    def pooled(trial_index: int, direction: str, weight: str | None = None) -> float:
        total = users = 0.0
        for result in per_set.values():
            trial = result["trials"][trial_index]
            n = trial["users"].get(direction, 0)
            if trial["error"] or n < min_users:
                continue
            values = trial["values"][direction]
            value = values[weight] if weight is not None else max(values.values())
            total, users = total + n * value, users + n
        return total / users if users else float("nan")

    objective = [np.nanmean([pooled(i, d) for d in ("best", "worst")])
                 if not any(r["trials"][i]["error"] for r in per_set.values()) else -np.inf
                 for i in range(n_candidates)]
    winner = int(np.nanargmax(objective))
    weights = {}
    for d in ("best", "worst"):
        options = list(first["trials"][winner]["values"][d])
        scores = {w: pooled(winner, d, w) for w in options}
        weights[d] = max(sorted(options, key=float), key=lambda w: np.nan_to_num(scores[w], nan=-1.0))
        weights[d + "_scores"] = scores
    return {"options": first["trials"][winner]["options"], "pooled_ndcg": float(objective[winner]),
            "best_stars_weight": weights["best"], "worst_stars_weight": weights["worst"],
            "pooled_by_weight": {"best": weights["best_scores"], "worst": weights["worst_scores"]}}


if __name__ == "__main__":
    main()


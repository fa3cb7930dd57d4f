"""`deepcart tune`: the search, the choice it makes, and the model it saves."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from deepcart.cli import cli
from deepcart.errors import DeepcartError
from deepcart.pipeline.tune import STARS_WEIGHTS, candidates, parse_space, search_space, tune

ENV = {"DEEPCART_LOAD_PLUGINS": ""}


def invoke(*args):
    return CliRunner().invoke(cli, list(args), env=ENV)


def test_a_small_space_is_searched_whole_and_a_large_one_sampled_without_repeats():
    method, grid = candidates({"a": [1, 2], "b": ["x", "y", "z"], "best_stars_weight": [0, 1]}, trials=6, seed=0)
    assert method == "grid" and len(grid) == 6 and {tuple(c.items()) for c in grid} == {
        (("a", a), ("b", b)) for a in (1, 2) for b in "xyz"}  # the ranking-only weight needs no refit
    space = {"a": list(range(10)), "b": list(range(10))}
    method, sample = candidates(space, trials=15, seed=3)
    assert method == "random" and len(sample) == 15
    assert len({tuple(c.items()) for c in sample}) == 15
    assert candidates(space, trials=15, seed=3) == (method, sample)  # seeded
    assert candidates(space, trials=15, seed=4)[1] != sample


def test_the_space_of_a_recommender(deepcart_registry):
    knn = search_space(deepcart_registry, "knn", {})
    assert {"neighbours", "shrinkage", "engagement_neighbours", "engagement_l2"} <= set(knn)
    # naive ranks by popularity: the item-regression options would change nothing
    assert set(search_space(deepcart_registry, "naive", {})) == {"damping"}
    assert search_space(deepcart_registry, "knn", parse_space(["neighbours=5,10"]))["neighbours"] == ["5", "10"]
    assert parse_space(["hidden=500,200|300"]) == {"hidden": ["500,200", "300"]}
    with pytest.raises(DeepcartError, match="no option 'neighbors'"):
        search_space(deepcart_registry, "knn", {"neighbors": [1]})
    with pytest.raises(DeepcartError, match="expected KEY=VALUE1"):
        parse_space(["neighbours"])


def test_tune_keeps_the_best_candidate_and_each_directions_best_weight(synthetic_tag, deepcart_registry):
    from deepcart.pipeline.splits import split_dataset

    data_dir, tag = synthetic_tag
    split = split_dataset(data_dir / tag, deepcart_registry, "user-holdout", seed=0, echo=lambda _m: None)
    result = tune(deepcart_registry, split, "knn", {}, {"neighbours": [5, 30]}, trials=5,
                  min_engagement={"best": 0, "worst": 5}, echo=lambda _m: None)
    assert [t.options for t in result.trials] == [{"neighbours": 5}, {"neighbours": 30}]
    objectives = [t.objective(("best", "worst")) for t in result.trials]
    assert result.best is result.trials[int(np.argmax(objectives))]
    for d in ("best", "worst"):
        values = result.best.by_weight[d]
        assert set(values) == set(STARS_WEIGHTS)
        chosen = result.best_options[f"{d}_stars_weight"]
        assert values[chosen] == max(values.values())
        assert result.model.stars_weights[d] == chosen  # the returned model ranks with it
    assert result.best_options["neighbours"] == result.best.options["neighbours"]


def test_the_saved_model_records_the_search_and_reproduces_its_value(synthetic_tag, tmp_path):
    data_dir, tag = synthetic_tag
    out = tmp_path / "tuned"
    result = invoke("tune", "--data-dir", str(data_dir), "--data-tag", tag, "--recommender", "knn",
                    "--space", "neighbours=10,40", "--space", "engagement_neighbours=20", "--space", "engagement_l2=50",
                    "-o", "shrinkage=25", "--direction", "worst", "--out", str(out), "--json", "-q")
    assert result.exit_code == 0, result.output
    record = json.loads(result.output)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["tuning"]["best_options"] == record["best_options"]
    # a fixed option (-o) is not searched: two candidates, not 2 x 3 shrinkage values
    assert len(manifest["tuning"]["trials"]) == 2 and manifest["tuning"]["directions"] == ["worst"]
    assert manifest["config"]["shrinkage"] == 25
    for key, value in record["best_options"].items():
        assert str(manifest["config"][key]) == str(value)
    # Evaluating the saved model on the validation users gives the value the search recorded.
    evaluated = invoke("evaluate", "--data-dir", str(data_dir), "--data-tag", tag, "--model", str(out),
                       "--split", "val", "--metric", "ndcg@10", "--direction", "worst",
                       "--min-engagement", "5", "--json", "-q")
    assert evaluated.exit_code == 0, evaluated.output
    value = json.loads(evaluated.output)["metrics"][0]["value"]
    assert value == pytest.approx(manifest["tuning"]["best_value"], abs=1e-9)
    again = invoke("tune", "--data-dir", str(data_dir), "--data-tag", tag, "--recommender", "knn", "--out", str(out))
    assert again.exit_code != 0 and "already exists" in again.output


def test_tune_refuses_a_rating_metric(synthetic_tag, deepcart_registry):
    from deepcart.pipeline.splits import split_dataset

    data_dir, tag = synthetic_tag
    split = split_dataset(data_dir / tag, deepcart_registry, "user-holdout", seed=0, echo=lambda _m: None)
    with pytest.raises(DeepcartError, match="choose a ranking metric"):
        tune(deepcart_registry, split, "naive", {}, {}, metric="rmse", echo=lambda _m: None)


def test_cross_validated_tuning_judges_each_candidate_on_every_folds_validation_users(synthetic_tag,
                                                                                      deepcart_registry):
    from deepcart.pipeline.splits import fold_splits

    data_dir, tag = synthetic_tag
    folds = fold_splits(data_dir / tag, deepcart_registry, "user-holdout", {}, 2, seed=0, echo=lambda _m: None)
    space = {"damping": [1.0, 20.0]}
    pooled = tune(deepcart_registry, folds, "naive", {}, space, min_engagement={"best": 0, "worst": 5},
                  echo=lambda _m: None)
    alone = [tune(deepcart_registry, fold, "naive", {}, space, min_engagement={"best": 0, "worst": 5},
                  echo=lambda _m: None) for fold in folds]
    assert pooled.model is None  # each fold trained its own
    for number, trial in enumerate(pooled.trials):
        parts = [result.trials[number] for result in alone]
        for d in ("best", "worst"):
            users = [p.users[d] for p in parts]
            assert trial.users[d] == sum(users) > max(users)
            for w in STARS_WEIGHTS:
                # the mean over all the folds' users, not the mean of the fold means
                expected = sum(p.by_weight[d][w] * n for p, n in zip(parts, users)) / sum(users)
                assert trial.by_weight[d][w] == pytest.approx(expected, rel=1e-12)
    objectives = [t.objective(("best", "worst")) for t in pooled.trials]
    assert pooled.best is pooled.trials[int(np.argmax(objectives))]


def test_tuning_folds_never_see_the_usual_splits_test_users(synthetic_tag, deepcart_registry):
    import pyarrow.parquet as pq

    from deepcart.pipeline.splits import PARTS, split_dataset, tuning_folds

    data_dir, tag = synthetic_tag

    def users(split, parts):
        return set().union(*(pq.read_table(split.part(p), columns=["user_id"]).column("user_id").to_pylist()
                             for p in parts))

    for options in ({}, {"train": 0.6, "val": 0.2}):
        usual = split_dataset(data_dir / tag, deepcart_registry, "user-holdout", options, seed=0, echo=lambda _m: None)
        held_out = users(usual, ("test_input", "test_check"))
        folds = tuning_folds(data_dir / tag, deepcart_registry, "user-holdout", options, 3, seed=0,
                             echo=lambda _m: None)
        assert held_out and all(not users(fold, PARTS) & held_out for fold in folds)
        # the folds judge only users of the usual split's train and validation parts
        judged = set().union(*(users(fold, ("val_check", "test_check")) for fold in folds))
        assert judged <= users(usual, PARTS) - held_out


def test_tune_with_folds_saves_the_choice_trained_on_the_usual_split(synthetic_tag, tmp_path):
    data_dir, tag = synthetic_tag
    out = tmp_path / "tuned"
    result = invoke("tune", "--data-dir", str(data_dir), "--data-tag", tag, "--recommender", "naive",
                    "--space", "damping=1,20", "--folds", "2", "--out", str(out), "--json", "-q")
    assert result.exit_code == 0, result.output
    record = json.loads(result.output)
    assert record["folds"] == 2 and len(record["trials"]) == 2
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["tuning"]["folds"] == 2
    for key, value in record["best_options"].items():
        assert str(manifest["config"][key]) == str(value)
    text = invoke("tune", "--data-dir", str(data_dir), "--data-tag", tag, "--recommender", "naive",
                  "--space", "damping=5", "--folds", "2", "-q")
    assert text.exit_code == 0 and "validation users of 2 folds" in text.output
    refused = invoke("tune", "--data-dir", str(data_dir), "--data-tag", tag, "--recommender", "naive",
                     "--folds", "2", "--split-option", "fold=1", "-q")
    assert refused.exit_code != 0 and "--folds, not as a split option" in refused.output


@pytest.mark.parametrize("name", ["naive", "knn", "autoencoder", "vae"])
def test_the_built_in_defaults_are_the_recorded_tuning_choice(deepcart_registry, name):
    """The defaults are what scripts/tune_defaults.py chose (benchmarks/tuning.json), not drifted from it."""
    from pathlib import Path

    from deepcart.config import make_config

    record = json.loads((Path(__file__).resolve().parents[2] / "benchmarks" / "tuning.json").read_text())
    choice = record[name]["choice"]
    cls = deepcart_registry.get("recommender", name).obj
    chosen = make_config(cls.Config, {**choice["options"], "best_stars_weight": choice["best_stars_weight"],
                                      "worst_stars_weight": choice["worst_stars_weight"]}, what=name)
    defaults = cls.Config()
    for key in [*choice["options"], "best_stars_weight", "worst_stars_weight"]:
        assert getattr(defaults, key) == getattr(chosen, key), key

"""`deepcart compare`: one split, every system, intervals and paired tests that mean what they say."""

from __future__ import annotations

import json

import numpy as np
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from deepcart.cli import cli
from deepcart.errors import DeepcartError
from deepcart.pipeline.compare import BASELINES, compare, parse_min_engagement, plan_systems

ENV = {"DEEPCART_LOAD_PLUGINS": ""}


def invoke(*args):
    return CliRunner().invoke(cli, list(args), env=ENV)


@pytest.fixture(scope="module")
def compared(synthetic_tag, tmp_path_factory):
    data_dir, tag = synthetic_tag
    per_user = tmp_path_factory.mktemp("compare") / "per_user.parquet"
    result = invoke("compare", "--data-dir", str(data_dir), "--data-tag", tag, "--recommender", "knn",
                    "--recommender", "naive", "--recommender", "pop2=popularity", "--peer", "implicit-cosine",
                    "--metric", "ndcg@10", "--metric", "rmse", "--resamples", "300", "--json",
                    "--per-user", str(per_user), "-q")
    assert result.exit_code == 0, result.output
    return json.loads(result.output), pq.read_table(per_user).to_pandas()


def rows_of(output, metric="ndcg@10"):
    return {(r["system"], r["direction"]): r for r in output["results"] if r["metric"] == metric}


def test_every_system_is_judged_in_both_directions(compared):
    output, _ = compared
    labels = [s["label"] for s in output["systems"]]
    assert labels == ["knn", "naive", "pop2", "popularity", "random", "implicit-cosine"]
    rows = rows_of(output)
    for label in labels:
        for direction in ("best", "worst"):
            row = rows[(label, direction)]
            assert row["ci_low"] <= row["value"] <= row["ci_high"] and row["users"] > 0
    assert output["min_engagement"] == {"best": 0, "worst": 5}
    # peers predict no stars: no RMSE for them, one for every recommender
    rmse = rows_of(output, "rmse")
    assert rmse[("implicit-cosine", "-")]["users"] == 0 and rmse[("knn", "-")]["users"] > 0


def test_the_paired_test_says_when_a_difference_is_real(compared):
    output, _ = compared
    rows = rows_of(output)
    assert "difference" not in rows[("popularity", "best")]  # the baseline itself
    same = rows[("pop2", "best")]  # the baseline under another name: nothing to find
    assert same["difference"] == 0 and same["p_value"] == 1.0 and not same["significant"]
    assert same["verdict"] == "no significant difference"
    chance = rows[("random", "best")]
    assert chance["significant"] and chance["verdict"] == "worse" and chance["difference_high"] < 0
    assert chance["p_value"] < 0.01


def test_per_user_values_are_what_the_means_average(compared):
    output, per_user = compared
    rows = rows_of(output)
    for (system, direction), row in rows.items():
        values = per_user[(per_user.system == system) & (per_user.direction == direction)
                          & (per_user.metric == "ndcg@10")].value
        assert len(values) == row["users"] and values.mean() == pytest.approx(row["value"])


def test_the_table_names_baseline_verdicts_and_failures(synthetic_tag, monkeypatch):
    data_dir, tag = synthetic_tag
    result = invoke("compare", "--data-dir", str(data_dir), "--data-tag", tag, "--recommender", "naive",
                    "--no-peers", "--metric", "ndcg@10", "--resamples", "200", "-q")
    assert result.exit_code == 0, result.output
    text = result.output
    assert "ndcg@10 best" in text and "ndcg@10 worst" in text and "(baseline)" in text
    assert "vs popularity" in text and "95% CI" in text and "worse" in text


def test_a_failing_system_is_reported_and_the_others_go_on(synthetic_tag, monkeypatch):
    from deepcart.pipeline import experiment
    from deepcart.pipeline.splits import split_dataset
    from deepcart.plugin_manager import load_plugins

    data_dir, tag = synthetic_tag
    registry = load_plugins(strict=False, only=None).registry
    real_fit = experiment.fit_recommender

    def flaky(registry, name, options, split, **kwargs):
        if name == "knn":
            raise MemoryError("no room")
        return real_fit(registry, name, options, split, **kwargs)

    monkeypatch.setattr(experiment, "fit_recommender", flaky)
    split = split_dataset(data_dir / tag, registry, "user-holdout", seed=0, echo=lambda _m: None)
    systems = plan_systems(registry, ["knn"], [], baselines=BASELINES, peers=[])
    result = compare(registry, split, systems, ["ndcg@10"], resamples=200, echo=lambda _m: None)
    errors = {r.system.label: r.error for r in result.runs}
    assert errors["knn"] == "MemoryError: no room" and errors["popularity"] is None
    assert {r["system"] for r in result.rows} == {"popularity", "random"}


def test_plans_are_checked_before_any_work(deepcart_registry):
    with pytest.raises(Exception, match="no-such"):
        plan_systems(deepcart_registry, ["no-such"], [], baselines=(), peers=())
    with pytest.raises(DeepcartError, match="two systems are called 'knn'"):
        plan_systems(deepcart_registry, ["knn", "knn"], [], baselines=(), peers=())
    with pytest.raises(DeepcartError, match="options for no system"):
        plan_systems(deepcart_registry, ["knn"], ["vae.epochs=2"], baselines=(), peers=())
    with pytest.raises(Exception, match="neighbours"):
        plan_systems(deepcart_registry, ["knn"], ["knn.neighbours=0"], baselines=(), peers=())
    with pytest.raises(DeepcartError, match="unknown peer"):
        plan_systems(deepcart_registry, [], [], baselines=(), peers=["lenskit"])
    systems = plan_systems(deepcart_registry, ["a=knn", "b=knn"], ["b.engagement=none", "damping=2"],
                           baselines=BASELINES, peers=())
    assert [(s.label, s.name, dict(s.options)) for s in systems] == [
        ("a", "knn", {"damping": "2"}), ("b", "knn", {"damping": "2", "engagement": "none"}),
        ("popularity", "popularity", {"damping": "2"}), ("random", "random", {})]


def test_min_engagement_per_direction():
    assert parse_min_engagement("5") == {"best": 5, "worst": 5}
    assert parse_min_engagement("worst=20") == {"best": 0, "worst": 20}
    assert parse_min_engagement("best=1,worst=3") == {"best": 1, "worst": 3}
    for bad in ("five", "best=x", "up=3"):
        with pytest.raises(DeepcartError):
            parse_min_engagement(bad)


def test_an_unknown_baseline_is_refused_before_training(synthetic_tag):
    data_dir, tag = synthetic_tag
    result = invoke("compare", "--data-dir", str(data_dir), "--data-tag", tag, "--recommender", "naive",
                    "--baseline", "knn", "--no-peers")
    assert result.exit_code != 0 and "--baseline 'knn' is not among the systems" in result.output
    assert "Training" not in result.output
    np.testing.assert_equal(result.exception is None or isinstance(result.exception, SystemExit), True)


def test_folds_judge_every_user_once_and_pool_the_statistics(synthetic_tag):
    from deepcart.pipeline.splits import fold_splits
    from deepcart.plugin_manager import load_plugins

    data_dir, tag = synthetic_tag
    registry = load_plugins(strict=False, only=None).registry
    splits = fold_splits(data_dir / tag, registry, "user-holdout", {}, 3, seed=0, echo=lambda _m: None)
    systems = plan_systems(registry, ["naive"], [], baselines=BASELINES, peers=[])
    pooled = compare(registry, splits, systems, ["ndcg@10"], resamples=200, echo=lambda _m: None)
    one_by_one = [compare(registry, s, systems, ["ndcg@10"], resamples=200, echo=lambda _m: None) for s in splits]
    # Each fold's test users are other people; together they are every user with a check rating.
    users = [set(r.user_ids) for r in one_by_one]
    assert not users[0] & users[1] and not users[0] & users[2] and not users[1] & users[2]
    assert pooled.n_users == sum(r.n_users for r in one_by_one) == len(set(pooled.user_ids))
    checked = set()
    for s in splits:
        checked |= set(pq.read_table(s.part("test_check")).column("user_id").to_pylist())
    assert set(pooled.user_ids) == checked
    # The pooled mean is the mean over all users of the folds, not a mean of the fold means.
    for row in pooled.rows:
        values = np.concatenate([r.runs[[x.system.label for x in r.runs].index(row["system"])]
                                 .report.per_user[(row["metric"], row["direction"])] for r in one_by_one])
        values = values[~np.isnan(values)]
        assert row["users"] == len(values) and row["value"] == pytest.approx(values.mean())
    fit = {r.system.label: r.fit_seconds for r in pooled.runs}
    assert fit["naive"] > 0


def test_compare_command_cross_validates(synthetic_tag):
    data_dir, tag = synthetic_tag
    result = invoke("compare", "--data-dir", str(data_dir), "--data-tag", tag, "--recommender", "naive",
                    "--no-peers", "--metric", "ndcg@10", "--resamples", "200", "--folds", "2", "-q")
    assert result.exit_code == 0, result.output
    assert "test users of 2 folds" in result.output
    refused = invoke("compare", "--data-dir", str(data_dir), "--data-tag", tag, "--recommender", "naive",
                     "--no-peers", "--folds", "2", "--split-option", "fold=1", "-q")
    assert refused.exit_code != 0 and "--folds, not as a split option" in refused.output
    other = invoke("compare", "--data-dir", str(data_dir), "--data-tag", tag, "--recommender", "naive",
                   "--no-peers", "--folds", "2", "--splitter", "temporal", "-q")
    assert other.exit_code != 0 and "cross-validation needs user-holdout" in other.output
    one = invoke("compare", "--data-dir", str(data_dir), "--data-tag", tag, "--recommender", "naive",
                 "--no-peers", "--folds", "1")
    assert one.exit_code != 0 and "--folds" in one.output

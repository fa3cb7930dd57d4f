"""`deepcart evaluate` and `deepcart train`: tables, JSON, files anyone can recompute metrics from."""

from __future__ import annotations

import json

import numpy as np
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from deepcart.cli import cli

ENV = {"DEEPCART_LOAD_PLUGINS": ""}


def invoke(*args):
    return CliRunner().invoke(cli, list(args), env=ENV)


def test_evaluate_on_the_spot_json_and_files(synthetic_tag, tmp_path):
    data_dir, tag = synthetic_tag
    result = invoke("evaluate", "--data-dir", str(data_dir), "--data-tag", tag, "--recommender", "naive",
                    "--metric", "rmse", "--metric", "map@5", "--metric", "recall@5", "--json", "-q",
                    "--save-predictions", str(tmp_path / "pred.parquet"),
                    "--save-rankings", str(tmp_path / "rank.parquet"), "--per-user", str(tmp_path / "users.parquet"))
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    values = {(r["metric"], r["direction"]): r["value"] for r in report["metrics"]}
    assert set(values) == {("rmse", "-"), ("map@5", "best"), ("map@5", "worst"), ("recall@5", "best"),
                           ("recall@5", "worst")}
    # RMSE recomputed from the saved predictions.
    pred = pq.read_table(tmp_path / "pred.parquet").to_pydict()
    p, a = np.array(pred["predicted"]), np.array(pred["actual"])
    assert values[("rmse", "-")] == pytest.approx(float(np.sqrt(np.nanmean((p - a) ** 2))), rel=1e-6)
    # recall@5 (worst) recomputed from the saved rankings and predictions (check items rated <= 2).
    ranks = pq.read_table(tmp_path / "rank.parquet").to_pydict()
    top = {}
    for u, r, item, d in zip(ranks["user_id"], ranks["rank"], ranks["parent_asin"], ranks["direction"]):
        if d == "worst" and r <= 5:
            top.setdefault(u, set()).add(item)
    relevant = {}
    for u, item, actual in zip(pred["user_id"], pred["parent_asin"], pred["actual"]):
        if actual <= 2:
            relevant.setdefault(u, set()).add(item)
    recalls = [len(top.get(u, set()) & rel) / len(rel) for u, rel in relevant.items()]
    assert values[("recall@5", "worst")] == pytest.approx(np.mean(recalls), rel=1e-9)
    per_user = pq.read_table(tmp_path / "users.parquet").to_pydict()
    assert set(per_user) == {"user_id", "metric", "direction", "value"}
    assert sum(1 for m, d in zip(per_user["metric"], per_user["direction"]) if m == "recall@5" and d == "worst") \
        == len(relevant)


def test_train_then_evaluate_model_and_refuse_other_dataset(synthetic_tag, tmp_path, real_data):
    data_dir, tag = synthetic_tag
    out = tmp_path / "naive-model"
    trained = invoke("train", "--data-dir", str(data_dir), "--data-tag", tag, "--recommender", "naive",
                     "-o", "damping=2", "--out", str(out), "-q")
    assert trained.exit_code == 0, trained.output
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["recommender"] == "naive" and manifest["config"]["damping"] == 2.0
    assert manifest["dataset"]["tag"] == tag and "rmse/-" in manifest["metrics"]["val"]
    table = invoke("evaluate", "--data-dir", str(data_dir), "--data-tag", tag, "--model", str(out),
                   "--metric", "rmse", "--direction", "worst", "-q")
    assert table.exit_code == 0, table.output
    assert "rmse" in table.output and "naive" in table.output
    again = invoke("train", "--data-dir", str(data_dir), "--data-tag", tag, "--recommender", "naive",
                   "--out", str(out), "-q")
    assert again.exit_code != 0 and "--force" in again.output
    # A model of another dataset is refused with a clear message.
    other = tmp_path / "other"
    assert invoke("build", "--data-dir", str(other), "--tag", "beauty", "-q",
                  "--reviews-file", str(real_data / "All_Beauty.5core.rating_only.csv")).exit_code == 0
    wrong = invoke("evaluate", "--data-dir", str(other), "--data-tag", "beauty", "--model", str(out), "-q")
    assert wrong.exit_code != 0 and "was trained on dataset" in wrong.output and "Traceback" not in wrong.output


def test_evaluate_errors(synthetic_tag):
    data_dir, tag = synthetic_tag
    assert "exactly one of --model" in invoke("evaluate", "--data-dir", str(data_dir), "--data-tag", tag).output
    unknown = invoke("evaluate", "--data-dir", str(data_dir), "--data-tag", tag, "--recommender", "nope")
    assert unknown.exit_code != 0 and "Available recommenders" in unknown.output
    missing = invoke("evaluate", "--data-dir", str(data_dir), "--data-tag", "nope", "--recommender", "naive")
    assert missing.exit_code != 0 and "no dataset tag 'nope'" in missing.output and "small" in missing.output
    bad_option = invoke("evaluate", "--data-dir", str(data_dir), "--data-tag", tag, "--recommender", "naive",
                        "-o", "dampin=3")
    assert bad_option.exit_code != 0 and "dampin" in bad_option.output

"""What the commands print: no line that does not apply, no internal keys, one user count."""

from __future__ import annotations

import json
import re

from click.testing import CliRunner

from deepcart.cli import cli

ENV = {"DEEPCART_LOAD_PLUGINS": ""}


def invoke(*args):
    return CliRunner().invoke(cli, list(args), env=ENV)


def test_run_and_evaluate_count_the_same_test_users(synthetic_tag, tmp_path):
    data_dir, tag = synthetic_tag
    run = invoke("run", "--data-dir", str(data_dir), "--data-tag", tag, "--recommender", "naive", "--metric",
                 "pearson", "--models-dir", str(tmp_path), "-q")
    assert run.exit_code == 0, run.output
    assert "ranking metrics" not in run.output  # only a rating metric was asked for
    users = int(re.search(r"Test users of 'small': ([\d,]+)", run.output)[1].replace(",", ""))
    evaluated = invoke("evaluate", "--data-dir", str(data_dir), "--data-tag", tag, "--recommender", "naive",
                       "--metric", "pearson", "--json", "-q")
    assert json.loads(evaluated.output)["users"] == users
    ranked = invoke("run", "--data-dir", str(data_dir), "--data-tag", tag, "--recommender", "naive", "--metric",
                    "ndcg@10", "--models-dir", str(tmp_path), "-q")
    assert "ranking metrics over items with >= 20 train ratings" in ranked.output


def test_train_reports_validation_metrics_in_words(synthetic_tag, tmp_path):
    data_dir, tag = synthetic_tag
    result = invoke("train", "--data-dir", str(data_dir), "--data-tag", tag, "--recommender", "naive",
                    "--out", str(tmp_path / "m"))
    assert result.exit_code == 0, result.output
    line = next(line for line in result.output.splitlines() if line.startswith("Validation:"))
    assert re.match(r"Validation: rmse \d\.\d{4}, ndcg@10 best \d\.\d{4}, ndcg@10 worst \d\.\d{4}$", line), line

"""A typo in a recommender, an option or a metric fails at once, before any split or training, and
names the closest match."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from deepcart.cli import cli

ENV = {"DEEPCART_LOAD_PLUGINS": ""}


def invoke(*args):
    return CliRunner().invoke(cli, list(args), env=ENV)


@pytest.mark.parametrize("command", ["train", "evaluate"])
def test_a_misspelt_option_fails_before_the_split(synthetic_tag, tmp_path, command):
    data_dir, tag = synthetic_tag
    splits = data_dir / tag / "splits"
    before = sorted(p.name for p in splits.iterdir()) if splits.is_dir() else []
    extra = ["--out", str(tmp_path / "m")] if command == "train" else []
    result = invoke(command, "--data-dir", str(data_dir), "--data-tag", tag, "--recommender", "knn",
                    "-o", "neighbors=20", "--seed", "4242", *extra)  # a seed no split was made with
    assert result.exit_code != 0
    assert "no option 'neighbors'. Did you mean 'neighbours'?" in result.output
    assert "train :" not in result.output and "Training" not in result.output  # no split, no training
    assert (sorted(p.name for p in splits.iterdir()) if splits.is_dir() else []) == before


def test_a_misspelt_recommender_names_the_closest(synthetic_tag, tmp_path):
    data_dir, tag = synthetic_tag
    result = invoke("train", "--data-dir", str(data_dir), "--data-tag", tag, "--recommender", "knnn",
                    "--out", str(tmp_path / "m"))
    assert result.exit_code != 0 and "unknown recommender 'knnn'. Did you mean 'knn'?" in result.output
    assert "train :" not in result.output


def test_a_glued_metric_cut_off_is_pointed_out(synthetic_tag):
    data_dir, tag = synthetic_tag
    result = invoke("run", "--data-dir", str(data_dir), "--data-tag", tag, "--metric", "ndcg10")
    assert result.exit_code != 0 and "unknown metric 'ndcg10'. Did you mean 'ndcg@10'?" in result.output
    assert "Training" not in result.output and "train :" not in result.output
    bad = invoke("run", "--data-dir", str(data_dir), "--data-tag", tag, "-o", "knn.neighbors=5")
    assert bad.exit_code != 0 and "Did you mean 'neighbours'?" in bad.output and "Training" not in bad.output

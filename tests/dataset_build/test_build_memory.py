"""The final write (kept ratings joined with their texts, sorted by user and time) fits a small
``--memory-limit``: as one statement, the join feeding the sort ran out of memory (43.9M reviews at
the default 4 GB; 500,000 here at 160 MB), while joining first and sorting apart spills instead."""

from __future__ import annotations

import json

from click.testing import CliRunner

from deepcart.cli import cli


def test_half_a_million_reviews_with_every_text_build_in_144_mb(tmp_path):
    runner = CliRunner()
    env = {"DEEPCART_LOAD_PLUGINS": ""}
    made = runner.invoke(cli, ["synth", "--reviews", "500000", "--out", str(tmp_path / "src"), "-q"], env=env)
    assert made.exit_code == 0, made.output
    # no filters: every review's text goes through the join and the sort
    built = runner.invoke(cli, ["build", "--data-dir", str(tmp_path / "data"), "--tag", "half", "-q",
                                "--reviews-file", str(tmp_path / "src" / "Synthetic_Electronics.jsonl.gz"),
                                "--memory-limit", "144MB", "--threads", "2"], env=env)
    assert built.exit_code == 0, built.output
    manifest = json.loads((tmp_path / "data" / "half" / "manifest.json").read_text())
    assert manifest["counts"]["ratings"] > 490_000

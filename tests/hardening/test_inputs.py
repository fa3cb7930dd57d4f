"""Hostile or mistaken inputs at the command line: tag names, input paths that are no files."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from deepcart.cli import cli

ENV = {"DEEPCART_LOAD_PLUGINS": ""}


def build(data_dir: Path, *args: str):
    return CliRunner().invoke(cli, ["build", "--data-dir", str(data_dir), "-q", *args], env=ENV)


@pytest.mark.parametrize("tag", ["good\n", "good\nbad", "a b", "../up", ".hidden", "-dash", "x" * 101])
def test_tag_names_are_letters_digits_dots_dashes_underscores(tmp_path, tag):
    reviews = tmp_path / "r.csv"
    reviews.write_text("user_id,parent_asin,rating,timestamp\nU1,B1,5,1600000000000\n")
    result = build(tmp_path / "data", "--reviews-file", str(reviews), "--tag", tag)
    assert result.exit_code != 0 and "invalid dataset tag" in result.output
    assert not (tmp_path / "data").exists() or not any((tmp_path / "data").iterdir())


def test_a_directory_as_the_review_file_is_named_for_what_it_is(tmp_path):
    folder = tmp_path / "reviews"
    folder.mkdir()
    result = build(tmp_path / "data", "--reviews-file", str(folder))
    assert result.exit_code != 0 and "is a directory, not a regular file" in result.output
    assert "no such file" not in result.output


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes on this system")
def test_a_named_pipe_is_refused_at_once_not_read_forever(tmp_path):
    fifo = tmp_path / "reviews.jsonl"
    os.mkfifo(fifo)
    result = build(tmp_path / "data", "--reviews-file", str(fifo))  # would block on open if read
    assert result.exit_code != 0 and "is a named pipe (FIFO), not a regular file" in result.output

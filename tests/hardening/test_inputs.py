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


def test_no_loader_says_why_each_one_declined(tmp_path):
    other = tmp_path / "other.jsonl"
    other.write_text('{"a": 1}\n')
    result = build(tmp_path / "data", "--reviews-file", str(other))
    assert result.exit_code != 0
    assert "amazon2023: its first line is not a JSON object with user_id and parent_asin" in result.output
    assert "amazon2023-csv: reads .csv[.gz] files, not other.jsonl" in result.output
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    assert "amazon2023: the file is empty" in build(tmp_path / "data", "--reviews-file", str(empty)).output


@pytest.mark.parametrize("content", [b"", b"\x00\x01garbage\xff\n", b"not json at all\n"])
def test_skip_mode_on_a_file_with_nothing_usable_is_a_clear_error(tmp_path, content):
    path = tmp_path / "reviews.jsonl"
    path.write_bytes(content)
    result = build(tmp_path / "data", "--reviews-file", str(path), "--loader", "amazon2023",
                   "--on-bad-records", "skip")
    assert result.exit_code == 1 and str(path) in result.output, result.output
    assert ("no ratings were read from" in result.output  # empty: nothing to build
            or "this is not a JSON-lines file" in result.output)  # not JSON lines at all: refused as a file
    assert "Traceback" not in result.output and isinstance(result.exception, SystemExit)
    assert not (tmp_path / "data").exists() or not [p for p in (tmp_path / "data").iterdir()]

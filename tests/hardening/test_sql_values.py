"""No value a person types ever becomes SQL: settings are checked, paths are quoted."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from deepcart.cli import cli
from deepcart.toolkit.sql import memory_limit, sql_str

ENV = {"DEEPCART_LOAD_PLUGINS": ""}
CSV = "user_id,parent_asin,rating,timestamp\n" + "".join(
    f"U{u},B{i},{1 + (u * i) % 5},{1600000000000 + u * 1000 + i}\n" for u in range(12) for i in range(8))


def invoke(*args):
    return CliRunner().invoke(cli, list(args), env=ENV)


@pytest.mark.parametrize("hostile", [
    "1GB'; COPY (SELECT 42) TO '/tmp/deepcart-pwned.csv'; --",
    "1GB' ; SELECT 1 --", "lots", "4 GB GB", "-1GB",
])
def test_a_hostile_memory_limit_is_refused_before_anything_runs(tmp_path, hostile):
    reviews = tmp_path / "r.csv"
    reviews.write_text(CSV)
    pwned = Path("/tmp/deepcart-pwned.csv")
    pwned.unlink(missing_ok=True)
    result = invoke("build", "--data-dir", str(tmp_path / "data"), "--reviews-file", str(reviews),
                    "--memory-limit", hostile, "-q")
    assert result.exit_code != 0 and "--memory-limit" in result.output and "expected a number and a unit" in result.output
    assert not pwned.exists() and not (tmp_path / "data").exists()
    assert "Traceback" not in result.output


def test_memory_limits_people_write_are_accepted():
    for ok in ("4GB", "512 MB", "1.5GiB", "80%", "200mb"):
        assert memory_limit(ok) == ok


def test_sql_strings_double_their_quotes():
    assert sql_str("it's") == "'it''s'" and sql_str("a''b") == "'a''''b'"


def test_a_data_folder_with_a_quote_in_its_name_works_end_to_end(tmp_path):
    """Build, split, train, evaluate and picks all read and write under it's/ without a parser error."""
    data_dir = tmp_path / "it's data"
    reviews = tmp_path / "r.csv"
    reviews.write_text(CSV)
    built = invoke("build", "--data-dir", str(data_dir), "--reviews-file", str(reviews), "--tag", "q", "-q")
    assert built.exit_code == 0, built.output
    ran = invoke("run", "--data-dir", str(data_dir), "--data-tag", "q", "--recommender", "naive",
                 "--min-engagement", "0", "-q")
    assert ran.exit_code == 0, ran.output
    assert "Worst picks" in ran.output and "Traceback" not in ran.output

"""Shared fixtures: deepcart's own testing plugin, the real data slices, a small synthetic tag."""

from pathlib import Path

import pytest

pytest_plugins = ["deepcart.toolkit.testing"]

REPO = Path(__file__).resolve().parents[1]
REAL_DATA = REPO.parent / "shared" / "data" / "amazon-real"


@pytest.fixture
def loader_con(tmp_path):
    """A DuckDB connection set up the way the build sets it up, for driving loaders directly."""
    import duckdb

    db = duckdb.connect(str(tmp_path / "b.duckdb"))
    db.execute(f"SET memory_limit='2GB'; SET threads=2; SET preserve_insertion_order=false; "
               f"SET temp_directory='{tmp_path / 'duckdb_tmp'}'")
    yield db
    db.close()


@pytest.fixture
def real_data() -> Path:
    """The folder of real Amazon slices; tests using it skip with a reason when it is absent."""
    if not REAL_DATA.is_dir():
        pytest.skip(f"real data slices not found at {REAL_DATA}")
    return REAL_DATA


@pytest.fixture(scope="session")
def synthetic_tag(tmp_path_factory) -> tuple[Path, str]:
    """A data folder holding tag ``small``: 30,000 synthetic reviews, 5-core. Returns (data_dir, tag)."""
    from click.testing import CliRunner

    from deepcart.cli import cli

    root = tmp_path_factory.mktemp("synthetic")
    runner = CliRunner()
    result = runner.invoke(cli, ["synth", "--reviews", "30000", "--seed", "1", "--out", str(root / "src"), "-q"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(cli, ["build", "--data-dir", str(root / "data"), "--tag", "small", "-q", "--k-core", "5",
                                 "--reviews-file", str(root / "src" / "Synthetic_Electronics.jsonl.gz"),
                                 "--items-file", str(root / "src" / "meta_Synthetic_Electronics.jsonl.gz")],
                           env={"DEEPCART_LOAD_PLUGINS": ""})
    assert result.exit_code == 0, result.output
    return root / "data", "small"


@pytest.fixture(scope="session")
def naive_model(synthetic_tag, tmp_path_factory) -> Path:
    """A ``naive`` model folder trained on :func:`synthetic_tag`."""
    from click.testing import CliRunner

    from deepcart.cli import cli

    data_dir, tag = synthetic_tag
    model = tmp_path_factory.mktemp("naive") / "naive"
    trained = CliRunner().invoke(cli, ["train", "--data-dir", str(data_dir), "--data-tag", tag, "--recommender",
                                       "naive", "--out", str(model), "-q"], env={"DEEPCART_LOAD_PLUGINS": ""})
    assert trained.exit_code == 0, trained.output
    return model

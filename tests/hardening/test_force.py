"""``--force`` replaces only what deepcart wrote as that kind of thing: never your files, a data
folder, a models folder, a dataset tag in place of a model or a model in place of a tag."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from deepcart.cli import cli

ENV = {"DEEPCART_LOAD_PLUGINS": ""}
CSV = "user_id,parent_asin,rating,timestamp\n" + "".join(
    f"U{u},B{i},{1 + (u * i) % 5},{1600000000000 + u * 1000 + i}\n" for u in range(12) for i in range(8))


def invoke(*args):
    return CliRunner().invoke(cli, list(args), env=ENV)


@pytest.fixture
def data_dir(tmp_path) -> Path:
    """A data folder with the tag ``t`` and a model trained on it under ``models/knn``."""
    reviews = tmp_path / "r.csv"
    reviews.write_text(CSV)
    data = tmp_path / "data"
    assert invoke("build", "--data-dir", str(data), "--reviews-file", str(reviews), "--tag", "t", "-q").exit_code == 0
    trained = invoke("train", "--data-dir", str(data), "--data-tag", "t", "--recommender", "naive",
                     "--out", str(data / "models" / "knn"), "-q")
    assert trained.exit_code == 0, trained.output
    return data


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def train_into(data_dir: Path, out: Path):
    return invoke("train", "--data-dir", str(data_dir), "--data-tag", "t", "--recommender", "naive",
                  "--out", str(out), "--force", "-q")


def test_train_force_never_deletes_your_files(data_dir, tmp_path):
    mine = tmp_path / "thesis"
    mine.mkdir()
    (mine / "chapter1.tex").write_text("years of work")
    result = train_into(data_dir, mine)
    assert result.exit_code != 0 and "did not write as a model folder" in result.output
    assert (mine / "chapter1.tex").read_text() == "years of work"


@pytest.mark.parametrize("target, why", [("t", "is a dataset tag, not a model folder"),
                                         (".", "did not write as a model folder"),
                                         ("models", "did not write as a model folder")])
def test_train_force_never_replaces_a_tag_a_data_folder_or_a_models_folder(data_dir, target, why):
    before = snapshot(data_dir)
    result = train_into(data_dir, data_dir / target)
    assert result.exit_code != 0 and why in result.output, result.output
    assert snapshot(data_dir) == before


def test_build_force_never_replaces_the_models_folder_or_a_model(data_dir, tmp_path):
    reviews = tmp_path / "r.csv"
    before = snapshot(data_dir)
    for tag, why in (("models", "did not write as a dataset tag"), ):
        result = invoke("build", "--data-dir", str(data_dir), "--reviews-file", str(reviews), "--tag", tag,
                        "--force", "-q")
        assert result.exit_code != 0 and why in result.output, result.output
    assert snapshot(data_dir) == before


def test_force_still_replaces_what_it_should(data_dir, tmp_path):
    model = data_dir / "models" / "knn"
    assert train_into(data_dir, model).exit_code == 0  # a model over a model
    reviews = tmp_path / "r.csv"
    rebuilt = invoke("build", "--data-dir", str(data_dir), "--reviews-file", str(reviews), "--tag", "t",
                     "--force", "-q")
    assert rebuilt.exit_code == 0, rebuilt.output  # a tag over a tag
    empty = tmp_path / "empty"
    empty.mkdir()
    assert train_into(data_dir, empty).exit_code == 0  # an empty folder

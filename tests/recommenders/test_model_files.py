"""Model folders: atomic, versioned, tied to their dataset, and never executing code on load."""

from __future__ import annotations

import json
import pickle
import zipfile
from pathlib import Path

import numpy as np
import pytest

from deepcart.pipeline.model_store import ModelFileError, load_model, read_model_manifest, save_model

SENTINEL_NAME = "pwned-by-pickle"


class Payload:
    """Unpickling this creates a file: proof that code ran."""

    def __init__(self, target: Path):
        self.target = target

    def __reduce__(self):
        return (Path.touch, (self.target,))


@pytest.fixture
def naive_folder(deepcart_registry, toy_ratings, tmp_path) -> Path:
    model = deepcart_registry.create("recommender", "naive").fit(toy_ratings)
    return save_model(model, tmp_path / "model", recommender="naive", data_tag="toy", tag_sha256="a" * 64)


def test_round_trip_and_manifest(naive_folder, deepcart_registry, toy_ratings):
    model, manifest = load_model(naive_folder, deepcart_registry, tag_sha256="a" * 64)
    assert manifest["format_version"] == 1 and manifest["recommender"] == "naive"
    assert manifest["dataset"] == {"tag": "toy", "manifest_sha256": "a" * 64}
    assert np.load(naive_folder / "items.npy", allow_pickle=False).tolist() == list(toy_ratings.item_ids)
    assert np.isfinite(model.predict([toy_ratings.user_ids[0]])).all()


def test_existing_folder_needs_force(naive_folder, deepcart_registry, toy_ratings):
    model = deepcart_registry.create("recommender", "naive").fit(toy_ratings)
    with pytest.raises(ModelFileError, match="--force"):
        save_model(model, naive_folder, recommender="naive", data_tag="toy", tag_sha256=None)
    save_model(model, naive_folder, recommender="naive", data_tag="toy2", tag_sha256=None, force=True)
    assert read_model_manifest(naive_folder)["dataset"]["tag"] == "toy2"
    assert [p.name for p in naive_folder.parent.iterdir()] == [naive_folder.name]  # no temp folders left


def test_failed_save_leaves_nothing(deepcart_registry, toy_ratings, tmp_path):
    model = deepcart_registry.create("recommender", "naive").fit(toy_ratings)
    model.save = lambda folder: (_ for _ in ()).throw(OSError("disk full"))
    with pytest.raises(OSError):
        save_model(model, tmp_path / "m", recommender="naive", data_tag="toy", tag_sha256=None)
    assert list(tmp_path.iterdir()) == []


def test_other_dataset_is_refused(naive_folder, deepcart_registry):
    with pytest.raises(ModelFileError, match="was trained on dataset 'toy'"):
        load_model(naive_folder, deepcart_registry, tag_sha256="b" * 64)


def test_unknown_format_version(naive_folder, deepcart_registry):
    manifest = json.loads((naive_folder / "manifest.json").read_text())
    manifest["format_version"] = 99
    (naive_folder / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ModelFileError, match="unknown model format version 99"):
        load_model(naive_folder, deepcart_registry)


def test_truncated_weights(naive_folder, deepcart_registry):
    weights = naive_folder / "weights" / "weights.npz"
    weights.write_bytes(weights.read_bytes()[:100])
    with pytest.raises(ModelFileError, match="cannot load model"):
        load_model(naive_folder, deepcart_registry)


def test_not_a_model_folder(tmp_path, deepcart_registry):
    with pytest.raises(ModelFileError, match="not a deepcart model folder"):
        load_model(tmp_path, deepcart_registry)


def test_npz_pickle_payload_is_refused_and_never_runs(naive_folder, deepcart_registry, tmp_path):
    sentinel = tmp_path / SENTINEL_NAME
    weights = naive_folder / "weights" / "weights.npz"
    with np.load(weights, allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    arrays["scores"] = np.array([Payload(sentinel)], dtype=object)
    # Write the object array the way an attacker would: np.savez pickles object arrays.
    np.savez(weights, **arrays)
    assert b"pwned-by-pickle" in zipfile.ZipFile(weights).read("scores.npy")
    with pytest.raises(ModelFileError, match="cannot load model"):
        load_model(naive_folder, deepcart_registry)
    assert not sentinel.exists()


def test_torch_pickle_payload_is_refused_and_never_runs(tmp_path):
    """Any torch weights file deepcart reads goes through weights_only=True."""
    import torch

    sentinel = tmp_path / SENTINEL_NAME
    path = tmp_path / "state.pt"
    torch.save({"weight": torch.zeros(2), "evil": Payload(sentinel)}, path)
    with pytest.raises(pickle.UnpicklingError):
        torch.load(path, weights_only=True)
    assert not sentinel.exists()

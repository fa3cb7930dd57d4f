"""A model folder may come from anyone: every recommender's load refuses a hostile one, clearly.

The corpus is made here, from a real model of each recommender (nothing binary is committed):
out-of-range and negative sparse indices (they used to crash the process), a ``config.json``
that is a link to ``/dev/zero`` (unbounded read), a named pipe instead of ``items.npy`` (a read
that never returns), a link out of the folder, truncated and pickled files, a manifest that does
not name the dataset build.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from deepcart.pipeline.model_store import ModelFileError, load_model, save_model
from deepcart.toolkit.testing import make_toy_ratings

FAST = {"autoencoder": {"epochs": "2"}, "vae": {"epochs": "2"}}
TAG_SHA = "f" * 64


@pytest.fixture(scope="module")
def models(tmp_path_factory, deepcart_registry_module):
    """One saved model folder per installed recommender."""
    registry = deepcart_registry_module
    toy = make_toy_ratings()
    root = tmp_path_factory.mktemp("models")
    out = {}
    for name in registry.names("recommender"):
        model = registry.create("recommender", name, FAST.get(name, {})).fit(toy, seed=0)
        out[name] = save_model(model, root / name, recommender=name, data_tag="toy", tag_sha256=TAG_SHA)
    return out


@pytest.fixture(scope="module")
def deepcart_registry_module():
    from deepcart.plugin_manager import load_plugins

    return load_plugins(strict=False, only=None).registry


def copy(folder: Path, tmp_path: Path) -> Path:
    target = tmp_path / folder.name
    shutil.copytree(folder, target)
    return target


def refuse(folder: Path, registry, match: str) -> None:
    with pytest.raises(ModelFileError, match=match) as caught:
        load_model(folder, registry, tag_sha256=TAG_SHA)
    assert str(folder) in caught.value.message


def weight_files(folder: Path) -> list[Path]:
    return sorted(p for p in (folder / "weights").iterdir() if p.suffix == ".npz")


def rewrite_npz(path: Path, change) -> bool:
    """Apply ``change(arrays)`` to an .npz (returns whether anything changed)."""
    with np.load(path, allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    if not change(arrays):
        return False
    np.savez(path, **arrays)
    return True


@pytest.mark.parametrize("bad", ["negative", "too large"])
def test_crafted_sparse_indices_are_refused_not_followed(models, deepcart_registry_module, tmp_path, bad):
    checked = 0
    for name, original in models.items():
        folder = copy(original, tmp_path / name)

        def poison(arrays):
            keys = [k for k in arrays if k.endswith("indices") and arrays[k].size]
            for key in keys:
                arrays[key] = arrays[key].copy()
                arrays[key][0] = -5 if bad == "negative" else 10**6
            return bool(keys)

        if not any(rewrite_npz(p, poison) for p in weight_files(folder)):
            continue  # this model stores no sparse matrix
        refuse(folder, deepcart_registry_module, "index|indices|outside|range")
        checked += 1
    assert checked >= 4  # knn, the neural models, naive/popularity engagement, random


def test_a_config_linked_to_an_endless_file_is_refused(models, deepcart_registry_module, tmp_path):
    for name, original in models.items():
        folder = copy(original, tmp_path / name)
        config = folder / "weights" / "config.json"
        config.unlink()
        config.symlink_to("/dev/zero")
        refuse(folder, deepcart_registry_module, "not a regular file")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes here")
def test_a_named_pipe_is_refused_without_waiting(models, deepcart_registry_module, tmp_path):
    folder = copy(models["knn"], tmp_path)
    (folder / "items.npy").unlink()
    os.mkfifo(folder / "items.npy")
    refuse(folder, deepcart_registry_module, "not a regular file")
    folder = copy(models["naive"], tmp_path / "manifest")
    (folder / "manifest.json").unlink()
    os.mkfifo(folder / "manifest.json")
    refuse(folder, deepcart_registry_module, "not a regular file")


def test_a_link_out_of_the_folder_is_refused(models, deepcart_registry_module, tmp_path):
    outside = tmp_path / "elsewhere.npz"
    folder = copy(models["knn"], tmp_path / "m")
    weights = weight_files(folder)[0]
    shutil.copy(weights, outside)
    weights.unlink()
    weights.symlink_to(outside)
    refuse(folder, deepcart_registry_module, "links outside the model folder")


def test_an_oversized_or_garbled_manifest_is_refused(models, deepcart_registry_module, tmp_path):
    folder = copy(models["naive"], tmp_path / "big")
    (folder / "manifest.json").write_text(json.dumps({"pad": "x" * (2 << 20)}))
    refuse(folder, deepcart_registry_module, "larger than")
    folder = copy(models["naive"], tmp_path / "list")
    (folder / "manifest.json").write_text("[1, 2]")
    refuse(folder, deepcart_registry_module, "not a JSON object")


def test_truncated_and_pickled_weights_are_refused(models, deepcart_registry_module, tmp_path):
    for name, original in models.items():
        folder = copy(original, tmp_path / name)
        for path in sorted((folder / "weights").iterdir()):
            if path.suffix in (".npz", ".pt"):
                path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2])
        refuse(folder, deepcart_registry_module, "cannot load model")
    folder = copy(models["naive"], tmp_path / "pickled")
    np.savez(weight_files(folder)[0], items=np.array([{"evil": 1}], dtype=object))
    refuse(folder, deepcart_registry_module, "cannot load model")


def test_a_model_that_does_not_name_its_dataset_build_needs_an_explicit_override(models, deepcart_registry_module,
                                                                                  tmp_path):
    folder = copy(models["naive"], tmp_path / "anonymous")
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["dataset"].pop("manifest_sha256")
    (folder / "manifest.json").write_text(json.dumps(manifest))
    refuse(folder, deepcart_registry_module, "does not say which dataset build")
    model, _ = load_model(folder, deepcart_registry_module, tag_sha256=TAG_SHA, any_build=True)
    assert len(model.item_ids)
    with pytest.raises(ModelFileError, match="not on this one"):
        load_model(models["naive"], deepcart_registry_module, tag_sha256="0" * 64)

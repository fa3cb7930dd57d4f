"""Model folders: a fitted recommender as plain data, written atomically, loaded without running code.

A model folder holds ``manifest.json`` (format version, recommender name and config, the dataset tag
and the SHA-256 of its manifest, deepcart version, validation metrics), ``items.npy`` (the item
index, a fixed-width unicode array) and ``weights/`` (whatever the recommender's ``save`` wrote:
JSON, ``.npz`` loaded with ``allow_pickle=False`` or torch state dicts loaded with
``weights_only=True``). No pickle is ever executed: numpy refuses object arrays and torch's
weights-only loader refuses anything but tensors and plain containers.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from deepcart import __version__
from deepcart.errors import DeepcartError
from deepcart.pipeline.tags import atomic_folder, check_replaceable
from deepcart.toolkit import json_text
from deepcart.toolkit.model_files import model_file, read_json_file

MODEL_FORMAT = 1
MANIFEST = "manifest.json"
ITEMS = "items.npy"
WEIGHTS = "weights"


class ModelFileError(DeepcartError):
    """A model folder that cannot be loaded safely or does not fit the data."""


def tag_manifest_sha256(tag_dir: Path) -> str:
    """The fingerprint that ties a model to the exact dataset build it was trained on."""
    return hashlib.sha256((Path(tag_dir) / "manifest.json").read_bytes()).hexdigest()


def save_model(model, folder: Path, *, recommender: str, data_tag: str | None, tag_sha256: str | None,
               metrics: dict[str, Any] | None = None, force: bool = False, extra: dict[str, Any] | None = None) -> Path:
    """Write ``model`` into ``folder`` atomically; refuse to replace an existing folder unless ``force``."""
    folder = Path(folder)
    if folder.exists() and not force:
        raise ModelFileError(f"{folder} already exists; use --force to replace it")
    check_replaceable(folder, "model folder")  # never a dataset tag, a data folder or files of your own
    with atomic_folder(folder, prefix=f".{folder.name}-") as work:
        model.save(work / WEIGHTS)
        np.save(work / ITEMS, np.asarray(model.item_ids).astype(str), allow_pickle=False)
        config = model.config.model_dump(mode="json") if hasattr(model, "config") else {}
        manifest = {
            "format_version": MODEL_FORMAT,
            "recommender": recommender,
            "config": config,
            "dataset": {"tag": data_tag, "manifest_sha256": tag_sha256},
            "n_items": int(len(model.item_ids)),
            "deepcart_version": __version__,
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "metrics": metrics or {},
            **(extra or {}),
        }
        (work / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    return folder


def read_model_manifest(folder: Path) -> dict[str, Any]:
    """The manifest of a model folder, checked for format version and required fields."""
    path = Path(folder) / MANIFEST
    if not os.path.lexists(path):
        raise ModelFileError(f"{folder} is not a deepcart model folder (no {MANIFEST}); train one with `deepcart train`")
    try:
        manifest = json_text.loads(read_json_file(folder, MANIFEST))
    except ValueError as exc:  # not a regular file, too large, not JSON
        raise ModelFileError(f"{path}: {exc}") from None
    if not isinstance(manifest, dict):
        raise ModelFileError(f"{path} is not a JSON object")
    version = manifest.get("format_version")
    if version != MODEL_FORMAT:
        raise ModelFileError(
            f"{path}: unknown model format version {version!r} (this deepcart reads version {MODEL_FORMAT})"
        )
    for key in ("recommender", "dataset"):
        if key not in manifest:
            raise ModelFileError(f"{path}: missing field {key!r}")
    return manifest


def load_model(folder: Path, registry, *, tag_sha256: str | None = None, any_build: bool = False):
    """Load a model folder; check it matches the dataset whose manifest hash is ``tag_sha256``.

    A model that does not say which build it was trained on, or names another, is refused unless
    ``any_build`` (the commands' ``--any-build``): its item columns may mean other products.

    :returns: ``(model, manifest)``.
    :raises ModelFileError: wrong or unknown format, another dataset, a truncated or unsafe file.
    """
    folder = Path(folder)
    manifest = read_model_manifest(folder)
    dataset = manifest["dataset"] if isinstance(manifest["dataset"], dict) else {}
    trained_on = dataset.get("manifest_sha256")
    if tag_sha256 is not None and not any_build and trained_on != tag_sha256:
        if not trained_on:
            raise ModelFileError(f"model {folder} does not say which dataset build it was trained on, so it "
                                 "cannot be checked against this one; pass --any-build to use it anyway")
        raise ModelFileError(
            f"model {folder} was trained on dataset {dataset.get('tag')!r} "
            f"(build {str(trained_on)[:12]}), not on this one (build {tag_sha256[:12]}); "
            "train a model for this dataset with `deepcart train` (or pass --any-build)"
        )
    cls = registry.get("recommender", manifest["recommender"]).obj
    try:
        items = np.load(model_file(folder, ITEMS), allow_pickle=False)
        model = cls.load(folder / WEIGHTS)
    except ModelFileError:
        raise
    except Exception as exc:  # truncated zip, pickle refused, missing file, ...
        raise ModelFileError(f"cannot load model {folder}: {type(exc).__name__}: {exc}") from None
    if list(np.asarray(model.item_ids).astype(str)) != list(items.astype(str)):
        raise ModelFileError(f"model {folder}: weights and item index disagree (a partial copy?)")
    return model, manifest

"""Model folders as plain data: ``config.json`` + ``weights.npz`` with a format version.

Every recommender that stores numpy arrays saves and loads through these two functions, so a model
folder never holds code (``np.load(..., allow_pickle=False)``), always says which layout wrote it
(``format_version``, checked on load with a clear error naming the folder) and is written the same
way by every model::

    save_model_files(folder, self.config, {"items": ..., "scores": ...}, kind="naive", format_version=1)
    config, arrays = load_model_files(folder, NaiveConfig, kind="naive", format_version=1)

Files without a ``format_version`` entry (written before it existed) count as version 1.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "weights.npz"


def save_model_files(folder: Path, config: Any, arrays: dict[str, np.ndarray], *, kind: str,
                     format_version: int) -> None:
    """Write ``config`` (a pydantic model) as ``config.json`` and ``arrays`` as ``weights.npz``.

    :param kind: the recommender's name (for messages).
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    if "format_version" in arrays:
        raise ValueError(f"{kind}: 'format_version' is a reserved name in {WEIGHTS_FILE}")
    np.savez(folder / WEIGHTS_FILE, format_version=np.array(format_version),
             **{name: np.asarray(value) for name, value in arrays.items()})
    (folder / CONFIG_FILE).write_text(config.model_dump_json())


def load_model_files(folder: Path, config_class: type, *, kind: str,
                     format_version: int) -> tuple[Any, dict[str, np.ndarray]]:
    """Read a folder written by :func:`save_model_files`: the validated config and every array.

    :raises ValueError: the folder holds another format version than ``format_version``.
    """
    folder = Path(folder)
    config = config_class.model_validate_json((folder / CONFIG_FILE).read_text())
    with np.load(folder / WEIGHTS_FILE, allow_pickle=False) as data:
        arrays = {name: data[name] for name in data.files}
    version = int(arrays.pop("format_version", 1))
    if version != format_version:
        raise ValueError(f"{folder}: {kind} model format {version} (this version reads {format_version})")
    return config, arrays


def csr_arrays(name: str, matrix) -> dict[str, np.ndarray]:
    """A scipy CSR matrix as three plain arrays ``{name}_indptr/_indices/_data`` for ``weights.npz``."""
    return {f"{name}_indptr": matrix.indptr, f"{name}_indices": matrix.indices, f"{name}_data": matrix.data}


def csr_from_arrays(arrays: dict[str, np.ndarray], name: str, shape: tuple[int, int]):
    """The CSR matrix that :func:`csr_arrays` stored under ``name``."""
    import scipy.sparse as sp

    return sp.csr_matrix((arrays[f"{name}_data"], arrays[f"{name}_indices"], arrays[f"{name}_indptr"]),
                         shape=shape)

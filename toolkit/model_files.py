"""Model folders as plain data: ``config.json`` + ``weights.npz`` with a format version.

Every recommender that stores numpy arrays saves and loads through these two functions, so a model
folder never holds code (``np.load(..., allow_pickle=False)``), always says which layout wrote it
(``format_version``, checked on load with a clear error naming the folder) and is written the same
way by every model::

    save_model_files(folder, self.config, {"items": ..., "scores": ...}, kind="naive", format_version=1)
    config, arrays = load_model_files(folder, NaiveConfig, kind="naive", format_version=1)

Files without a ``format_version`` entry (written before it existed) count as version 1.

**A model folder may come from anyone**, so reading one never trusts it: :func:`model_file` admits
only regular files inside the folder (no symbolic link out of it, no named pipe that would block,
no device), :func:`read_json_file` caps what it reads, and :func:`csr_from_arrays` checks a sparse
matrix's shape, index ranges and order before scipy (or a product over it) touches the memory it
points to: a crafted index used to crash the process.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "weights.npz"
#: Largest JSON file of a model folder that is read (a config or a manifest is a few kB).
MAX_JSON_BYTES = 1 << 20


def model_file(folder: Path, name: str) -> Path:
    """``folder / name`` if it is a regular file inside ``folder``; ``ValueError`` naming what it is else."""
    import os
    import stat

    folder = Path(folder)
    path = folder / name
    try:
        mode = os.stat(path).st_mode  # follows links: what would be read
    except FileNotFoundError:
        raise ValueError(f"{path} is missing") from None
    except OSError as exc:
        raise ValueError(f"{path} cannot be read ({exc.strerror})") from None
    if not stat.S_ISREG(mode):
        raise ValueError(f"{path} is not a regular file (a folder, a named pipe or a device): refused")
    real, inside = os.path.realpath(path), os.path.realpath(folder)
    if os.path.commonpath([real, inside]) != inside:
        raise ValueError(f"{path} links outside the model folder (to {real}): refused")
    return path


def read_json_file(folder: Path, name: str, limit: int = MAX_JSON_BYTES) -> str:
    """The text of a small JSON file of a model folder, at most ``limit`` bytes (else ``ValueError``)."""
    path = model_file(folder, name)
    with open(path, "rb") as fh:
        data = fh.read(limit + 1)
    if len(data) > limit:
        raise ValueError(f"{path} is larger than {limit:,} bytes: not a model's JSON file")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError(f"{path} is not UTF-8 text") from None


def load_npz(folder: Path, name: str) -> dict[str, np.ndarray]:
    """Every array of an ``.npz`` file of a model folder, read without pickle."""
    with np.load(model_file(folder, name), allow_pickle=False) as data:
        return {key: data[key] for key in data.files}


def save_model_files(folder: Path, config: Any, arrays: dict[str, np.ndarray], *, kind: str,
                     format_version: int, weights: str = WEIGHTS_FILE) -> None:
    """Write ``config`` (a pydantic model) as ``config.json`` and ``arrays`` as ``weights.npz``.

    :param kind: the recommender's name (for messages).
    :param weights: the arrays' file name (the torch models keep their ``data.npz``).
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    if "format_version" in arrays:
        raise ValueError(f"{kind}: 'format_version' is a reserved name in {weights}")
    np.savez(folder / weights, format_version=np.array(format_version),
             **{name: np.asarray(value) for name, value in arrays.items()})
    (folder / CONFIG_FILE).write_text(config.model_dump_json())


def load_model_files(folder: Path, config_class: type, *, kind: str, format_version: int,
                     weights: str = WEIGHTS_FILE) -> tuple[Any, dict[str, np.ndarray]]:
    """Read a folder written by :func:`save_model_files`: the validated config and every array.

    :raises ValueError: the folder holds another format version than ``format_version``.
    """
    folder = Path(folder)
    config = config_class.model_validate_json(read_json_file(folder, CONFIG_FILE))
    arrays = load_npz(folder, weights)
    version = int(arrays.pop("format_version", 1))
    if version != format_version:
        raise ValueError(f"{folder}: {kind} model format {version} (this version reads {format_version}); "
                         "train it again")
    return config, arrays


def csr_arrays(name: str, matrix) -> dict[str, np.ndarray]:
    """A scipy CSR matrix as three plain arrays ``{name}_indptr/_indices/_data`` for ``weights.npz``."""
    return {f"{name}_indptr": matrix.indptr, f"{name}_indices": matrix.indices, f"{name}_data": matrix.data}


def csr_from_arrays(arrays: dict[str, np.ndarray], name: str, shape: tuple[int, int]):
    """The CSR matrix that :func:`csr_arrays` stored under ``name``, checked (``ValueError`` else)."""
    return checked_csr(arrays.get(f"{name}_data"), arrays.get(f"{name}_indices"), arrays.get(f"{name}_indptr"),
                       shape, what=name)


def checked_csr(data, indices, indptr, shape: tuple[int, int], *, what: str):
    """A CSR matrix from stored arrays, after checking everything scipy would trust.

    ``indptr`` has ``rows + 1`` non-decreasing integers from 0 to ``len(indices)``; ``indices`` are
    integers in ``[0, columns)``; ``data`` is numeric, finite and as long as ``indices``.
    """
    import scipy.sparse as sp

    rows, columns = shape
    arrays = {"data": data, "indices": indices, "indptr": indptr}
    for key, value in arrays.items():
        if not isinstance(value, np.ndarray) or value.ndim != 1:
            raise ValueError(f"{what}: {key} must be a 1-d array")
    if not (np.issubdtype(indptr.dtype, np.integer) and np.issubdtype(indices.dtype, np.integer)
            and np.issubdtype(data.dtype, np.number)):
        raise ValueError(f"{what}: indptr and indices must be integers, data numbers")
    if len(indptr) != rows + 1 or len(data) != len(indices):
        raise ValueError(f"{what}: {len(indptr)} row pointers for {rows} rows, {len(data)} values for "
                         f"{len(indices)} indices")
    if len(indptr) and (indptr[0] != 0 or indptr[-1] != len(indices) or np.any(np.diff(indptr) < 0)):
        raise ValueError(f"{what}: the row pointers do not describe the indices")
    if len(indices) and (indices.min() < 0 or indices.max() >= columns):
        raise ValueError(f"{what}: a column index is outside [0, {columns})")
    if not np.all(np.isfinite(data)):
        raise ValueError(f"{what}: a value is not finite")
    return sp.csr_matrix((data, indices, indptr), shape=shape)

"""Dataset tags on disk: where they live, what their names may be, and how to read them.

A tag is a folder ``<data dir>/<tag>/`` holding ``interactions.parquet``, ``items.parquet``,
``manifest.json`` and, when a build skipped bad lines, ``rejects.jsonl``. Tags are only ever created
by renaming a finished temporary folder, so a tag that exists is complete.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from deepcart.errors import DeepcartError

DATA_ENV = "DEEPCART_DATA"
#: Bumped whenever the layout or the columns of a tag change incompatibly.
SCHEMA_VERSION = 1
TAG_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")

INTERACTIONS = "interactions.parquet"
ITEMS = "items.parquet"
MANIFEST = "manifest.json"
REJECTS = "rejects.jsonl"


def default_data_dir() -> Path:
    """``$DEEPCART_DATA``, else ``$XDG_DATA_HOME/deepcart``, else ``~/.local/share/deepcart``."""
    if os.environ.get(DATA_ENV):
        return Path(os.environ[DATA_ENV]).expanduser()
    xdg = os.environ.get("XDG_DATA_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".local" / "share"
    return base / "deepcart"


def validate_tag(tag: str) -> str:
    """Return ``tag`` if it is a safe folder name (``[A-Za-z0-9._-]``, no ``..``), else raise."""
    if not TAG_PATTERN.fullmatch(tag or "") or ".." in tag:  # fullmatch: no trailing newline either
        raise DeepcartError(
            f"invalid dataset tag {tag!r}: use letters, digits, '.', '_' and '-' "
            "(starting with a letter or digit, no '..', at most 100 characters)"
        )
    return tag


def tag_path(tag: str, data_dir: Path | None = None) -> Path:
    """The folder of ``tag`` (validated) under ``data_dir`` (default: :func:`default_data_dir`)."""
    return (data_dir or default_data_dir()) / validate_tag(tag)


def read_manifest(tag: str, data_dir: Path | None = None) -> dict[str, Any]:
    """The manifest of an existing tag; a clear error if the tag does not exist."""
    folder = tag_path(tag, data_dir)
    path = folder / MANIFEST
    if not path.is_file():
        root = folder.parent
        known = sorted(p.name for p in root.iterdir() if (p / MANIFEST).is_file()) if root.is_dir() else []
        raise DeepcartError(
            f"no dataset tag {tag!r} in {root}. Known tags: {', '.join(known) or 'none'}. "
            "Build one with `deepcart build`."
        )
    return json.loads(path.read_text())


def existing_tag_path(tag: str, data_dir: Path | None = None) -> Path:
    """The folder of an existing tag; a clear error listing the known tags otherwise."""
    read_manifest(tag, data_dir)
    return tag_path(tag, data_dir)


@contextmanager
def atomic_folder(target: Path, *, prefix: str) -> Iterator[Path]:
    """Write a folder that appears at ``target`` complete or not at all.

    Yields a fresh work folder beside ``target`` (same file system, so the final rename is atomic).
    When the block finishes, the work folder is renamed to ``target``; an existing ``target`` is
    moved aside first and removed only once the new one is in place. When the block raises
    (including Ctrl-C), the work folder is removed and ``target`` is untouched. Dataset tags,
    splits and model folders are all published this way.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=prefix, dir=target.parent))
    try:
        yield work
        publish_folder(work, target)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise


def publish_folder(work: Path, target: Path) -> None:
    """Rename the finished ``work`` folder to ``target``; an old ``target`` goes only once the new is there."""
    if target.exists():
        old = target.with_name(f".old-{target.name}-{os.getpid()}")
        os.replace(target, old)
        os.replace(work, target)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(work, target)

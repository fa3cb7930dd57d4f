"""Dataset tags on disk: where they live, what their names may be, and how to read them.

A tag is a folder ``<data dir>/<tag>/`` holding ``interactions.parquet``, ``items.parquet``,
``manifest.json`` and, when a build skipped bad lines, ``rejects.jsonl``. Tags are only ever created
by renaming a finished temporary folder, so a tag that exists is complete.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from deepcart.errors import DeepcartError
from deepcart.toolkit import json_text

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


#: What a folder's manifest.json says it is: the keys that deepcart writes for each kind of folder.
KIND_KEYS = {"dataset tag": ("tag", "schema_version"), "model folder": ("format_version", "recommender")}


def what_folder_is(folder: Path) -> str | None:
    """``"dataset tag"`` or ``"model folder"`` when deepcart wrote ``folder`` as one, else None."""
    path = Path(folder) / MANIFEST
    if path.is_symlink() or not path.is_file() or path.stat().st_size > (1 << 20):
        return None
    try:
        manifest = json_text.loads(path.read_text())
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(manifest, dict):
        return None
    return next((kind for kind, keys in KIND_KEYS.items() if all(k in manifest for k in keys)), None)


def check_replaceable(target: Path, kind: str) -> None:
    """Refuse ``--force`` over anything but a ``kind`` (``dataset tag``/``model folder``) deepcart wrote.

    An empty folder or a missing one is fine. Never replaced: a file, a link, a folder that holds
    anything else (a data folder, a models folder, a person's files), or the other kind.
    """
    target = Path(target)
    if not os.path.lexists(target):
        return
    if target.is_symlink() or not target.is_dir():
        raise DeepcartError(f"{target} is not a folder deepcart wrote (a file or a link): refusing to replace it")
    found = what_folder_is(target)
    if found == kind or (found is None and not any(target.iterdir())):
        return
    if found is not None:
        raise DeepcartError(f"{target} is a {found}, not a {kind}: --force does not replace it")
    raise DeepcartError(f"{target} holds files deepcart did not write as a {kind} (a data folder, a models "
                        f"folder or files of your own?): --force replaces only a {kind}; choose another name")


def tag_path(tag: str, data_dir: Path | None = None) -> Path:
    """The folder of ``tag`` (validated) under ``data_dir`` (default: :func:`default_data_dir`)."""
    return (data_dir or default_data_dir()) / validate_tag(tag)


def read_manifest(tag: str, data_dir: Path | None = None) -> dict[str, Any]:
    """The manifest of an existing tag; a clear error if the tag does not exist."""
    folder = tag_path(tag, data_dir)
    path = folder / MANIFEST
    if not path.is_file():
        root = folder.parent
        known = sorted(p.name for p in root.iterdir()
                       if TAG_PATTERN.fullmatch(p.name) and (p / MANIFEST).is_file()) if root.is_dir() else []
        raise DeepcartError(
            f"no dataset tag {tag!r} in {root}. Known tags: {', '.join(known) or 'none'}. "
            "Build one with `deepcart build`."
        )
    try:
        manifest = json_text.loads(path.read_bytes())
    except ValueError as exc:  # UnicodeDecodeError included
        raise DeepcartError(f"{path} is damaged ({exc}); remove {folder} and build the tag again") from None
    if not isinstance(manifest, dict):
        raise DeepcartError(f"{path} is damaged (not a JSON object); remove {folder} and build the tag again")
    return manifest


def existing_tag_path(tag: str, data_dir: Path | None = None) -> Path:
    """The folder of an existing tag (a replace a killed build left half-done is put right first);
    a clear error listing the known tags otherwise."""
    recover(tag_path(tag, data_dir))
    read_manifest(tag, data_dir)
    return tag_path(tag, data_dir)


@contextmanager
def atomic_folder(target: Path, *, prefix: str) -> Iterator[Path]:
    """Write a folder that appears at ``target`` complete or not at all.

    Yields a fresh work folder beside ``target`` (same file system, so the final rename is atomic).
    When the block finishes, the work folder is renamed to ``target``; an existing ``target`` is
    moved aside first and removed only once the new one is in place (:func:`publish_folder`). When
    the block raises (Ctrl-C, or SIGTERM, which is turned into the same), the work folder is removed
    and ``target`` is untouched. A process killed outright (SIGKILL) cannot clean up: its work
    folders and a half-done replace are put right by the next command (:func:`recover`). Dataset
    tags, splits and model folders are all published this way.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    recover(target, prefix=prefix)
    work = Path(tempfile.mkdtemp(prefix=f"{prefix}pid{os.getpid()}-", dir=target.parent))
    try:
        with _terminate_as_interrupt():
            yield work
            publish_folder(work, target)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise


def publish_folder(work: Path, target: Path) -> None:
    """Rename the finished ``work`` folder to ``target``; an old ``target`` goes only once the new is there.

    Between the two renames no folder is at ``target``: if the process dies right there, the old
    one waits beside it as ``.old-<name>-pid<pid>`` and :func:`recover` puts it back.
    """
    if target.exists():
        old = target.with_name(f".old-{target.name}-pid{os.getpid()}")
        os.replace(target, old)
        os.replace(work, target)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(work, target)


def recover(target: Path, *, prefix: str | None = None) -> None:
    """Put right what a killed process left beside ``target``.

    A half-done replace (``target`` missing, ``.old-<name>-pid<N>`` there, process ``N`` gone) gets
    its old folder back; such a folder left after a finished replace is removed; and with
    ``prefix``, work folders of dead processes (``<prefix>pid<N>-...``) are removed. Folders of a
    process that is still running are never touched.
    """
    target = Path(target)
    parent = target.parent
    if not parent.is_dir():
        return
    olds = sorted((p for p in parent.glob(f".old-{target.name}-pid*") if not _alive(_pid_of(p.name))),
                  key=lambda p: p.stat().st_mtime)
    if olds and not os.path.lexists(target):
        os.replace(olds.pop(), target)
    for old in olds:
        shutil.rmtree(old, ignore_errors=True)
    if prefix:
        for work in parent.glob(f"{prefix}pid*"):
            if work.is_dir() and not _alive(_pid_of(work.name[len(prefix):])):
                shutil.rmtree(work, ignore_errors=True)


def _pid_of(name: str) -> int | None:
    """The pid in ``...pid<N>...`` (None if there is none)."""
    match = re.search(r"pid(\d+)", name)
    return int(match[1]) if match else None


def _alive(pid: int | None) -> bool:
    """Whether process ``pid`` still runs (an unknown pid counts as alive: never touch its folder)."""
    if pid is None:
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@contextmanager
def tag_lock(target: Path) -> Iterator[None]:
    """Hold the lock of the tag folder ``target`` (``.lock-<tag>`` beside it) while building it.

    A second build of the same tag, in this process or another, fails at once naming the tag and
    the pid that holds it, instead of both running and the later silently replacing the earlier.
    The lock is the operating system's (``flock``): a killed holder releases it by dying.
    """
    import fcntl

    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    path = target.with_name(f".lock-{target.name}")
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise DeepcartError(f"dataset tag {target.name!r} is being built by another deepcart (pid {holder}); "
                                "wait for it to finish, or build another tag") from None
        try:  # the previous holder may have removed the file between our open and our lock: retry
            if os.fstat(fd).st_ino == os.stat(path).st_ino:
                break
        except FileNotFoundError:
            pass
        os.close(fd)
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        yield
    finally:
        with suppress(FileNotFoundError):  # the data folder was removed meanwhile
            os.unlink(path)  # while still holding it, so no one locks a file that is going away
        os.close(fd)


@contextmanager
def _terminate_as_interrupt() -> Iterator[None]:
    """While a folder is written, SIGTERM (``kill``, a stopping container) raises KeyboardInterrupt,
    so the same clean-up as Ctrl-C runs instead of the process vanishing mid-write."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    terminated = []

    def on_term(signum, frame):
        terminated.append(signum)
        raise KeyboardInterrupt("terminated (SIGTERM)")

    previous = signal.signal(signal.SIGTERM, on_term)
    try:
        yield
    except Exception as exc:
        # Raised inside a DuckDB query, the KeyboardInterrupt comes out as another error
        # ("RuntimeError: Query interrupted"): it is still the SIGTERM, and ends like one.
        if terminated:
            raise KeyboardInterrupt("terminated (SIGTERM)") from exc
        raise
    finally:
        signal.signal(signal.SIGTERM, previous)
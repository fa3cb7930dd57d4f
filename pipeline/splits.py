"""Splitting a dataset tag into train / validation / test, written as Parquet under the tag.

A split is identified by its splitter, options and seed; it is computed once, written atomically to
``<tag>/splits/<splitter>-<hash>/`` and reused afterwards, so every model evaluated on a tag sees the
same split. Items never seen in train cannot be predicted by any collaborative model: they are removed
from the validation and test parts, and the removal is reported.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from deepcart.pipeline.tags import INTERACTIONS, MANIFEST, atomic_folder
from deepcart.errors import DeepcartError
from deepcart.toolkit.sql import sql_str

PARTS = ("train", "val_input", "val_check", "test_input", "test_check")


@dataclass
class Split:
    """A split on disk: its folder and its manifest (counts per part)."""

    path: Path
    manifest: dict[str, Any]

    def part(self, name: str) -> Path:
        """The Parquet file of one part (``train``, ``val_input``, ``val_check``, ...)."""
        if name not in PARTS:
            raise KeyError(f"unknown split part {name!r}; parts: {', '.join(PARTS)}")
        return self.path / f"{name}.parquet"


def split_key(splitter: str, config: Mapping[str, Any], seed: int) -> str:
    """The folder name of a split: splitter name plus a short hash of its options and seed.

    Options left unset (None) do not count, so adding an optional option keeps the folders of
    existing splits.
    """
    config = {k: v for k, v in dict(config).items() if v is not None}
    blob = json.dumps({"splitter": splitter, "config": config, "seed": seed}, sort_keys=True)
    return f"{splitter}-{hashlib.sha256(blob.encode()).hexdigest()[:10]}"


def summary_lines(manifest: Mapping[str, Any]) -> list[str]:
    """The split summary in the seed project's style."""
    counts = manifest["counts"]
    lines = [f"train : {counts['train']['users']} users @ {counts['train']['ratings']} ratings"]
    for part in ("val", "test"):
        inp, chk = counts[f"{part}_input"], counts[f"{part}_check"]
        users = manifest["users"][part]
        lines += [
            f"{part:5} : {users} users @ {inp['ratings'] + chk['ratings']} ratings",
            f" - input : {inp['ratings']} ratings",
            f" - check : {chk['ratings']} ratings",
        ]
    dropped = manifest["dropped_unseen"]
    if any(dropped.values()):
        lines.append(
            "dropped items never seen in train: "
            + ", ".join(f"{n} {part} ratings" for part, n in dropped.items() if n)
        )
    return lines


def split_dataset(
    tag_dir: Path,
    registry,
    splitter: str,
    options: Mapping[str, Any] | None = None,
    *,
    seed: int = 0,
    force: bool = False,
    echo: Callable[[str], None] = print,
    engine: str = "duckdb",
    engine_options: Mapping[str, Any] | None = None,
) -> Split:
    """Split the tag in ``tag_dir`` with the registered ``splitter`` (or reuse the identical split).

    The commands choose the splitter (``deepcart train``/``run`` use their default); the pipeline
    names none itself. ``engine`` runs it (a portable splitter runs on any engine; the parts are
    the same, so the split's folder does not depend on the engine).
    """
    import duckdb

    from deepcart.config import config_to_dict

    instance = registry.create("splitter", splitter, options or {})
    runner = registry.create("engine", engine, engine_options or {})
    portable = getattr(instance, "portable", False)
    if not portable and not runner.runs_duckdb_sql:
        raise DeepcartError(f"splitter {splitter!r} has no portable form (it runs DuckDB SQL), so the {engine} "
                            "engine cannot run it; use --engine duckdb")
    config = config_to_dict(instance.config) if hasattr(instance, "config") else dict(options or {})
    folder = tag_dir / "splits" / split_key(splitter, config, seed)
    if (folder / MANIFEST).is_file() and not force:
        split = Split(folder, json.loads((folder / MANIFEST).read_text()))
        for line in summary_lines(split.manifest):
            echo(line)
        return split
    source = tag_dir / INTERACTIONS
    if not source.is_file():
        raise DeepcartError(f"{tag_dir} is not a dataset tag (no {INTERACTIONS}); build one with `deepcart build`")

    # --force over an existing split replaces it only once the new one is complete.
    with atomic_folder(folder, prefix=f".{folder.name}-") as work, duckdb.connect() as con:
        con.execute("SET preserve_insertion_order = false")
        con.execute(
            f"CREATE VIEW interactions AS SELECT user_id, parent_asin, rating, timestamp "
            f"FROM read_parquet({sql_str(source)})"
        )
        with runner.open(con, work) as frame:
            instance.split(frame if portable else con, seed=seed)
            missing = [p for p in PARTS if not frame.has_table(p)]
            if missing:
                raise DeepcartError(f"splitter {splitter!r} did not create {', '.join(missing)}")
            manifest = _finish_parts(frame, work)
        manifest = {"splitter": splitter, "config": config, "seed": seed, **manifest}
        tag_manifest = (tag_dir / MANIFEST).read_bytes() if (tag_dir / MANIFEST).is_file() else b""
        manifest["tag_manifest_sha256"] = hashlib.sha256(tag_manifest).hexdigest()
        (work / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    for line in summary_lines(manifest):
        echo(line)
    return Split(folder, manifest)


def fold_splits(tag_dir, registry, splitter: str, options: Mapping[str, Any], folds: int, *, seed: int,
                echo: Callable[[str], None] = print) -> list:
    """The ``folds`` splits of a user cross-validation (``folds=K, fold=0..K-1`` of ``splitter``)."""
    _check_fold_options(registry, splitter, options, ("folds", "fold"))
    return [split_dataset(tag_dir, registry, splitter, {**options, "folds": folds, "fold": fold}, seed=seed,
                          echo=echo) for fold in range(folds)]


def tuning_folds(tag_dir, registry, splitter: str, options: Mapping[str, Any], folds: int, *, seed: int,
                 echo: Callable[[str], None] = print) -> list:
    """The ``folds`` splits of a cross-validated search that leaves the usual split's test users out.

    The usual split is ``splitter`` with ``options`` and ``seed`` (what ``deepcart train`` and
    ``evaluate`` use): the folds cover only its train and validation users (the ``within`` option,
    set to its ``train + val``), so a model tuned on them and trained on the usual split is still
    judged honestly on that split's test part. Its ``val`` share is kept; ``train`` is not a fold
    option (a fold trains on every covered user outside its test and validation blocks).
    """
    _check_fold_options(registry, splitter, options, ("folds", "fold", "within"))
    usual = registry.create("splitter", splitter, dict(options)).config
    fold_options = {k: v for k, v in options.items() if k != "train"}
    return fold_splits(tag_dir, registry, splitter, {**fold_options, "within": usual.train + usual.val}, folds,
                       seed=seed, echo=echo)


def _check_fold_options(registry, splitter: str, options: Mapping[str, Any], keys: tuple[str, ...]) -> None:
    """Refuse a splitter without the fold options ``keys``, and those options given by hand."""
    fields = getattr(registry.get("splitter", splitter).obj.Config, "model_fields", {})
    if not set(keys) <= set(fields):
        raise DeepcartError(f"splitter {splitter!r} has no folds: cross-validation needs user-holdout")
    if set(keys) & set(options):
        raise DeepcartError("give the number of folds with --folds, not as a split option")


def _finish_parts(frame, work: Path) -> dict[str, Any]:
    """Drop check/input ratings of items never seen in train, count and write every part."""
    from deepcart.toolkit.frames import temp

    seen = frame.table("train").select("parent_asin").distinct()
    parts, dropped, counts = {"train": frame.table("train")}, {}, {}
    try:
        for part in PARTS[1:]:
            before = frame.count(frame.table(part))
            parts[part] = frame.save(temp(part), frame.table(part).semi_join(seen, "parent_asin"))
            dropped[part] = before - frame.count(parts[part])
        for part, table in parts.items():
            found = frame.values(table, users=table.user_id.nunique(), ratings=table.count())
            counts[part] = {"users": int(found["users"]), "ratings": int(found["ratings"])}
            frame.write_parquet(table, work / f"{part}.parquet", ["user_id", "timestamp", "parent_asin"])
        users = {part: frame.count(parts[f"{part}_input"].select("user_id").union(
            parts[f"{part}_check"].select("user_id"), distinct=True)) for part in ("val", "test")}
    finally:
        frame.forget(*(temp(part) for part in PARTS[1:]))
    return {"counts": counts, "users": users, "dropped_unseen": dropped}

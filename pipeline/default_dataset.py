"""The embedded default dataset: synthetic Amazon-2023-format files, built into the tag ``synthetic``.

With no input files, ``deepcart build`` and ``deepcart run`` use it, so a fresh machine runs the whole
pipeline without downloading anything. The files are generated on first use and cached under
``<data dir>/sources/``; a default tag made by an older generator version is rebuilt.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

#: Size and seed of the embedded default dataset (generated once, then cached).
DEFAULT_SYNTH_REVIEWS = 300_000
DEFAULT_SYNTH_SEED = 0
DEFAULT_TAG = "synthetic"


def ensure_default_sources(data_dir: Path, *, reviews: int = DEFAULT_SYNTH_REVIEWS,
                           seed: int = DEFAULT_SYNTH_SEED, progress: bool = True) -> tuple[Path, Path]:
    """The review and meta files of the embedded default, generated on first use."""
    from deepcart.pipeline.synthetic import WORLD_VERSION, generate

    folder = data_dir / "sources" / f"synthetic-{reviews}-seed{seed}-v{WORLD_VERSION}"
    review_file = folder / "Synthetic_Electronics.jsonl.gz"
    meta_file = folder / "meta_Synthetic_Electronics.jsonl.gz"
    if review_file.is_file() and meta_file.is_file():
        return review_file, meta_file
    folder.mkdir(parents=True, exist_ok=True)
    click.echo(f"Generating the embedded default dataset ({reviews:,} synthetic reviews) in {folder} ...", err=True)
    files = generate_with_progress(generate, folder, reviews, seed, progress, force=True)
    return files.reviews, files.meta


#: Filters of the embedded default tag when `deepcart build` gets no filter flags: a 5-core, so that
#: every user and item has enough ratings to learn from and to evaluate on.
DEFAULT_EMBEDDED_FILTERS: tuple[tuple[str, dict[str, Any]], ...] = (("k-core", {"k": 5}),)


def ensure_default_tag(registry, data_dir: Path, *, echo, progress: bool, force: bool = False):
    """Build the embedded default tag (generating its sources on first use)."""
    from deepcart.pipeline.build import BuildSpec, build_dataset

    review_file, meta_file = ensure_default_sources(
        data_dir, reviews=DEFAULT_SYNTH_REVIEWS, seed=DEFAULT_SYNTH_SEED, progress=progress
    )
    spec = BuildSpec(tag=DEFAULT_TAG, reviews=[review_file], items=[meta_file], filters=DEFAULT_EMBEDDED_FILTERS,
                     data_dir=data_dir, force=force, source_note=embedded_note())
    return build_dataset(spec, registry, echo=echo, progress=progress)


def embedded_note() -> dict[str, Any]:
    from deepcart.pipeline.synthetic import WORLD_VERSION

    return {"embedded_default": {"synthetic_reviews": DEFAULT_SYNTH_REVIEWS, "seed": DEFAULT_SYNTH_SEED,
                                 "world_version": WORLD_VERSION}}


def stale_default_tag(data_dir: Path) -> bool:
    """True when the tag ``synthetic`` is an embedded default made by an older generator.

    A tag of that name that a person built from their own files is never stale.
    """
    from deepcart.pipeline.tags import read_manifest
    from deepcart.errors import DeepcartError
    from deepcart.pipeline.synthetic import WORLD_VERSION

    try:
        manifest = read_manifest(DEFAULT_TAG, data_dir)
    except (DeepcartError, ValueError):  # no such tag, or a manifest that is not JSON
        return False
    note = manifest.get("sources", {}).get("embedded_default")
    return isinstance(note, dict) and note.get("world_version") != WORLD_VERSION


def generate_with_progress(generate, out: Path, reviews: int, seed: int, progress: bool, force: bool,
                           shards: int = 1):
    from tqdm import tqdm

    with tqdm(total=reviews, unit=" reviews", unit_scale=True, desc="synth", disable=not progress,
              file=sys.stderr) as bar:
        return generate(out, n_reviews=reviews, seed=seed, progress=bar.update, force=force, shards=shards)


def tag_or_default(registry, data_tag: str | None, data_dir: Path, *, echo, progress: bool) -> tuple[str, Path]:
    """The tag a command works on: ``data_tag``, or the embedded default, built (or rebuilt) on first use.

    :returns: ``(tag name, tag folder)``.
    """
    from deepcart.pipeline.tags import existing_tag_path, tag_path

    if not data_tag:
        data_tag = DEFAULT_TAG
        stale = stale_default_tag(data_dir)
        if stale:
            echo("The embedded default dataset was made by an older synthetic generator: rebuilding it.")
        if stale or not tag_path(data_tag, data_dir).exists():
            ensure_default_tag(registry, data_dir, echo=echo, progress=progress, force=stale)
    return data_tag, existing_tag_path(data_tag, data_dir)

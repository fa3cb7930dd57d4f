"""``deepcart build``, ``deepcart split`` and ``deepcart synth``: making dataset tags and their splits.

With no input files, ``build`` uses the embedded default: a synthetic Electronics-like dataset in
the exact Amazon 2023 format, generated on first use and cached under the data folder, so a fresh
machine can run the whole pipeline without downloading anything.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from deepcart import hookimpl
from deepcart.plugins.commands import DATA_DIR_OPTION, DEFAULT_SPLITTER
from deepcart.pipeline.default_dataset import DEFAULT_SYNTH_REVIEWS, DEFAULT_TAG

#: The built-in filters in the default chain order; ``--filter-order`` changes it.
DEFAULT_ORDER = ("min-interactions", "min-ratings", "orphans", "subsample", "k-core")


def engine_flags(what: str, note: str = ""):
    """``--engine``, ``--spark-master`` and ``--engine-option``, for a command that runs ``what``."""
    def decorate(command):
        for option in reversed((
            click.option("--engine", default="duckdb", show_default=True, metavar="NAME",
                         help=f"Where {what} runs: duckdb (embedded, this machine) or spark (PySpark: pip "
                              f"install 'deepcart[spark]'; a cluster with --spark-master). {note}".rstrip()),
            click.option("--spark-master", metavar="URL",
                         help="Spark master for --engine spark (default local[*]): spark://host:7077, yarn, k8s://..."),
            click.option("--engine-option", "engine_option", multiple=True, metavar="KEY=VALUE",
                         help="Engine option, repeatable; spark: driver_memory=8g, checkpoint_dir=/shared/ckpt."),
        )):
            command = option(command)
        return command
    return decorate


def filter_chain(*, min_interactions: int | None, min_ratings: int | None, orphans: bool,
                 sample_n: int | None, k_core: int | None, order: str | None,
                 extra: tuple[str, ...]) -> list[tuple[str, dict[str, Any]]]:
    """The filter steps the build flags ask for, in chain order, then any ``--filter`` steps."""
    from deepcart.config import parse_options
    from deepcart.errors import ConfigError

    wanted: dict[str, dict[str, Any]] = {}
    if min_interactions:
        wanted["min-interactions"] = {"n": min_interactions}
    if min_ratings:
        wanted["min-ratings"] = {"n": min_ratings}
    if orphans:
        wanted["orphans"] = {}
    if sample_n:
        wanted["subsample"] = {"n": sample_n}
    if k_core:
        wanted["k-core"] = {"k": k_core}
    sequence = [s.strip() for s in order.split(",") if s.strip()] if order else list(DEFAULT_ORDER)
    unknown = set(sequence) - set(DEFAULT_ORDER)
    if unknown or len(set(sequence)) != len(sequence):
        raise ConfigError(f"--filter-order takes a permutation of {', '.join(DEFAULT_ORDER)}")
    missing = [name for name in wanted if name not in sequence]
    if missing:
        raise ConfigError(f"--filter-order leaves out {', '.join(missing)}, which the flags ask for")
    chain = [(name, wanted[name]) for name in sequence if name in wanted]
    for step in extra:
        name, _, options = step.partition(":")
        chain.append((name.strip(), parse_options(o for o in options.split(",") if o.strip())))
    return chain


@click.command("build")
@click.option("--reviews-file", "reviews", multiple=True, metavar="PATH",
              help="Review file(s) or glob(s): Amazon 2023 JSONL(.gz) or benchmark CSV. Repeatable. "
                   "Default: the embedded synthetic dataset.")
@click.option("--items-file", "items", multiple=True, metavar="PATH",
              help="Item meta JSONL(.gz) file(s) or glob(s). Optional; repeatable.")
@click.option("--loader", metavar="NAME", help="Loader to use (default: the first that recognises the file).")
@click.option("--min-interactions", type=click.IntRange(min=1), help="Drop users with fewer ratings.")
@click.option("--min-ratings", type=click.IntRange(min=1), help="Drop items with fewer ratings.")
@click.option("--drop-orphans", is_flag=True, help="Drop ratings of items that have no item meta row.")
@click.option("--sample-n", type=click.IntRange(min=1), help="Keep a seeded random sample of this many users.")
@click.option("--k-core", type=click.IntRange(min=1),
              help="Iterative k-core: repeat until every user and item has at least K ratings.")
@click.option("--filter-order", metavar="A,B,...",
              help=f"Order of the filters above (default: {','.join(DEFAULT_ORDER)}).")
@click.option("--filter", "extra_filters", multiple=True, metavar="NAME[:K=V,...]",
              help="Append any registered filter (plugins too) with options. Repeatable.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed for sampling.")
@click.option("--tag", help=f"Name of the dataset tag (default: {DEFAULT_TAG} for the embedded data, "
                            "else the review file's stem).")
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path),
              help="Folder holding dataset tags (default: $DEEPCART_DATA or ~/.local/share/deepcart).")
@click.option("--force", is_flag=True, help="Replace an existing tag.")
@click.option("--on-bad-records", type=click.Choice(["fail", "skip"]), default="fail", show_default=True,
              help="fail: stop at the first bad line, naming file and line; skip: drop bad lines and "
                   "write them to rejects.jsonl in the tag.")
@engine_flags("the filter chain", "Ingest is DuckDB's either way.")
@click.option("--memory-limit", default="4GB", show_default=True, help="DuckDB memory limit.")
@click.option("--threads", type=click.IntRange(min=1), help="DuckDB threads (default: all cores).")
@click.option("--max-line-size", default="16MiB", show_default=True, metavar="SIZE",
              help="Longest input line (a review or item as JSON) read; a longer one is a bad record. "
                   "Reading holds about four times this per thread.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bars or step messages.")
@click.pass_obj
def build_command(plugins, reviews, items, loader, min_interactions, min_ratings, drop_orphans, sample_n, k_core,
                  filter_order, extra_filters, seed, tag, data_dir, force, on_bad_records, engine,
                  spark_master, engine_option, memory_limit, threads, max_line_size, quiet) -> None:
    """Build a named dataset tag: ingest, filter, validate, write Parquet.

    Each filter step reports what it dropped. The tag folder holds interactions.parquet,
    items.parquet and manifest.json (counts, filter steps, source hashes, versions, seed); it
    appears only when the build succeeded.

    Example: deepcart build --reviews-file Electronics.jsonl.gz --items-file meta_Electronics.jsonl.gz
    --k-core 5 --tag electronics-5core
    """
    from deepcart.pipeline import default_dataset
    from deepcart.pipeline.build import BuildSpec, build_dataset
    from deepcart.pipeline.default_dataset import (
        DEFAULT_EMBEDDED_FILTERS, DEFAULT_SYNTH_SEED, embedded_note, ensure_default_sources,
    )
    from deepcart.pipeline.tags import default_data_dir

    from deepcart.toolkit.sql import byte_size
    from deepcart.toolkit.sql import memory_limit as check_memory_limit

    check_memory_limit(memory_limit)  # before anything is generated or read
    engine_options = engine_choice(plugins.registry, engine, spark_master, engine_option)
    max_line_bytes = byte_size(max_line_size, "--max-line-size", low=2**10, high=2**30)
    data_dir = data_dir or default_data_dir()
    progress = not quiet and sys.stderr.isatty()
    note: dict[str, Any] = {}
    if not reviews:
        if items:
            raise click.UsageError("--items-file needs --reviews-file")
        review_file, meta_file = ensure_default_sources(
            data_dir, reviews=default_dataset.DEFAULT_SYNTH_REVIEWS, seed=DEFAULT_SYNTH_SEED, progress=progress
        )
        reviews, items = (str(review_file),), (str(meta_file),)
        tag = tag or DEFAULT_TAG
        note = embedded_note()
    if not tag:
        tag = Path(reviews[0]).name.split(".")[0]
    chain = filter_chain(min_interactions=min_interactions, min_ratings=min_ratings, orphans=drop_orphans,
                         sample_n=sample_n, k_core=k_core, order=filter_order, extra=extra_filters)
    if note and not chain:
        chain = list(DEFAULT_EMBEDDED_FILTERS)  # the embedded default is a 5-core unless told otherwise
    spec = BuildSpec(tag=tag, reviews=reviews, items=items, loader=loader, filters=chain, seed=seed,
                     data_dir=data_dir, force=force, on_bad_records=on_bad_records,
                     memory_limit=memory_limit, threads=threads, max_line_bytes=max_line_bytes,
                     source_note=note, engine=engine, engine_options=engine_options)
    echo = (lambda _msg: None) if quiet else (lambda msg: click.echo(msg, err=True))
    if note and not force and already_built(spec):
        click.echo(f"Dataset tag {tag!r} is already built from the embedded default with these options: "
                   "nothing to do (--force rebuilds it).")
        return
    build_dataset(spec, plugins.registry, echo=echo, progress=progress)


def engine_choice(registry, engine: str, spark_master: str | None, pairs=()) -> dict[str, Any]:
    """The engine's options from ``--engine``, ``--spark-master`` and ``--engine-option``, validated
    now: an unknown engine or option is refused before anything is generated or read."""
    from deepcart.config import parse_options

    if spark_master and engine != "spark":
        raise click.UsageError("--spark-master needs --engine spark")
    options: dict[str, Any] = parse_options(pairs)
    if spark_master:
        options["master"] = spark_master
    registry.create("engine", engine, options)
    return options


@click.command("split")
@click.option("--data-tag", default=DEFAULT_TAG, show_default=True, help="Dataset tag to split.")
@DATA_DIR_OPTION
@click.option("--splitter", default=DEFAULT_SPLITTER, show_default=True, help="Splitter that makes the split.")
@click.option("--split-option", multiple=True, metavar="KEY=VALUE", help="Splitter option. Repeatable.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the split.")
@engine_flags("the split")
@click.option("--force", is_flag=True, help="Replace an existing split with the same splitter, options and seed.")
@click.option("-q", "--quiet", is_flag=True, help="No summary.")
@click.pass_obj
def split_command(plugins, data_tag, data_dir, splitter, split_option, seed, engine, spark_master, engine_option,
                  force, quiet) -> None:
    """Split a dataset tag into train / validation / test, once, for every later command.

    The parts are written under the tag (splits/<splitter>-<hash>/); train, evaluate, compare and
    tune with the same splitter, options and seed reuse them. Both engines give the same parts, so
    a large tag can be split on Spark and trained on here.

    Example: deepcart split --data-tag electronics-5core --engine spark --spark-master spark://head:7077
    """
    from deepcart.config import parse_options
    from deepcart.pipeline.splits import split_dataset
    from deepcart.pipeline.tags import default_data_dir, tag_path

    engine_options = engine_choice(plugins.registry, engine, spark_master, engine_option)
    tag_dir = tag_path(data_tag, data_dir or default_data_dir())
    if not tag_dir.is_dir():
        raise click.ClickException(f"no dataset tag {data_tag!r} at {tag_dir}; build one with `deepcart build`")
    echo = (lambda _msg: None) if quiet else click.echo
    split = split_dataset(tag_dir, plugins.registry, splitter, parse_options(split_option), seed=seed,
                          force=force, echo=echo, engine=engine, engine_options=engine_options)
    if not quiet:
        click.echo(f"Split written to {split.path}")


def already_built(spec) -> bool:
    """Whether ``spec``'s tag exists and was built from the same embedded default the same way."""
    from deepcart.errors import DeepcartError
    from deepcart.pipeline.default_dataset import stale_default_tag
    from deepcart.pipeline.tags import read_manifest

    try:
        manifest = read_manifest(spec.tag, spec.data_dir)
    except (DeepcartError, ValueError):
        return False
    if stale_default_tag(spec.data_dir) and spec.tag == DEFAULT_TAG:
        return False
    steps = manifest.get("filters", [])
    same_filters = [s.get("step") for s in steps] == [name for name, _ in spec.filters] and all(
        all(step.get("params", {}).get(k) == v for k, v in params.items())
        for step, (_, params) in zip(steps, spec.filters))
    return (manifest.get("sources", {}).get("embedded_default") == spec.source_note.get("embedded_default")
            and manifest.get("seed") == spec.seed and same_filters
            and manifest.get("loader", {}).get("on_bad_records") == spec.on_bad_records
            and (spec.loader is None or manifest.get("loader", {}).get("name") == spec.loader))


@click.command("synth")
@click.option("--reviews", "n_reviews", type=click.IntRange(min=1), default=DEFAULT_SYNTH_REVIEWS,
              show_default=True, help="Number of review lines to write.")
@click.option("--seed", type=int, default=0, show_default=True, help="Same seed, same bytes.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Folder to write Synthetic_Electronics.jsonl.gz and its meta file into.")
@click.option("--shards", type=click.IntRange(min=1, max=999), default=1, show_default=True,
              help="Write the reviews as this many files (each a run of whole users; together the same "
                   "lines as one file), to build from in parallel: --reviews-file 'DIR/*.jsonl.gz'.")
@click.option("--force", is_flag=True, help="Overwrite existing files.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
def synth_command(n_reviews: int, seed: int, out: Path, shards: int, force: bool, quiet: bool) -> None:
    """Write realistic synthetic reviews + item meta in the exact Amazon 2023 JSONL.gz format.

    Power-law popularity and activity, a J-shaped rating distribution, planted user/item factors
    and a minority of genuinely bad but popular products (see docs/synthetic-data.md). Streams, so
    10M reviews need little memory; deterministic per seed.
    """
    from deepcart.pipeline.default_dataset import generate_with_progress
    from deepcart.pipeline.synthetic import generate

    out.mkdir(parents=True, exist_ok=True)
    try:
        files = generate_with_progress(generate, out, n_reviews, seed, not quiet and sys.stderr.isatty(), force,
                                       shards=shards)
    except FileExistsError as exc:
        raise click.ClickException(f"{exc}; use --force to overwrite") from None
    except ValueError as exc:  # more shards than runs of users
        raise click.BadParameter(str(exc), param_hint="--shards") from None
    where = (f"{files.reviews}" if shards == 1 else
             f"{shards} files {files.shards[0].name} ... {files.shards[-1].name} in {out}")
    click.echo(f"Wrote {files.n_reviews:,} reviews by {files.n_users:,} users of {files.n_items:,} items "
               f"to {where} and {files.meta}.", err=True)


@hookimpl
def register_commands(cli) -> None:
    """Add ``build``, ``split`` and ``synth``."""
    cli.add_command(build_command)
    cli.add_command(split_command)
    cli.add_command(synth_command)

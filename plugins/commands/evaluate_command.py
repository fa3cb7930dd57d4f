"""``deepcart evaluate``: metrics of a model (or a recommender trained on the spot) on a split."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from deepcart import hookimpl
from deepcart.plugins.commands import DEFAULT_SPLITTER
from deepcart.pipeline.evaluate import DEFAULT_METRICS

@click.command("evaluate")
@click.option("--data-tag", default="synthetic", show_default=True, help="Dataset tag to evaluate on.")
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path),
              help="Folder holding dataset tags (default: $DEEPCART_DATA or ~/.local/share/deepcart).")
@click.option("--model", "model_dir", type=click.Path(file_okay=False, path_type=Path),
              help="A model folder written by `deepcart train`.")
@click.option("--recommender", help="Train this recommender on the split's train part instead of --model.")
@click.option("-o", "--option", "options", multiple=True, metavar="KEY=VALUE",
              help="Recommender option (with --recommender). Repeatable.")
@click.option("--metric", "metrics", multiple=True, metavar="NAME[@K]",
              help=f"Metric to compute, e.g. map@10, pearson. Repeatable. Default: {', '.join(DEFAULT_METRICS)}.")
@click.option("--k", "default_k", type=click.IntRange(min=1), default=10, show_default=True,
              help="Cut-off for ranking metrics given without @K.")
@click.option("--direction", type=click.Choice(["best", "worst", "both"]), default="both", show_default=True,
              help="best: relevant = check rating >= 4, ranked high to low; worst: rating <= 2, low to high.")
@click.option("--split", "part", type=click.Choice(["val", "test"]), default="test", show_default=True)
@click.option("--splitter", default=DEFAULT_SPLITTER, show_default=True, help="Splitter that makes the split.")
@click.option("--split-option", multiple=True, metavar="KEY=VALUE", help="Splitter option. Repeatable.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the split (and of training).")
@click.option("--min-engagement", default="0", show_default=True, metavar="N or best=N,worst=N",
              help="Rank only items with at least this many ratings in train (one number, or one per direction).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.option("--save-rankings", type=click.Path(dir_okay=False, path_type=Path),
              help="Write each user's top-K (user_id, rank, parent_asin, score = predicted stars, relevance, "
                   "direction) as Parquet.")
@click.option("--save-predictions", type=click.Path(dir_okay=False, path_type=Path),
              help="Write predictions for check items (user_id, parent_asin, predicted, actual) as Parquet.")
@click.option("--per-user", type=click.Path(dir_okay=False, path_type=Path),
              help="Write per-user metric values (user_id, metric, direction, value) as Parquet.")
@click.option("--any-build", is_flag=True,
              help="Use a model trained on another build of the dataset, or one that does not say which.")
@click.option("-q", "--quiet", is_flag=True, help="No progress output.")
@click.pass_obj
def evaluate_command(plugins, data_tag, data_dir, model_dir, recommender, options, metrics, default_k, direction, part,
                     splitter, split_option, seed, min_engagement, as_json, save_rankings, save_predictions,
                     per_user, any_build, quiet) -> None:
    """Evaluate a recommender on the validation or test users of a dataset tag.

    Each held-out user is scored from their input ratings alone (fold-in) and judged on their check
    ratings. Ranking metrics are reported in both directions: `best` (what they will like) and
    `worst` (the worst products with non-trivial engagement). Candidates are the items a user has
    not rated in their input, ranked by the model's relevance: how likely the person is to meet an
    item and the stars they would give it, together. Definitions are in the README.
    """
    import numpy as np
    from tqdm import tqdm

    from deepcart.config import parse_options
    from deepcart.pipeline.compare import parse_min_engagement
    from deepcart.pipeline.evaluate import (
        default_metrics, evaluate, load_part, parse_metric, per_user_columns, render_table, train_item_counts,
        write_parquet,
    )
    from deepcart.pipeline.model_store import load_model, tag_manifest_sha256
    from deepcart.pipeline.ratings_io import ratings_from_parquet
    from deepcart.pipeline.splits import split_dataset
    from deepcart.pipeline.tags import existing_tag_path

    if bool(model_dir) == bool(recommender):
        raise click.UsageError("give exactly one of --model DIR or --recommender NAME")
    if options and not recommender:
        raise click.UsageError("-o/--option configures --recommender; a saved model keeps its options")
    registry = plugins.registry
    floors = parse_min_engagement(min_engagement)  # a typo fails before any training
    if recommender:
        from deepcart.config import make_config

        make_config(registry.get("recommender", recommender).obj.Config, parse_options(options),
                    what=f"recommender {recommender!r}")
    tag_dir = existing_tag_path(data_tag, data_dir)
    echo = (lambda _m: None) if quiet else (lambda m: click.echo(m, err=True))
    specs = [parse_metric(m, default_k, registry) for m in (metrics or default_metrics(registry))]
    split = split_dataset(tag_dir, registry, splitter, parse_options(split_option), seed=seed, echo=echo)

    train = ratings_from_parquet(split.part("train"))
    if model_dir:
        model, manifest = load_model(model_dir, registry, tag_sha256=tag_manifest_sha256(tag_dir), any_build=any_build)
        label = f"{manifest['recommender']} ({model_dir})"
    else:
        model = registry.create("recommender", recommender, parse_options(options))
        echo(f"Training {recommender} on {len(train):,} ratings ...")
        model.fit(train, seed=seed)
        label = recommender
    item_ids = np.asarray(model.item_ids).astype(str)
    item_counts = train_item_counts(train, item_ids)
    tables = load_part(split, part, item_ids)
    directions = ("best", "worst") if direction == "both" else (direction,)
    with tqdm(total=len(tables.user_ids), desc=f"scoring {part} users", unit=" users", file=sys.stderr,
              disable=quiet or not sys.stderr.isatty()) as bar:
        report = evaluate(model, tables, specs, registry, directions=directions,
                          min_engagement=floors,
                          item_counts=item_counts, save_rankings=save_rankings,
                          save_predictions=save_predictions, progress=bar.update)
    if per_user:
        write_parquet(per_user, per_user_columns(report))
    if as_json:
        click.echo(json.dumps({"data_tag": data_tag, "split": part, "model": label, "users": report.n_users,
                               "metrics": report.rows}, indent=2))
    else:
        click.echo(f"{label} on {data_tag} ({part}, {report.n_users:,} users)")
        click.echo(render_table(report))


@hookimpl
def register_commands(cli) -> None:
    """Add ``evaluate``."""
    cli.add_command(evaluate_command)

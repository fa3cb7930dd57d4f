"""``deepcart compare``: recommenders, baselines and peer libraries on one split, with statistics."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from deepcart import hookimpl
from deepcart.plugins.commands import DEFAULT_SPLITTER


@click.command("compare")
@click.option("--data-tag", help="Dataset tag (default: the embedded synthetic dataset, built on first use).")
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path),
              help="Folder holding dataset tags (default: $DEEPCART_DATA or ~/.local/share/deepcart).")
@click.option("--recommender", "recommenders", multiple=True, metavar="[LABEL=]NAME",
              help="A recommender to compare; LABEL=NAME compares one recommender under other options. "
                   "Repeatable. Default: naive, knn, autoencoder, vae.")
@click.option("-o", "--option", "options", multiple=True, metavar="LABEL.KEY=VALUE or KEY=VALUE",
              help="Option of one system (LABEL.key=value) or of every system that has it (key=value).")
@click.option("--baseline", default="popularity", show_default=True,
              help="The system every other one is tested against (paired).")
@click.option("--baselines/--no-baselines", "with_baselines", default=True, show_default=True,
              help="Add the popularity and random baselines.")
@click.option("--peer", "peers", multiple=True, metavar="NAME",
              help="A peer library's recommender (implicit-cosine, implicit-als, cornac-ease), or iknn-explicit "
                   "(a replica of LensKit's explicit item-kNN). Repeatable. Default: every library peer installed.")
@click.option("--no-peers", is_flag=True, help="Compare no peer library.")
@click.option("--metric", "metrics", multiple=True, metavar="NAME[@K]",
              help="Metric. Repeatable. Default: ndcg@10, recall@10.")
@click.option("--k", "default_k", type=click.IntRange(min=1), default=10, show_default=True,
              help="Cut-off for ranking metrics given without @K.")
@click.option("--min-engagement", default="best=0,worst=5", show_default=True, metavar="N or best=N,worst=N",
              help="Candidates need at least this many train ratings, per direction.")
@click.option("--split", "part", type=click.Choice(["val", "test"]), default="test", show_default=True)
@click.option("--splitter", default=DEFAULT_SPLITTER, show_default=True, help="Splitter that makes the split.")
@click.option("--split-option", multiple=True, metavar="KEY=VALUE", help="Splitter option. Repeatable.")
@click.option("--folds", type=click.IntRange(min=2), metavar="K",
              help="Cross-validate: cut the users into K folds, judge each fold's users by systems trained on the "
                   "others, and pool them (every user is judged once). Costs K trainings per system; worth it "
                   "on small datasets.")
@click.option("--seed", type=int, default=0, show_default=True,
              help="Seed of the split, of training and of the resampling.")
@click.option("--epochs", type=click.IntRange(min=1), help="Epochs for the neural recommenders.")
@click.option("--resamples", type=click.IntRange(min=100), default=1000, show_default=True,
              help="Bootstrap and randomisation-test resamples.")
@click.option("--alpha", type=click.FloatRange(0, 1, min_open=True, max_open=True), default=0.05,
              show_default=True, help="Significance level of the paired test (the intervals are 1 - alpha).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of tables.")
@click.option("--per-user", type=click.Path(dir_okay=False, path_type=Path),
              help="Write every system's per-user values (system, user_id, metric, direction, value) as Parquet.")
@click.option("-q", "--quiet", is_flag=True, help="No progress output.")
@click.pass_obj
def compare_command(plugins, data_tag, data_dir, recommenders, options, baseline, with_baselines, peers, no_peers,
                    metrics, default_k, min_engagement, part, splitter, split_option, folds, seed, epochs, resamples,
                    alpha, as_json, per_user, quiet) -> None:
    """Compare recommenders, baselines and peer libraries on one split, in both directions.

    Every system trains on the same train users and is judged on the same held-out users: best
    lists (relevant: a held-out rating >= 4, over every unrated item) and worst lists (relevant: a
    held-out rating <= 2, over items with >= 5 train ratings). For each metric the table gives each
    system's mean with a bootstrap confidence interval, and its paired difference to --baseline with
    the difference's interval and the p-value of a paired randomisation test (per user; not
    corrected for multiple comparisons). With --folds K the users are cross-validated: the table
    pools K splits, each user judged once. See the README, "Quality on real data".
    """
    from deepcart.errors import DeepcartError
    from deepcart.config import parse_options
    from deepcart.pipeline.compare import BASELINES, DEFAULT_METRICS, compare, parse_min_engagement, plan_systems, render
    from deepcart.pipeline.default_dataset import tag_or_default
    from deepcart.pipeline.evaluate import parse_metric, write_parquet
    from deepcart.pipeline.peers import installed_peers
    from deepcart.pipeline.splits import fold_splits, split_dataset
    from deepcart.pipeline.tags import default_data_dir

    registry = plugins.registry
    echo = (lambda _m: None) if quiet else (lambda m: click.echo(m, err=True))
    data_dir = data_dir or default_data_dir()
    recommenders = recommenders or tuple(n for n in ("naive", "knn", "autoencoder", "vae")
                                         if n in registry.names("recommender"))
    chosen_peers = () if no_peers else (peers or tuple(installed_peers()))
    if epochs is not None:
        options = (*options, f"epochs={epochs}")
    systems = plan_systems(registry, recommenders, options, peers=chosen_peers,
                           baselines=BASELINES if with_baselines else ())
    for m in metrics or DEFAULT_METRICS:
        parse_metric(m, default_k, registry)
    floors = parse_min_engagement(min_engagement)
    if baseline not in {s.label for s in systems}:
        raise DeepcartError(f"--baseline {baseline!r} is not among the systems: "
                            f"{', '.join(s.label for s in systems)}")
    tag, tag_dir = tag_or_default(registry, data_tag, data_dir, echo=echo, progress=not quiet and sys.stderr.isatty())
    if folds:
        split = fold_splits(tag_dir, registry, splitter, parse_options(split_option), folds, seed=seed, echo=echo)
    else:
        split = split_dataset(tag_dir, registry, splitter, parse_options(split_option), seed=seed, echo=echo)
    result = compare(registry, split, systems, metrics or DEFAULT_METRICS, part=part, k=default_k,
                     min_engagement=floors, seed=seed, baseline=baseline, resamples=resamples, level=1 - alpha,
                     alpha=alpha, echo=echo, quiet=quiet)
    if per_user:
        write_parquet(per_user, result.per_user_columns())
    if as_json:
        click.echo(json.dumps({"data_tag": tag, "split": part, "folds": folds, "min_engagement": floors, "alpha": alpha,
                               **result.to_json()}, indent=2))
        return
    judged = f"{part} users of {folds} folds" if folds else part
    title = (f"deepcart compare on {tag!r} ({judged}: {result.n_users:,} users; worst lists over items with "
             f">= {floors['worst']} train ratings, best lists over items with >= {floors['best']})")
    click.echo(render(result, title=title, level=1 - alpha))


@hookimpl
def register_commands(cli) -> None:
    """Add ``compare``."""
    cli.add_command(compare_command)

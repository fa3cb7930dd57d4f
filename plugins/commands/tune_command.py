"""``deepcart tune``: search a recommender's options on the validation users, save the best model."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from deepcart import hookimpl
from deepcart.plugins.commands import DEFAULT_SPLITTER


@click.command("tune")
@click.option("--data-tag", help="Dataset tag (default: the embedded synthetic dataset, built on first use).")
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path),
              help="Folder holding dataset tags (default: $DEEPCART_DATA or ~/.local/share/deepcart).")
@click.option("--recommender", required=True, help="Recommender to tune (see `deepcart plugins`).")
@click.option("-o", "--option", "options", multiple=True, metavar="KEY=VALUE",
              help="A fixed option, not searched. Repeatable.")
@click.option("--space", "space", multiple=True, metavar="KEY=V1,V2,...",
              help="Values to try for an option (KEY=V1|V2 when values hold commas); replaces the default "
                   "values of that option. Repeatable.")
@click.option("--metric", default="ndcg@10", show_default=True, help="The ranking metric to maximise.")
@click.option("--direction", type=click.Choice(["best", "worst", "both"]), default="both", show_default=True,
              help="Which lists to tune for; both: the mean of the two (each direction gets its own stars weight).")
@click.option("--trials", type=click.IntRange(min=1), default=20, show_default=True,
              help="Candidates trained at most: the whole grid when it is this small, else a seeded random sample.")
@click.option("--min-engagement", default="best=0,worst=5", show_default=True, metavar="N or best=N,worst=N",
              help="Candidates need at least this many train ratings, per direction.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the split, training and sampling.")
@click.option("--splitter", default=DEFAULT_SPLITTER, show_default=True, help="Splitter that makes the split.")
@click.option("--split-option", multiple=True, metavar="KEY=VALUE", help="Splitter option. Repeatable.")
@click.option("--folds", type=click.IntRange(min=2), metavar="K",
              help="Cross-validate: train every candidate on K folds of the users and judge it on all their "
                   "validation users together (user-holdout only). The folds leave the usual split's test users "
                   "out; the saved model is trained on the usual split with the options chosen.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path),
              help="Save the best model here (its manifest records the search).")
@click.option("--force", is_flag=True, help="Replace an existing --out folder.")
@click.option("--json", "as_json", is_flag=True, help="Print the search as JSON.")
@click.option("-q", "--quiet", is_flag=True, help="No progress output.")
@click.pass_obj
def tune_command(plugins, data_tag, data_dir, recommender, options, space, metric, direction, trials, min_engagement,
                 seed, splitter, split_option, folds, out, force, as_json, quiet) -> None:
    """Search a recommender's options on the validation users; print (and save) the best.

    Candidates train on the split's train users and are judged on its validation users (the test
    users stay untouched). The ranking mix (best_stars_weight, worst_stars_weight) needs no refit:
    every candidate is scored once and each direction's weight is chosen on that direction alone.
    With --out the best model is saved, its manifest holding the search, every trial and the
    options chosen; the options are printed as -o flags for `deepcart train`. On a small dataset the
    few validation users of one split leave the choice to chance: --folds K judges every candidate
    on K times as many.
    """
    from deepcart.config import parse_options
    from deepcart.pipeline.compare import parse_min_engagement
    from deepcart.pipeline.default_dataset import tag_or_default
    from deepcart.pipeline.model_store import save_model, tag_manifest_sha256
    from deepcart.pipeline.experiment import fit_recommender
    from deepcart.pipeline.splits import split_dataset, tuning_folds
    from deepcart.pipeline.tags import default_data_dir
    from deepcart.pipeline.tune import parse_space, search_space, tune

    registry = plugins.registry
    echo = (lambda _m: None) if quiet else (lambda m: click.echo(m, err=True))
    if out is not None and out.exists() and not force:
        raise click.ClickException(f"{out} already exists; use --force to replace it")
    if out is not None:
        from deepcart.pipeline.tags import check_replaceable

        check_replaceable(out, "model folder")
    data_dir = data_dir or default_data_dir()
    fixed = parse_options(options)
    chosen = search_space(registry, recommender, parse_space(space), fixed)
    for key in fixed:
        chosen.pop(key, None)  # a fixed option is not searched
    floors = parse_min_engagement(min_engagement)
    tag, tag_dir = tag_or_default(registry, data_tag, data_dir, echo=echo, progress=not quiet and sys.stderr.isatty())
    split_options = parse_options(split_option)
    judged_on = (tuning_folds(tag_dir, registry, splitter, split_options, folds, seed=seed, echo=echo) if folds
                 else split_dataset(tag_dir, registry, splitter, split_options, seed=seed, echo=echo))
    directions = ("best", "worst") if direction == "both" else (direction,)
    result = tune(registry, judged_on, recommender, fixed, chosen, metric=metric, directions=directions,
                  trials=trials, seed=seed, min_engagement=floors, echo=echo)
    split = judged_on[0] if folds else judged_on
    record = {"data_tag": tag, "split": split.manifest["splitter"], "folds": folds, "seed": seed,
              "min_engagement": floors, **result.to_json()}
    if out is not None:
        model = result.model
        if model is None:  # cross-validated: every fold trained its own; train the choice on the usual split
            split = split_dataset(tag_dir, registry, splitter, split_options, seed=seed, echo=echo)
            model, _ = fit_recommender(registry, recommender, result.best_options, split, seed=seed, echo=echo,
                                       quiet=quiet)
        # With folds the values were judged on the folds' validation users, not this model's.
        judged_part = f"val of {folds} folds" if folds else "val"
        save_model(model, out, recommender=recommender, data_tag=tag, tag_sha256=tag_manifest_sha256(tag_dir),
                   metrics={judged_part: {f"{result.metric}/{d}": result.best.best_weight(d)[1] for d in directions}},
                   force=force, extra={"seed": seed, "tuning": record})
        echo(f"Saved the best {recommender} to {out}")
    if as_json:
        click.echo(json.dumps(record, indent=2))
        return
    flags = " ".join(f"-o {k}={v}" for k, v in result.best_options.items())
    values = ", ".join(f"{d} {result.best.best_weight(d)[1]:.4f}" for d in directions)
    judged = f"validation users of {folds} folds" if folds else "validation users"
    click.echo(f"Best {recommender} on {tag!r} ({result.metric}, {judged}): {values}")
    click.echo(f"  deepcart train --data-tag {tag} --recommender {recommender} {flags} --out DIR")


@hookimpl
def register_commands(cli) -> None:
    """Add ``tune``."""
    cli.add_command(tune_command)

"""``deepcart train``, ``deepcart recommend`` and ``deepcart run`` (the main job)."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import click

from deepcart import hookimpl
from deepcart.plugins.commands import DATA_DIR_OPTION, DEFAULT_SPLITTER
from deepcart.pipeline.picks import DEFAULT_MIN_ENGAGEMENT

#: What `deepcart run` trains when no --recommender is given: the winner of the worst lists on the
#: real sets (benchmarks/README.md, "Quality on real data"), and fast.
DEFAULT_RECOMMENDER = "knn"

def _echo(quiet: bool):
    return (lambda _m: None) if quiet else (lambda m: click.echo(m, err=True))


def checked_options(registry, recommender: str, options: dict[str, Any]) -> dict[str, Any]:
    """``options`` after checking the recommender and its options exist and are valid: a typo fails
    before any split is made or model trained."""
    from deepcart.config import make_config

    make_config(registry.get("recommender", recommender).obj.Config, options, what=f"recommender {recommender!r}")
    return options


def _options(registry, recommender: str, pairs, epochs: int | None) -> dict[str, Any]:
    from deepcart.config import parse_options

    options: dict[str, Any] = parse_options(pairs)
    if epochs is not None:
        fields = getattr(registry.get("recommender", recommender).obj.Config, "model_fields", {})
        if "epochs" not in fields:
            raise click.UsageError(f"recommender {recommender!r} has no epochs; drop --epochs")
        options["epochs"] = epochs
    return options


@click.command("train")
@click.option("--data-tag", default="synthetic", show_default=True, help="Dataset tag to train on.")
@DATA_DIR_OPTION
@click.option("--recommender", required=True, help="Recommender to train (see `deepcart plugins`).")
@click.option("-o", "--option", "options", multiple=True, metavar="KEY=VALUE", help="Recommender option. Repeatable.")
@click.option("--epochs", type=click.IntRange(min=1), help="Shortcut for -o epochs=N (neural models).")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True, help="Model folder to write.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the split and of training.")
@click.option("--force", is_flag=True, help="Replace an existing model folder.")
@click.option("-q", "--quiet", is_flag=True, help="No progress output.")
@click.pass_obj
def train_command(plugins, data_tag, data_dir, recommender, options, epochs, out, seed, force, quiet) -> None:
    """Train a recommender on a dataset tag and save it as a model folder.

    The tag is split by user (user-holdout, seeded); the model trains on the train users, early-stops
    on the validation users where it supports that, and its validation metrics go into the model's
    manifest.json with its config, the dataset tag and the hash of the tag's manifest.
    """
    from deepcart.pipeline.experiment import evaluate_model, fit_recommender
    from deepcart.pipeline.model_store import save_model, tag_manifest_sha256
    from deepcart.pipeline.splits import split_dataset
    from deepcart.pipeline.tags import check_replaceable, existing_tag_path

    if out.exists() and not force:
        raise click.ClickException(f"{out} already exists; use --force to replace it")
    check_replaceable(out, "model folder")  # before any work: --force replaces only a model folder
    registry = plugins.registry
    echo = _echo(quiet)
    opts = checked_options(registry, recommender, _options(registry, recommender, options, epochs))
    tag_dir = existing_tag_path(data_tag, data_dir)
    split = split_dataset(tag_dir, registry, DEFAULT_SPLITTER, seed=seed, echo=echo)
    model, train = fit_recommender(registry, recommender, opts, split, seed=seed, echo=echo, quiet=quiet)
    metrics = ["rmse", "ndcg@10"] if "ndcg" in registry.names("metric") else ["rmse"]
    report = evaluate_model(model, split, "val", metrics, registry, quiet=quiet)
    summary = {f"{r['metric']}/{r['direction']}": r["value"] for r in report.rows}
    save_model(model, out, recommender=recommender, data_tag=data_tag, tag_sha256=tag_manifest_sha256(tag_dir),
               metrics={"val": summary}, force=force, extra={"split": split.manifest["splitter"], "seed": seed})
    echo("Validation: " + ", ".join(f"{r['metric']}{'' if r['direction'] == '-' else ' ' + r['direction']} "
                                    f"{r['value']:.4f}" for r in report.rows))
    click.echo(f"Saved model to {out}")


def known_ratings(model, history: list[tuple[str, float]]) -> tuple[list[tuple[str, float]], list[str]]:
    """The ratings of products the model knows, and a note per ignored one with the ASIN it probably
    meant: the same characters in another case or with spaces around, or one character off."""
    import numpy as np

    ids = np.asarray(model.item_ids).astype(str)
    known = set(ids.tolist())
    upper = {asin.upper(): asin for asin in ids.tolist()}
    used, ignored = [], []
    for asin, stars in history:
        if asin in known:
            used.append((asin, stars))
            continue
        guess = upper.get(asin.strip().upper())
        if guess is None and asin:
            same_length = ids[np.char.str_len(ids) == len(asin)]
            if len(same_length):  # one vectorised pass: characters that differ, per id
                chars = same_length.view(np.uint32).reshape(len(same_length), -1)[:, : len(asin)]
                off = (chars != np.array([ord(c) for c in asin], dtype=np.uint32)).sum(axis=1)
                guess = str(same_length[int(np.argmin(off))]) if off.min() <= 1 else None
        ignored.append(f"{asin} (did you mean {guess}?)" if guess else asin)
    return used, ignored


def read_ratings_file(path: Path) -> list[tuple[str, float]]:
    """(parent_asin, rating) pairs from a JSONL file in the Amazon 2023 review format.

    The same rules as the loader for the fields it reads: a text id without control characters, a
    rating that is a number in [1, 5] (``true`` is no rating); the first bad line is named.
    """
    from deepcart.errors import BadInputError
    from deepcart.toolkit import json_text

    pairs = []
    with open(path, "rb") as fh:
        for number, raw in enumerate(fh, start=1):
            try:
                line = raw.decode("utf-8-sig" if number == 1 else "utf-8")
            except UnicodeDecodeError as exc:
                raise BadInputError(str(path), number, f"not valid UTF-8 text (byte {exc.start + 1})") from None
            if not line.strip():
                continue
            try:
                record = json_text.loads(line)
            except ValueError as exc:
                raise BadInputError(str(path), number, f"not valid JSON ({getattr(exc, 'msg', exc)})") from None
            asin = record.get("parent_asin") if isinstance(record, dict) else None
            if not isinstance(asin, str) or not asin.strip():
                raise BadInputError(str(path), number, "missing parent_asin (a text id)")
            if any(ord(c) < 32 or ord(c) == 127 for c in asin):
                raise BadInputError(str(path), number, "parent_asin contains a control character")
            rating = record.get("rating")
            if isinstance(rating, bool) or not isinstance(rating, (int, float)) or not 1 <= rating <= 5:
                raise BadInputError(str(path), number, f"rating {rating!r} is not a number in [1, 5]")
            pairs.append((asin, float(rating)))
    return pairs


def parse_rate(values) -> list[tuple[str, float]]:
    """``ASIN:STARS`` pairs from --rate."""
    pairs = []
    for value in values:
        asin, sep, stars = value.rpartition(":")
        try:
            rating = float(stars)
        except ValueError:
            rating = -1.0
        if not sep or not asin or not 1 <= rating <= 5:
            raise click.BadParameter(f"{value!r}: expected ASIN:STARS with STARS from 1 to 5", param_hint="--rate")
        pairs.append((asin, rating))
    return pairs


@click.command("recommend")
@click.option("--model", "model_dir", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Model folder written by `deepcart train` or `deepcart run`.")
@click.option("--data-tag", help="Dataset tag for item details (default: the one the model was trained on).")
@DATA_DIR_OPTION
@click.option("--user", "user_id", help="Score an existing user of the dataset from all their ratings.")
@click.option("--rate", "rates", multiple=True, metavar="ASIN:STARS", help="A rating of a new person. Repeatable.")
@click.option("--ratings", "ratings_file", type=click.Path(dir_okay=False, exists=True, path_type=Path),
              help="A new person's ratings as JSONL in the Amazon 2023 review format.")
@click.option("--direction", type=click.Choice(["worst", "best"]), default="worst", show_default=True)
@click.option("--k", type=click.IntRange(min=1), default=10, show_default=True, help="Number of picks.")
@click.option("--min-engagement", type=click.IntRange(min=0), default=DEFAULT_MIN_ENGAGEMENT, show_default=True,
              help="Only items with at least this many ratings in the dataset.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option("--any-build", is_flag=True,
              help="Use a model trained on another build of the dataset, or one that does not say which.")
@click.pass_obj
def recommend_command(plugins, model_dir, data_tag, data_dir, user_id, rates, ratings_file, direction, k,
                      min_engagement, as_json, any_build) -> None:
    """Pick the worst (or best) products for a person, without retraining.

    The person is an existing user (--user) or anyone described by ratings (--rate, --ratings);
    the model folds their ratings in and ranks every unrated item with enough engagement.
    """
    import pyarrow.parquet as pq

    from deepcart.pipeline.tags import INTERACTIONS, tag_path
    from deepcart.pipeline.model_store import load_model, read_model_manifest, tag_manifest_sha256
    from deepcart.pipeline.picks import CatalogueScorer, load_catalogue, pick, render_picks
    from deepcart.pipeline.tags import existing_tag_path

    given = sum(bool(x) for x in (user_id, rates, ratings_file))
    if given != 1:
        raise click.UsageError("describe the person with exactly one of --user, --rate or --ratings")
    manifest = read_model_manifest(model_dir)
    data_tag = data_tag or manifest["dataset"].get("tag")
    if not data_tag:
        raise click.UsageError("the model does not name its dataset: pass --data-tag")
    tag_dir = existing_tag_path(data_tag, data_dir)
    model, _ = load_model(model_dir, plugins.registry, tag_sha256=tag_manifest_sha256(tag_dir), any_build=any_build)
    if user_id:
        table = pq.read_table(tag_path(data_tag, data_dir) / INTERACTIONS, columns=["user_id", "parent_asin", "rating"],
                              filters=[("user_id", "=", user_id)])
        if table.num_rows == 0:
            raise click.ClickException(f"no user {user_id!r} in dataset {data_tag!r}")
        history = list(zip(table.column("parent_asin").to_pylist(), table.column("rating").to_pylist()))
    else:
        history = parse_rate(rates) if rates else read_ratings_file(ratings_file)
    catalogue = load_catalogue(tag_dir)
    scorer = CatalogueScorer(model, catalogue)
    used, ignored = known_ratings(model, history)
    if ignored:
        click.echo(f"deepcart: warning: ignored {len(ignored)} rating(s) of products the model does not know: "
                   + "; ".join(ignored[:5]) + (" ..." if len(ignored) > 5 else ""), err=True)
    if not used:
        raise click.ClickException("none of the given ratings is of a product the model knows, so nothing would be "
                                   "personal; check the ASINs (parent_asin, upper case)")
    picks = pick(scorer.catalogue, scorer.scores(used), used, k=k, direction=direction, min_engagement=min_engagement)
    if as_json:
        click.echo(json.dumps({"direction": direction, "history": len(used), "ignored": len(history) - len(used),
                               "picks": [p.to_json() for p in picks]}, indent=2))
    else:
        click.echo(render_picks(picks, direction))


@click.command("run")
@click.option("--data-tag", help="Dataset tag (default: the embedded synthetic dataset, built on first use).")
@DATA_DIR_OPTION
@click.option("--recommender", "recommenders", multiple=True, metavar="NAME",
              help="Recommender(s) to compare. Repeatable. Default: knn (the best worst lists on the real "
                   "sets, README 'Quality on real data').")
@click.option("--metric", "metrics", multiple=True, metavar="NAME[@K]", help="Metric(s). Repeatable.")
@click.option("-o", "--option", "options", multiple=True, metavar="NAME.KEY=VALUE or KEY=VALUE",
              help="Recommender option; prefix with the recommender's name when comparing several.")
@click.option("--epochs", type=click.IntRange(min=1), help="Epochs for neural recommenders.")
@click.option("--k", "default_k", type=click.IntRange(min=1), default=10, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--min-engagement", type=click.IntRange(min=0), default=DEFAULT_MIN_ENGAGEMENT, show_default=True,
              help="Engagement rule: the ranking metrics and the sample picks consider only items with at "
                   "least this many ratings.")
@click.option("--models-dir", type=click.Path(file_okay=False, path_type=Path),
              help="Where to save the trained models (default: <data dir>/models).")
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON.")
@click.option("-q", "--quiet", is_flag=True, help="No progress output.")
@click.pass_obj
def run_command(plugins, data_tag, data_dir, recommenders, metrics, options, epochs, default_k, seed, min_engagement,
                models_dir, as_json, quiet) -> None:
    """The main job: build -> split -> train -> evaluate, then worst picks for a test user.

    With no --data-tag it uses the embedded default (a synthetic Electronics-like dataset, generated
    and built on first use). Several --recommender / --metric flags give a comparison table. Each
    trained model is saved under <data dir>/models/<tag>/ (a new folder per run).
    """

    from deepcart.pipeline.default_dataset import tag_or_default
    from deepcart.pipeline.evaluate import default_metrics, parse_metric
    from deepcart.pipeline.experiment import evaluate_model, fit_recommender
    from deepcart.pipeline.model_store import save_model, tag_manifest_sha256
    from deepcart.pipeline.picks import CatalogueScorer, load_catalogue, pick, render_picks
    from deepcart.pipeline.ratings_io import ratings_from_parquet
    from deepcart.pipeline.splits import split_dataset
    from deepcart.pipeline.tags import default_data_dir

    registry = plugins.registry
    echo = _echo(quiet)
    data_dir = data_dir or default_data_dir()
    recommenders = recommenders or (DEFAULT_RECOMMENDER,)
    planned = {name: checked_options(registry, name, _run_options(registry, name, options, epochs))
               for name in recommenders}  # unknown names and bad options fail before any work
    metric_names = metrics or default_metrics(registry)
    for metric in metric_names:
        parse_metric(metric, default_k, registry)
    data_tag, tag_dir = tag_or_default(registry, data_tag, data_dir, echo=echo,
                                       progress=not quiet and sys.stderr.isatty())
    split = split_dataset(tag_dir, registry, DEFAULT_SPLITTER, seed=seed, echo=echo)
    per_model: dict[str, Any] = {}
    last_model = None
    stamp = time.strftime("%Y%m%d-%H%M%S")
    for name in recommenders:
        opts = planned[name]
        model, train = fit_recommender(registry, name, opts, split, seed=seed, echo=echo, quiet=quiet)
        report = evaluate_model(model, split, "test", metric_names, registry, k=default_k,
                                min_engagement=min_engagement, train=train, quiet=quiet)
        per_model[name] = report
        out = (models_dir or data_dir / "models") / data_tag / f"{name}-{stamp}"
        for n in range(2, 1000):  # two runs in one second: a new folder, never a clash
            if not out.exists():
                break
            out = out.with_name(f"{name}-{stamp}-{n}")
        save_model(model, out, recommender=name, data_tag=data_tag, tag_sha256=tag_manifest_sha256(tag_dir),
                   metrics={"test": {f"{r['metric']}/{r['direction']}": r["value"] for r in report.rows}},
                   extra={"seed": seed})
        echo(f"Saved {name} to {out}")
        last_model = (name, model, out)

    rows = _comparison(per_model)
    user, picks = None, []
    if last_model is not None:
        name, model, _ = last_model
        inputs = ratings_from_parquet(split.part("test_input"))  # user_ids come sorted
        if len(inputs.user_ids):
            user = str(inputs.user_ids[0])
            history = inputs.user_history(user)
            scorer = CatalogueScorer(model, load_catalogue(tag_dir))
            picks = pick(scorer.catalogue, scorer.scores(history), history, k=5, direction="worst",
                         min_engagement=min_engagement)
    if as_json:
        click.echo(json.dumps({"data_tag": data_tag, "recommenders": list(recommenders), "metrics": rows,
                               "sample_user": user, "worst_picks": [p.to_json() for p in picks]}, indent=2))
        return
    evaluated = max((report.n_users for report in per_model.values()), default=0)
    ranking = any(row["direction"] != "-" for row in rows)
    click.echo(f"Test users of {data_tag!r}: {evaluated:,}"
               + (f"; ranking metrics over items with >= {min_engagement} train ratings" if ranking else ""))
    click.echo(render_comparison(rows, list(recommenders)))
    if user:
        click.echo(f"\nSample: worst picks for test user {user} by {last_model[0]} "
                   f"(items with >= {min_engagement} ratings)")
        click.echo(render_picks(picks, "worst"))


def _run_options(registry, name: str, options, epochs: int | None) -> dict[str, Any]:
    """The options of one recommender of ``run``: ``NAME.key=value`` for it, ``key=value`` if it has the key."""
    prefixed = [o.split(".", 1)[1] for o in options if o.split("=", 1)[0].startswith(name + ".")]
    plain = [o for o in options if "." not in o.split("=", 1)[0]]
    fields = getattr(registry.get("recommender", name).obj.Config, "model_fields", {})
    return _options(registry, name, [o for o in plain if o.split("=", 1)[0].strip().replace("-", "_") in fields]
                    + prefixed, epochs if "epochs" in fields else None)


def _comparison(per_model: dict[str, Any]) -> list[dict[str, Any]]:
    table: dict[tuple[str, str], dict[str, Any]] = {}
    for name, report in per_model.items():
        for r in report.rows:
            row = table.setdefault((r["metric"], r["direction"]), {"metric": r["metric"], "direction": r["direction"],
                                                                   "higher_is_better": r["higher_is_better"]})
            row[name] = r["value"]
    return list(table.values())


def render_comparison(rows: list[dict[str, Any]], names: list[str]) -> str:
    """The comparison table: one row per metric and direction, one column per recommender."""
    header = ["metric", "direction", *names]
    body = [[r["metric"], r["direction"], *(f"{r[n]:.4f}" if n in r else "-" for n in names)] for r in rows]
    widths = [max(len(str(x[i])) for x in [header, *body]) for i in range(len(header))]
    lines = ["  ".join(str(c).ljust(widths[i]) if i < 2 else str(c).rjust(widths[i]) for i, c in enumerate(line))
             for line in [header, *body]]
    return "\n".join(lines)


@hookimpl
def register_commands(cli) -> None:
    """Add ``train``, ``recommend`` and ``run``."""
    cli.add_command(train_command)
    cli.add_command(recommend_command)
    cli.add_command(run_command)

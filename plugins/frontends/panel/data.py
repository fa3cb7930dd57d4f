"""Loading the dashboard's shared data: a dataset tag's catalogue and the model folders, once per process.

Every failure (a missing tag, a model of another build, a folder that is not a model) becomes a
message in :attr:`DashboardData.problems <deepcart.plugins.frontends.panel.state.DashboardData.problems>`,
shown in the page instead of a traceback.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from deepcart.pipeline.picks import Catalogue
from deepcart.plugins.frontends.panel.state import (
    DashboardData,
    LoadedModel,
    SessionScorer,
    train_command_line,
)


def empty_catalogue() -> Catalogue:
    """A catalogue with no items (when the dataset could not be read)."""
    obj = np.array([], dtype=object)
    return Catalogue(ids=np.array([], dtype=str), titles=obj, stores=obj, prices=np.array([], float),
                     mean_rating=np.array([], float), n_ratings=np.array([], np.int64),
                     review_rating=np.array([], float), review_title=obj, review_text=obj,
                     review_votes=np.array([], np.int64), categories=obj)


def load_dashboard_data(data_tag: str, data_dir: Path | None, model_dirs: Sequence[Path], registry,
                        echo=lambda message: None, any_build: bool = False) -> DashboardData:
    """Load a tag's catalogue and the given models; every failure becomes a message in ``problems``.

    A model trained on another build of the dataset, a folder that is not a model, a recommender no
    plugin provides: each is reported with the command that fixes it, and the other models still
    load. No model at all is a problem too: the page then explains how to train one.
    """
    from deepcart.pipeline.tags import read_manifest, tag_path
    from deepcart.errors import DeepcartError
    from deepcart.pipeline.model_store import load_model, tag_manifest_sha256
    from deepcart.pipeline.picks import load_catalogue

    names = registry.names("recommender")
    # The first personalised recommender registered (built-ins register first), else the first one.
    suggested = next((n for n in names if registry.get("recommender", n).obj.personalised),
                     names[0] if names else "RECOMMENDER")
    problems: list[str] = []
    failures: list[str] = []

    def failed(message: str) -> None:
        problems.append(message)
        failures.append(message)

    started = time.perf_counter()
    try:
        read_manifest(data_tag, data_dir)  # a clear error when the tag does not exist
        tag_dir = tag_path(data_tag, data_dir)
        catalogue = load_catalogue(tag_dir)
        star_counts, sample_users = _tag_extras(tag_dir, catalogue)
        tag_sha = tag_manifest_sha256(tag_dir)
    except Exception as exc:  # a missing tag, unreadable Parquet, ...: a message, not a traceback
        failed(exc.message if isinstance(exc, DeepcartError) else
               f"cannot read dataset {data_tag!r}: {type(exc).__name__}: {exc}")
        return DashboardData(data_tag, empty_catalogue(), problems=problems, failures=failures,
                             train_hint=train_command_line(data_tag, suggested))
    echo(f"Loaded {len(catalogue):,} items of dataset {data_tag!r} in {time.perf_counter() - started:.1f} s.")

    models: dict[str, LoadedModel] = {}
    for folder in model_dirs:
        folder = Path(folder)
        try:
            model, manifest = load_model(folder, registry, tag_sha256=tag_sha, any_build=any_build)
            scorer = SessionScorer(model, catalogue)
        except DeepcartError as exc:
            failed(f"Model {folder} was not loaded: {exc.message}")
            continue
        except Exception as exc:  # a third-party model's bug must not take the page down
            failed(f"Model {folder} was not loaded: {type(exc).__name__}: {exc}")
            continue
        if not len(scorer.rows):
            failed(f"Model {folder} knows none of the items of dataset {data_tag!r}; "
                   f"train one on it with `{train_command_line(data_tag, suggested)}`.")
            continue
        recommender = manifest["recommender"]
        models[f"{recommender}\0{folder}"] = LoadedModel(recommender, folder, recommender, manifest, scorer)
        echo(f"Loaded model {recommender} from {folder}.")
    models = short_labels(models)
    if not models:
        problems.append(f"No model is loaded for dataset {data_tag!r}. Train one with "
                        f"`{train_command_line(data_tag, suggested)}`, then serve it with "
                        f"`deepcart serve --data-tag {data_tag} --model DIR`.")
    return DashboardData(data_tag, catalogue, models, problems, failures, star_counts, sample_users, tag_dir,
                         train_hint=train_command_line(data_tag, suggested))


def short_labels(models: dict[str, LoadedModel]) -> dict[str, LoadedModel]:
    """The models under labels that fit the sidebar: the recommender's name, and the folder's
    name only where two models share a recommender (the page shows the folder of the chosen one)."""
    from collections import Counter

    shared = Counter(m.recommender for m in models.values())
    out: dict[str, LoadedModel] = {}
    for model in models.values():
        label = model.recommender if shared[model.recommender] == 1 else f"{model.recommender} · {model.folder.name}"
        while label in out:
            label += "'"
        model.label = label
        out[label] = model
    return out


def _tag_extras(tag_dir: Path, catalogue: Catalogue) -> tuple[np.ndarray, list[tuple[str, int]]]:
    """Per-item 1..5-star counts aligned with the catalogue, and a few users to start as."""
    import duckdb

    from deepcart.pipeline.tags import INTERACTIONS
    from deepcart.toolkit.sql import sql_str

    path = Path(tag_dir) / INTERACTIONS
    con = duckdb.connect()
    try:
        table = con.sql(f"""
            SELECT parent_asin,
                   {", ".join(f"count(*) FILTER (WHERE round(rating) = {s}) AS s{s}" for s in range(1, 6))}
            FROM read_parquet({sql_str(path)}) GROUP BY parent_asin
        """).fetchnumpy()
        users = con.sql(f"""
            SELECT user_id, count(*) AS n FROM read_parquet({sql_str(path)}) GROUP BY user_id
            HAVING n BETWEEN 5 AND 200 ORDER BY n DESC, user_id LIMIT 12
        """).fetchall()
    finally:
        con.close()
    counts = np.zeros((len(catalogue), 5), dtype=np.int64)
    pos, found = catalogue.index_of(np.asarray(table["parent_asin"]).astype(str))
    for s in range(5):
        counts[pos[found], s] = np.asarray(table[f"s{s + 1}"])[found]
    return counts, [(str(u), int(n)) for u, n in users]

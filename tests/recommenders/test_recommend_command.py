"""`deepcart recommend` and `deepcart run` on a small synthetic tag."""

from __future__ import annotations

import json

import numpy as np
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from deepcart.cli import cli

ENV = {"DEEPCART_LOAD_PLUGINS": ""}


def invoke(*args):
    return CliRunner().invoke(cli, list(args), env=ENV)


@pytest.fixture(scope="module")
def naive_model(synthetic_tag, tmp_path_factory):
    """naive ranking by stars alone: its lists are sorted by predicted stars."""
    data_dir, tag = synthetic_tag
    out = tmp_path_factory.mktemp("models") / "naive"
    result = invoke("train", "--data-dir", str(data_dir), "--data-tag", tag, "--recommender", "naive",
                    "-o", "engagement=none", "--out", str(out), "-q")
    assert result.exit_code == 0, result.output
    return out


@pytest.fixture(scope="module")
def knn_model(synthetic_tag, tmp_path_factory):
    """knn with its default ranking: engagement and stars together."""
    data_dir, tag = synthetic_tag
    out = tmp_path_factory.mktemp("models") / "knn"
    result = invoke("train", "--data-dir", str(data_dir), "--data-tag", tag, "--recommender", "knn",
                    "--out", str(out), "-q")
    assert result.exit_code == 0, result.output
    return out


def test_recommend_ranks_by_the_documented_relevance(synthetic_tag, knn_model):
    """The picks of `deepcart recommend` are the top of log(engagement) -/+ w * stars, as documented."""
    from deepcart.pipeline.model_store import load_model
    from deepcart.pipeline.picks import CatalogueScorer, load_catalogue
    from deepcart.plugin_manager import load_plugins

    data_dir, tag = synthetic_tag
    rated = popular_items(data_dir, tag)
    history = [(a, 1.0) for a in rated]
    model, _ = load_model(knn_model, load_plugins(strict=False, only=None).registry)
    catalogue = load_catalogue(data_dir / tag)
    scored = CatalogueScorer(model, catalogue).scores(history)
    assert scored.engagement is not None and scored.stars_weights == model.stars_weights
    for direction in ("worst", "best"):
        out = invoke("recommend", "--model", str(knn_model), "--data-dir", str(data_dir), "--json", "--k", "8",
                     "--min-engagement", "10", "--direction", direction, *sum((["--rate", f"{a}:1"] for a in rated), []))
        picks = json.loads(out.output)["picks"]
        rows, _ = catalogue.index_of([p["parent_asin"] for p in picks])
        sign = 1 if direction == "best" else -1
        stars = scored.raw if scored.raw is not None else scored.stars  # ranked before clipping
        key = np.log(scored.engagement[rows]) + sign * model.stars_weights[direction] * stars[rows]
        assert np.all(np.diff(key) <= 1e-5), (direction, key)
        eligible = (catalogue.n_ratings >= 10) & ~np.isin(catalogue.ids, rated) & np.isfinite(scored.stars)
        full = np.log(scored.engagement[eligible]) + sign * model.stars_weights[direction] * stars[eligible]
        assert key[-1] >= np.sort(full)[-8] - 1e-5  # nothing better was left out


def popular_items(data_dir, tag, n=3):
    table = pq.read_table(data_dir / tag / "interactions.parquet", columns=["parent_asin"])
    counts = table.column("parent_asin").value_counts().to_pylist()
    return [c["values"] for c in sorted(counts, key=lambda c: -c["counts"])[:n]]


def test_recommend_worst_and_best_json(synthetic_tag, naive_model):
    data_dir, tag = synthetic_tag
    rated = popular_items(data_dir, tag)
    args = ["recommend", "--model", str(naive_model), "--data-dir", str(data_dir), "--json", "--k", "5",
            "--min-engagement", "10", *sum((["--rate", f"{a}:1"] for a in rated), [])]
    worst = json.loads(invoke(*args).output)
    best = json.loads(invoke(*args, "--direction", "best").output)
    assert len(worst["picks"]) == 5 and len(best["picks"]) == 5
    w, b = [p["predicted"] for p in worst["picks"]], [p["predicted"] for p in best["picks"]]
    assert w == sorted(w) and b == sorted(b, reverse=True) and max(w) < min(b)
    for p in worst["picks"]:
        assert p["n_ratings"] >= 10 and p["parent_asin"] not in rated
        assert set(p) >= {"title", "store", "price", "predicted", "mean_rating", "n_ratings", "review_excerpt"}
    # The most damning review is a real low-star review of that item.
    assert worst["picks"][0]["review_rating"] <= 2


def test_recommend_from_file_user_and_errors(synthetic_tag, naive_model, tmp_path):
    data_dir, tag = synthetic_tag
    rated = popular_items(data_dir, tag, 2)
    ratings = tmp_path / "me.jsonl"
    ratings.write_text("".join(json.dumps({"rating": 2.0, "parent_asin": a, "user_id": "ME"}) + "\n" for a in rated))
    ok = invoke("recommend", "--model", str(naive_model), "--data-dir", str(data_dir), "--ratings", str(ratings))
    assert ok.exit_code == 0 and "Worst picks:" in ok.output
    user = pq.read_table(data_dir / tag / "interactions.parquet", columns=["user_id"]).column("user_id")[0].as_py()
    assert invoke("recommend", "--model", str(naive_model), "--data-dir", str(data_dir), "--user", user).exit_code == 0
    nobody = invoke("recommend", "--model", str(naive_model), "--data-dir", str(data_dir), "--user", "NOBODY")
    assert nobody.exit_code != 0 and "no user 'NOBODY'" in nobody.output
    bad = invoke("recommend", "--model", str(naive_model), "--data-dir", str(data_dir), "--rate", "B000:9")
    assert bad.exit_code != 0 and "ASIN:STARS" in bad.output
    ratings.write_text('{"rating": 2.0, "parent_asin": "X"}\nnot json\n')
    broken = invoke("recommend", "--model", str(naive_model), "--data-dir", str(data_dir), "--ratings", str(ratings))
    assert broken.exit_code != 0 and "me.jsonl, line 2" in broken.output
    unknown = CliRunner().invoke(cli, ["recommend", "--model", str(naive_model), "--data-dir", str(data_dir),
                                       "--rate", "NOT-AN-ITEM:1"], env=ENV)
    # nothing known: nothing personal to show, so it is an error, not a silent popularity list
    assert unknown.exit_code == 1 and "none of the given ratings is of a product the model knows" in unknown.output


def test_recommend_points_out_mistyped_asins(synthetic_tag, knn_model):
    data_dir, tag = synthetic_tag
    real = popular_items(data_dir, tag, 2)
    typo = real[1][:-1] + ("X" if real[1][-1] != "X" else "Y")
    result = CliRunner().invoke(cli, ["recommend", "--model", str(knn_model), "--data-dir", str(data_dir), "--json",
                                      "--rate", f"{real[0]}:1", "--rate", f"{real[1].lower()}:2",
                                      "--rate", f"{typo}:2"], env=ENV)
    assert result.exit_code == 0, result.output
    assert f"{real[1].lower()} (did you mean {real[1]}?)" in result.output
    assert f"{typo} (did you mean {real[1]}?)" in result.output
    payload = json.loads(result.output[result.output.index("{"):])
    assert payload["history"] == 1 and payload["ignored"] == 2  # only the known rating was used


def test_run_compares_and_saves(synthetic_tag, tmp_path):
    data_dir, tag = synthetic_tag
    result = invoke("run", "--data-dir", str(data_dir), "--data-tag", tag, "--recommender", "naive",
                    "--metric", "rmse", "--metric", "ndcg@10", "--models-dir", str(tmp_path), "--json", "-q",
                    "--min-engagement", "5")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert {(m["metric"], m["direction"]) for m in report["metrics"]} == {("rmse", "-"), ("ndcg@10", "best"),
                                                                        ("ndcg@10", "worst")}
    assert report["worst_picks"] and report["sample_user"]
    saved = list((tmp_path / tag).iterdir())
    assert len(saved) == 1 and (saved[0] / "manifest.json").is_file()


def test_pick_ties_at_the_cut_prefer_engagement():
    import numpy as np

    from deepcart.pipeline.picks import Catalogue, CatalogueScorer, pick

    n = 50
    ids = np.array([f"B{i:09d}" for i in range(n)])
    cat = Catalogue(ids=ids, titles=np.array([None] * n, object), stores=np.array([None] * n, object),
                    prices=np.full(n, np.nan), mean_rating=np.full(n, 3.0), n_ratings=np.arange(100, 100 + n),
                    review_rating=np.full(n, 1.0), review_title=np.array([None] * n, object),
                    review_text=np.array([None] * n, object), review_votes=np.zeros(n, int))

    class Flat:
        item_ids = ids

        def fold_in(self, history, items=None):
            return np.full(n, 2.0, np.float32)  # every item tied

    picks = pick(cat, CatalogueScorer(Flat(), cat).scores([]), [], k=3, min_engagement=0)
    assert [p.n_ratings for p in picks] == [149, 148, 147]

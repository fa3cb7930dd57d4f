"""Fold-in moves the picks the right way: items like the ones a person hates move towards the worst."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from deepcart.cli import cli

ENV = {"DEEPCART_LOAD_PLUGINS": ""}


@pytest.fixture(scope="module")
def knn_model(synthetic_tag, tmp_path_factory):
    data_dir, tag = synthetic_tag
    out = tmp_path_factory.mktemp("knn") / "model"
    result = CliRunner().invoke(cli, ["train", "--data-dir", str(data_dir), "--data-tag", tag, "--recommender",
                                      "knn", "--out", str(out), "-q"], env=ENV)
    assert result.exit_code == 0, result.output
    return out


def worst(data_dir, model, rates, k=200):
    args = ["recommend", "--model", str(model), "--data-dir", str(data_dir), "--json", "--k", str(k),
            "--min-engagement", "5", *sum((["--rate", f"{a}:{s}"] for a, s in rates), [])]
    result = CliRunner().invoke(cli, args, env=ENV)
    assert result.exit_code == 0, result.output
    return {p["parent_asin"]: (p["rank"], p["predicted"]) for p in json.loads(result.output)["picks"]}


def test_rating_items_1_star_pushes_their_neighbours_towards_the_worst(synthetic_tag, knn_model):
    from deepcart.pipeline.model_store import load_model
    from deepcart.plugin_manager import load_plugins

    data_dir, _ = synthetic_tag
    model, _ = load_model(knn_model, load_plugins(entry_points=False).registry)
    graph = model.neighbour_graph.tocsr()
    items = np.asarray(model.item_ids)
    # Two well-connected items to hate, and their strongest positive neighbours.
    degree = np.diff(graph.indptr)
    hated = [int(i) for i in np.argsort(-degree, kind="stable")[:2]]
    neighbours = set()
    for i in hated:
        row = slice(graph.indptr[i], graph.indptr[i + 1])
        cols, sims = graph.indices[row], graph.data[row]
        neighbours |= {int(c) for c in cols[np.argsort(-sims)[:10]] if c not in hated}
    baseline_person = [(str(items[j]), 5.0) for j in np.argsort(degree)[:3]]  # a little unrelated history
    before = worst(data_dir, knn_model, baseline_person, k=len(items))
    after = worst(data_dir, knn_model, baseline_person + [(str(items[i]), 1.0) for i in hated], k=len(items))
    moved = [(before[str(items[j])], after[str(items[j])]) for j in neighbours
             if str(items[j]) in before and str(items[j]) in after]
    assert len(moved) >= 5
    predicted_drop = np.mean([b[1] - a[1] for b, a in moved])
    rank_gain = np.mean([b[0] - a[0] for b, a in moved])
    assert predicted_drop > 0.05, "hating an item must lower the predictions of its neighbours"
    assert rank_gain > 0, "and move them up the worst list"
    # The top of the worst list changes.
    top_before = [a for a, (r, _) in sorted(before.items(), key=lambda kv: kv[1][0])[:10]]
    top_after = [a for a, (r, _) in sorted(after.items(), key=lambda kv: kv[1][0])[:10]]
    assert top_before != top_after

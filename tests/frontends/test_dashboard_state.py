"""The dashboard's state logic without a browser: search, rating, fold-in, filters, downloads, errors.

Most tests use a hand-made catalogue and a "group" model whose fold-in is known exactly: items come
in two styles, and a person's predicted rating of an item is the mean of their ratings of the same
style (the item's base score when they rated none). A few tests load a real synthetic tag, and a few
build the Panel view (no server, no browser) to check the wiring of widgets to the session.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from deepcart.pipeline.picks import Catalogue
from deepcart.plugins.frontends.panel.data import load_dashboard_data
from deepcart.plugins.frontends.panel.state import (
    SESSION_USER_PREFIX,
    DashboardData,
    DashboardSession,
    LoadedModel,
    SessionScorer,
    TitleIndex,
    tokenize,
)

# 12 products: A-style (even rows) and B-style (odd rows); row 11 is unknown to the model.
TITLES = [
    "Voltix Wireless Headphones, Over-Ear", "Nexora USB-C Hub 7-in-1", "Voltix Wireless Earbuds",
    "Nexora USB Cable, Braided", "Quantix Wireless Charger", "Nexora HDMI Cable 4K",
    "Voltix Headphone Stand", "Zentech USB-C Cable", "Quantix Wireless Mouse", "Zentech Phone Case",
    "Voltix Wireless Keyboard", "Mystery Gadget",
]
N_RATINGS = np.array([500, 400, 300, 250, 200, 150, 120, 100, 80, 60, 40, 30])
STYLE = np.arange(12) % 2
BASE = np.array([4.5, 4.4, 4.3, 4.2, 4.1, 4.0, 3.9, 3.8, 3.7, 3.6, 3.5, 3.4], dtype=np.float32)


def make_catalogue() -> Catalogue:
    n = len(TITLES)
    ids = np.array([f"B{i:09d}" for i in range(n)])
    return Catalogue(
        ids=ids, titles=np.array(TITLES, dtype=object), stores=np.array(["Store"] * n, dtype=object),
        prices=np.where(np.arange(n) % 3 == 0, np.nan, 10.0 + np.arange(n)), mean_rating=BASE.astype(float),
        n_ratings=N_RATINGS.copy(), review_rating=np.ones(n), review_title=np.array(["Broke"] * n, dtype=object),
        review_text=np.array(["It broke after a week."] * n, dtype=object), review_votes=np.arange(n),
        categories=np.array([["Electronics", "Audio"]] * n, dtype=object))


class GroupModel:
    """Predicts the mean of the person's same-style ratings, nudged by the item's base (no exact ties)."""

    personalised = True

    def __init__(self, n_known: int = 11):
        self.item_ids = np.array([f"B{i:09d}" for i in range(n_known)])
        self.calls = 0

    def fold_in(self, history, items=None):
        self.calls += 1
        index = {a: i for i, a in enumerate(self.item_ids)}
        scores = BASE[: len(self.item_ids)].copy()
        for style in (0, 1):
            stars = [r for a, r in history if a in index and STYLE[index[a]] == style]
            if stars:
                same = STYLE[: len(self.item_ids)] == style
                scores[same] = np.mean(stars) + (BASE[: len(self.item_ids)][same] - 4) / 100
        return scores


class BatchGroupModel(GroupModel):
    """The same model, also offering ``fold_in_batch`` (the path most real models take)."""

    def fold_in_batch(self, matrix):
        row = matrix.tocsr()[0]
        history = [(self.item_ids[c], float(v)) for c, v in zip(row.indices, row.data)]
        return self.fold_in(history)[None, :]


class NaiveLike(GroupModel):
    """Ignores the person, like the ``naive`` recommender."""

    personalised = False

    def fold_in(self, history, items=None):
        return BASE[: len(self.item_ids)].copy()


def make_data(*models: tuple[str, object]) -> DashboardData:
    catalogue = make_catalogue()
    models = models or (("group", GroupModel()),)
    loaded = {name: LoadedModel(name, Path(name), name, {"recommender": name}, SessionScorer(m, catalogue))
              for name, m in models}
    counts = np.zeros((len(catalogue), 5), dtype=np.int64)
    counts[:, 0] = np.arange(len(catalogue))  # item i has i one-star and 10 five-star ratings
    counts[:, 4] = 10
    return DashboardData("toy", catalogue, loaded, star_counts=counts)


def asin(row: int) -> str:
    return f"B{row:09d}"


@pytest.fixture
def data() -> DashboardData:
    return make_data()


@pytest.fixture
def session(data) -> DashboardSession:
    return DashboardSession(data, min_engagement=0)


# -- search -----------------------------------------------------------------------------------------


def test_tokenize_lowercases_and_splits_punctuation():
    assert tokenize("USB-C Hub, 7-in-1") == ["usb", "c", "hub", "7", "in", "1"]
    assert tokenize(None) == [] and tokenize("") == []


def test_search_and_matches_every_word_as_prefix_ranked_by_engagement():
    index = TitleIndex(TITLES, N_RATINGS)
    rows, total = index.search("wireless voltix")
    assert rows.tolist() == [0, 2, 10] and total == 3  # most-rated first
    rows, _ = index.search("HEAD")  # prefix, case-insensitive: headphones, headphone
    assert rows.tolist() == [0, 6]
    rows, _ = index.search("usb-c")  # usb AND c*: "c", "cable"
    assert rows.tolist() == [1, 3, 7]
    assert index.search("wireless toaster")[1] == 0
    assert index.search("  ,, ")[1] == 0


def test_search_limit_keeps_the_total():
    rows, total = TitleIndex(TITLES, N_RATINGS).search("wireless", limit=2)
    assert rows.tolist() == [0, 2] and total == 5


def test_search_finds_an_exact_asin_and_returns_details(session):
    found, total = session.search(asin(7).lower())
    assert [p["parent_asin"] for p in found] == [asin(7)] and total == 1
    item = found[0]
    assert item["title"] == "Zentech USB-C Cable" and item["store"] == "Store"
    assert item["price"] == pytest.approx(17.0) and item["n_ratings"] == 100
    assert item["mean_rating"] == pytest.approx(3.8) and item["categories"] == ["Electronics", "Audio"]
    assert session.details(asin(0))["price"] is None  # NaN price -> None
    assert session.details("B999999999") is None


def test_search_index_is_fast_on_a_large_catalogue():
    rng = np.random.default_rng(0)
    words = np.array([f"w{i}" for i in range(3000)])
    titles = [" ".join(rng.choice(words, 6)) for _ in range(20_000)]
    index = TitleIndex(titles, rng.integers(0, 1000, len(titles)))
    rows, total = index.search("w1 w2")
    assert total > 0 and all({"w1", "w2"} <= {w[:2] for w in titles[r].split()} for r in rows)


# -- rating and fold-in -----------------------------------------------------------------------------


@pytest.mark.parametrize("model", [GroupModel, BatchGroupModel], ids=["fold_in", "fold_in_batch"])
def test_picks_move_after_a_rating(model):
    session = DashboardSession(make_data(("group", model())), min_engagement=0, k=3)
    before = [p.parent_asin for p in session.picks().picks]
    assert before == [asin(10), asin(9), asin(8)]  # lowest base scores
    notice = session.rate(asin(0), 1, title="Broke", text="after a day")
    assert notice.level == "success"
    after = session.picks().picks
    # every other A-style item is now predicted at about 1 star and rises to the top of the worst list
    assert [p.parent_asin for p in after] == [asin(10), asin(8), asin(6)]
    assert all(p.predicted == pytest.approx(1.0, abs=0.01) for p in after)
    assert asin(0) not in {p.parent_asin for p in session.picks().picks}  # rated items are never picked


def test_best_direction_k_and_min_engagement(session):
    session.rate(asin(1), 5)
    session.set_direction("best")
    session.set_k(2)
    best = session.picks().picks
    assert [p.parent_asin for p in best] == [asin(3), asin(5)]  # B-style at about 5 stars
    session.set_min_engagement(200)
    assert {p.parent_asin for p in session.picks().picks} <= {asin(r) for r in range(12) if N_RATINGS[r] >= 200}
    session.set_min_engagement(10_000)
    assert session.picks().picks == []
    for bad in (lambda: session.set_direction("middling"), lambda: session.set_k(0),
                lambda: session.set_min_engagement(-1)):
        with pytest.raises(ValueError):
            bad()


def test_filters_do_not_ask_the_model_again(data):
    model = data.models["group"].scorer.model
    session = DashboardSession(data, min_engagement=0)
    session.picks()
    calls = model.calls
    session.set_k(5)
    session.set_direction("best")
    session.set_min_engagement(50)
    session.picks()
    assert model.calls == calls
    session.rate(asin(3), 2)
    session.picks()
    assert model.calls == calls + 1


def test_rating_again_replaces_and_unrate_forgets(session):
    session.rate(asin(0), 1)
    session.rate(asin(2), 4)
    session.rate(asin(0), 5)
    assert session.history() == [(asin(2), 4.0), (asin(0), 5.0)]
    assert [r["parent_asin"] for r in session.rated_rows()] == [asin(0), asin(2)]  # newest first
    assert session.details(asin(0))["your_rating"] == 5
    session.unrate(asin(0))
    assert session.history() == [(asin(2), 4.0)]
    session.clear()
    assert session.history() == []


def test_bad_ratings(session):
    notice = session.rate("B999999999", 3)
    assert notice.level == "danger" and "no product" in notice.text and session.history() == []
    for stars in (0, 6, 2.5, "3"):
        with pytest.raises(ValueError):
            session.rate(asin(0), stars)


def test_an_item_the_model_does_not_know_is_a_message_and_the_rest_works(session):
    notice = session.rate(asin(11), 1)
    assert notice.level == "warning" and "was not trained on it" in notice.text
    assert session.details(asin(11))["known_to_model"] is False
    session.rate(asin(1), 1)
    result = session.picks()
    assert result.unknown == [asin(11)]
    assert result.picks and result.picks[0].predicted == pytest.approx(1.0, abs=0.01)  # B-style still folds in


def test_a_model_that_ignores_ratings_says_so():
    session = DashboardSession(make_data(("naive", NaiveLike())), min_engagement=0)
    assert session.rate(asin(0), 1).level == "info"


def test_a_model_that_fails_while_scoring_is_a_message():
    class Broken(GroupModel):
        def fold_in(self, history, items=None):
            raise RuntimeError("boom")

    session = DashboardSession(make_data(("broken", Broken())), min_engagement=0)
    session.rate(asin(0), 1)
    result = session.picks()
    assert result.picks == [] and "Model broken failed: RuntimeError: boom" in result.error


def test_model_selector_switches_models():
    data = make_data(("group", GroupModel()), ("naive", NaiveLike()))
    session = DashboardSession(data, min_engagement=0, k=1)
    session.rate(asin(0), 1)
    assert session.picks().picks[0].predicted == pytest.approx(1.0, abs=0.01)
    session.set_model("naive")
    assert session.picks().model == "naive" and session.picks().picks[0].predicted == pytest.approx(3.5)
    with pytest.raises(ValueError):
        session.set_model("nope")


def test_sessions_do_not_share_ratings(data):
    first, second = DashboardSession(data, min_engagement=0), DashboardSession(data, min_engagement=0)
    first.rate(asin(0), 1)
    assert second.history() == [] and first.user_id != second.user_id
    assert [p.parent_asin for p in second.picks().picks] != [p.parent_asin for p in first.picks().picks]


def test_star_shares_compare_picks_with_the_catalogue(session):
    session.set_k(2)
    picks = session.picks().picks  # rows 10 and 9: 19 one-star and 20 five-star ratings
    shares = session.star_shares(picks)
    assert shares["picks"] == pytest.approx([19 / 39, 0, 0, 0, 20 / 39])
    assert shares["catalogue"] == pytest.approx(np.array([66, 0, 0, 0, 120]) / 186)
    assert session.star_shares([])["picks"] == pytest.approx(np.zeros(5))


# -- download -------------------------------------------------------------------------------------


def test_download_is_amazon_2023_jsonl_that_recommend_reads(session, tmp_path):
    from deepcart.plugins.commands.model_commands import read_ratings_file

    session.rate(asin(0), 1, title="  Broke  ", text="After a day.")
    session.rate(asin(3), 5)
    lines = session.to_jsonl().splitlines()
    records = [json.loads(line) for line in lines]
    assert set(records[0]) == {"rating", "title", "text", "images", "asin", "parent_asin", "user_id", "timestamp",
                               "helpful_vote", "verified_purchase"}
    assert records[0]["rating"] == 1.0 and records[0]["title"] == "Broke" and records[0]["text"] == "After a day."
    assert records[0]["parent_asin"] == records[0]["asin"] == asin(0)
    assert records[0]["user_id"].startswith(SESSION_USER_PREFIX) and records[0]["user_id"] == records[1]["user_id"]
    assert records[0]["images"] == [] and records[0]["helpful_vote"] == 0 and records[0]["verified_purchase"] is False
    assert isinstance(records[0]["timestamp"], int) and records[0]["timestamp"] > 1_600_000_000_000  # ms
    path = tmp_path / session.download_name()
    path.write_text(session.to_jsonl())
    assert read_ratings_file(path) == [(asin(0), 1.0), (asin(3), 5.0)]


# -- loading a real tag -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def naive_model(synthetic_tag, tmp_path_factory):
    """A ``naive`` model folder trained on the synthetic tag (in-process: fast)."""
    from deepcart.pipeline.tags import INTERACTIONS, tag_path
    from deepcart.pipeline.model_store import save_model, tag_manifest_sha256
    from deepcart.plugins.recommenders.naive import NaiveRecommender
    from deepcart.pipeline.ratings_io import ratings_from_parquet

    data_dir, tag = synthetic_tag
    tag_dir = tag_path(tag, data_dir)
    model = NaiveRecommender().fit(ratings_from_parquet(tag_dir / INTERACTIONS))
    folder = tmp_path_factory.mktemp("models") / "naive"
    save_model(model, folder, recommender="naive", data_tag=tag, tag_sha256=tag_manifest_sha256(tag_dir))
    return folder


@pytest.fixture
def registry():
    from deepcart.plugin_manager import load_plugins

    return load_plugins(entry_points=False).registry


def test_load_real_tag_start_as_user_and_download(synthetic_tag, naive_model, registry):
    data_dir, tag = synthetic_tag
    messages = []
    data = load_dashboard_data(tag, data_dir, [naive_model], registry, echo=messages.append)
    assert data.usable and data.problems == [] and len(data.catalogue) > 100
    assert any("Loaded model naive" in m for m in messages)
    assert data.star_counts.sum() == data.catalogue.n_ratings.sum()
    session = DashboardSession(data)
    assert session.picks().picks  # default filters give picks on the small tag
    user, n = data.sample_users[0]
    assert session.start_as_user(user).level == "success"
    assert len(session.history()) == n and session.started_from == user
    records = [json.loads(line) for line in session.to_jsonl().splitlines()]
    assert len(records) == n and all(r["user_id"] == session.user_id for r in records)
    assert session.start_as_user("NO-SUCH-USER").level == "danger" and len(session.history()) == n
    found, total = session.search("cable")
    assert total > 0 and all(any(w.startswith("cable") for w in tokenize(p["title"])) for p in found)


def test_starting_as_a_user_asks_before_replacing_the_persons_own_ratings(synthetic_tag, naive_model, registry):
    data_dir, tag = synthetic_tag
    data = load_dashboard_data(tag, data_dir, [naive_model], registry)
    session = DashboardSession(data)
    found, _ = session.search("cable")
    session.rate(found[0]["parent_asin"], 2)
    user, n = data.sample_users[0]
    question = session.start_as_user(user)
    assert question.level == "confirm" and "replaces your 1 rating" in question.text
    assert list(session.ratings) == [found[0]["parent_asin"]]  # nothing replaced yet
    assert session.start_as_user(user, confirmed=True).level == "success" and len(session.history()) == n
    assert session.start_as_user(data.sample_users[1][0]).level == "success"  # a dataset user's: no question


def test_each_pick_quotes_the_review_that_fits_its_direction(synthetic_tag, naive_model, registry):
    pytest.importorskip("panel")
    from deepcart.plugins.frontends.panel.view import DashboardView, render_picks

    data_dir, tag = synthetic_tag
    data = load_dashboard_data(tag, data_dir, [naive_model], registry)
    cat = data.catalogue
    session = DashboardSession(data, min_engagement=0, k=20)
    worst = session.picks()
    session.set_direction("best")
    best = session.picks()
    for result, kind, column in ((worst, "most damning", cat.review_rating), (best, "most glowing", cat.glowing_rating)):
        assert result.picks and all(p.review_kind == kind for p in result.picks)
        rows, _ = cat.index_of([p.parent_asin for p in result.picks])
        assert [p.review_rating for p in result.picks] == column[rows].tolist()
        assert f"{kind.capitalize()} review" in render_picks(result)
    assert max(p.review_rating for p in best.picks) == 5 and min(p.review_rating for p in worst.picks) == 1
    view = DashboardView(DashboardSession(data, min_engagement=0))
    assert not view.results.visible  # no empty table before the first search
    view.run_search("cable")
    assert view.results.visible
    top = max([*view.chart_source.data["picks"], *view.chart_source.data["catalogue"]])
    assert view.chart.y_range.end >= top * 1.1  # the tallest bar is not cut


def test_pick_wording():
    pytest.importorskip("panel")
    from deepcart.pipeline.picks import Pick
    from deepcart.plugins.frontends.panel.view import _render_pick

    pick = Pick(1, "B0NOMETA", None, None, None, 2.0, 2.5, 30, 1.0, "Bad", "It broke.", 1)
    html = _render_pick(pick)
    assert "1 person found this helpful" in html and "people" not in html
    assert "B0NOMETA" in html and "no details in the item file" in html


def test_model_labels_fit_the_sidebar(synthetic_tag, naive_model, registry, tmp_path):
    """The selector shows the recommender's name; the folder's only where two models share one."""
    import shutil

    data_dir, tag = synthetic_tag
    twin = tmp_path / "naive-20261207-101010"
    shutil.copytree(naive_model, twin)
    one = load_dashboard_data(tag, data_dir, [naive_model], registry)
    assert list(one.models) == ["naive"]
    two = load_dashboard_data(tag, data_dir, [naive_model, twin], registry)
    assert list(two.models) == [f"naive · {naive_model.name}", "naive · naive-20261207-101010"]
    assert all(label == model.label for label, model in two.models.items())


def test_no_model_or_a_bad_model_is_a_message_with_the_train_command(synthetic_tag, naive_model, registry,
                                                                     tmp_path):
    data_dir, tag = synthetic_tag
    data = load_dashboard_data(tag, data_dir, [], registry)
    assert not data.usable
    assert any(f"deepcart train --data-tag {tag}" in p for p in data.problems)
    assert data.failures == []  # advice, not a failure: serve still starts and shows it

    not_a_model = tmp_path / "empty"
    not_a_model.mkdir()
    data = load_dashboard_data(tag, data_dir, [not_a_model, naive_model], registry)
    assert data.usable and list(data.models) == ["naive"]
    assert len(data.problems) == 1 and "not a deepcart model folder" in data.problems[0]
    assert data.failures == data.problems  # a named model that did not load

    # the same model against another build of the dataset: refused, with the way out
    other = shutil.copytree(data_dir / tag, tmp_path / "other")
    (other / "manifest.json").write_text((other / "manifest.json").read_text() + "\n")
    data = load_dashboard_data("other", tmp_path, [naive_model], registry)
    assert not data.usable
    assert any("not on this one" in p for p in data.problems)
    assert any("deepcart train --data-tag other" in p for p in data.problems)

    data = load_dashboard_data("no-such-tag", data_dir, [naive_model], registry)
    assert not data.usable and "Build one with `deepcart build`" in data.problems[0]
    assert data.failures == data.problems


# -- the Panel view, without a browser ---------------------------------------------------------------


def test_view_wires_search_rating_and_filters(data):
    pytest.importorskip("panel")
    from deepcart.plugins.frontends.panel.view import DashboardView

    view = DashboardView(DashboardSession(data, min_engagement=0))
    first = view.picks_pane.object
    assert 'data-direction="worst"' in first and first.count('class="dc-pick"') == 10
    view.search.value_input = "wireless"
    assert view.results.value["Title"].tolist()[0] == TITLES[0]
    assert all(b.disabled for b in view.star_buttons)
    view.results.selection = [0]
    assert view.selected == asin(0) and not any(b.disabled for b in view.star_buttons)
    view.review_title.value = "Meh"
    view.star_buttons[0].clicks += 1  # 1 star
    assert view.session.ratings[asin(0)].title == "Meh" and view.review_title.value == ""
    assert view.picks_pane.object != first and "updated in" in view.picks_pane.object
    assert view.ratings_table.value["parent_asin"].tolist() == [asin(0)]
    view.direction.value = "best"
    assert 'data-direction="best"' in view.picks_pane.object and "Your best picks" in view.picks_pane.object
    view.k_select.value = 5
    assert view.picks_pane.object.count('class="dc-pick"') == 5
    assert sum(view.chart_source.data["picks"]) == pytest.approx(1.0)
    assert view._download().read().decode().count("\n") == 1
    import param

    with param.edit_constant(view.engagement):  # the browser sets it when the slider is released
        view.engagement.value_throttled = 450
    assert "No candidates" in view.picks_pane.object  # only B000000000 has >= 450 ratings, and it is rated
    view._on_remove(SimpleNamespace(row=0))  # the ✕ of the first row of "your ratings"
    assert view.session.ratings == {} and len(view.ratings_table.value) == 0
    assert view.picks_pane.object.count('class="dc-pick"') == 1
    view.user_input.value = "NO-SUCH-USER"
    view.user_button.clicks += 1
    assert view.alert.visible and view.alert.alert_type == "danger" and "NO-SUCH-USER" in view.alert.object


def test_an_error_in_a_callback_is_shown_in_the_page(data, monkeypatch):
    """A bug in a handler is a message above the search box, not a silent half-done action."""
    pytest.importorskip("panel")
    from deepcart.plugins.frontends.panel.view import DashboardView

    view = DashboardView(DashboardSession(data, min_engagement=0))

    def broken(*_args, **_kwargs):
        raise KeyError("no such thing")

    monkeypatch.setattr(view.session, "set_direction", broken)
    view.direction.value = "best"
    assert view.alert.visible and view.alert.alert_type == "danger"
    assert "KeyError" in view.alert.object and "no such thing" in view.alert.object


def test_serve_command_loads_once_and_reports_problems(synthetic_tag, naive_model, monkeypatch):
    """`deepcart serve` wiring, with the server itself replaced: what would it serve?"""
    from click.testing import CliRunner

    import deepcart.plugins.frontends.panel.server as server_module
    from deepcart.cli import cli

    served = []

    def fake_serve(data, **kw):
        served.append((data, kw))
        kw["on_listening"]()  # the address is printed once the server listens, by this callback

    monkeypatch.setattr(server_module, "serve", fake_serve)
    monkeypatch.setenv("DEEPCART_LOAD_PLUGINS", "")
    data_dir, tag = synthetic_tag
    result = CliRunner().invoke(cli, ["serve", "--data-dir", str(data_dir), "--model", str(naive_model),
                                      "--port", "5099"])
    assert result.exit_code == 0, result.output
    data, options = served[-1]
    assert data.data_tag == tag and data.usable  # the tag comes from the model's manifest
    assert {k: v for k, v in options.items() if k not in ("on_listening", "allow_hosts")} == {
        "port": 5099, "address": "127.0.0.1", "show": False, "max_sessions": 20, "idle_minutes": 60.0}
    assert "http://127.0.0.1:5099/" in result.output

    # What the person named must load, or nothing is served.
    served.clear()
    for args, why in ((["--model", str(data_dir / "no-such-model")], "no-such-model"),
                      (["--data-tag", "no-such-tag"], "no-such-tag")):
        bad = CliRunner().invoke(cli, ["serve", "--data-dir", str(data_dir), *args, "--port", "5099"])
        assert bad.exit_code == 1 and "not serving" in bad.output and why in bad.output, bad.output
        assert "http://" not in bad.output
    assert not served

    result = CliRunner().invoke(cli, ["serve", "panel", "--data-dir", str(data_dir), "--data-tag", tag])
    assert result.exit_code == 0, result.output
    data, _ = served[-1]
    assert not data.usable and "deepcart: warning: No model is loaded" in result.output
    assert "Traceback" not in result.output


def test_a_taken_port_is_an_error_before_any_address_is_printed(synthetic_tag, naive_model, monkeypatch):
    import socket

    from click.testing import CliRunner

    from deepcart.cli import cli

    pytest.importorskip("panel")
    monkeypatch.setenv("DEEPCART_LOAD_PLUGINS", "")
    data_dir, _ = synthetic_tag
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = CliRunner().invoke(cli, ["serve", "--data-dir", str(data_dir), "--model", str(naive_model),
                                          "--port", str(port)])
    assert result.exit_code == 1 and f"cannot listen on 127.0.0.1:{port}" in result.output, result.output
    assert "http://" not in result.output


def test_page_without_a_model_explains_how_to_train_one():
    pytest.importorskip("panel")
    from deepcart.plugins.frontends.panel.view import make_app, render_problems

    data = make_data()
    data.models.clear()
    data.problems.append("No model is loaded for dataset 'toy'. Train one with `deepcart train ...`.")
    html = render_problems(data)
    assert "<code>deepcart train ...</code>" in html and "deepcart train --data-tag toy" in html
    assert "Traceback" not in html
    make_app(data)  # builds without raising


def test_help_does_not_import_panel():
    code = (
        "import sys\n"
        "from click.testing import CliRunner\n"
        "from deepcart.cli import cli\n"
        "out = CliRunner().invoke(cli, ['serve', 'panel', '--help']).output\n"
        "assert '--model DIR' in out and '--show / --no-show' in out and '5006' in out, out\n"
        "out = CliRunner().invoke(cli, ['--help']).output\n"
        "assert 'panel' not in sys.modules and 'bokeh' not in sys.modules\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            env={**os.environ, "DEEPCART_LOAD_PLUGINS": ""})
    assert result.returncode == 0, result.stderr

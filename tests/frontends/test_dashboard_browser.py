"""The dashboard in a real browser: ``deepcart serve`` in a subprocess, driven by Playwright + Chromium.

One test, one server, one browser (start-up dominates the cost): search, rate three products, see the
worst picks change, download the ratings, switch to the best picks, and check that a second browser
context (another person) sees none of the first one's ratings, that no request left 127.0.0.1, and
save a screenshot (``DEEPCART_UPDATE_SCREENSHOT=1`` also copies it to ``docs/dashboard.png``).

The model is ``toysvd``, a tiny personalised recommender installed for the test as a real
distribution (a ``.dist-info`` with an entry point, on the server's ``PYTHONPATH``), because the
picks only move after a rating when the model folds the person's ratings in.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import time
from pathlib import Path
from urllib.parse import urlparse

import pytest

from deepcart.toolkit.testing import CHROMIUM, CHROMIUM_ARGS

REPO = Path(__file__).resolve().parents[2]
LOCAL_HOSTS = {"127.0.0.1", "localhost"}

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"Chromium not found at {CHROMIUM} (apt-get install chromium)"),
    pytest.mark.skipif(importlib.util.find_spec("playwright") is None,
                       reason="playwright is not installed (pip install 'playwright==1.64.*')"),
]

TOY_PLUGIN = '''
"""Test-only recommender ``toysvd``: item factors of a truncated SVD, fold-in by ridge regression."""

from pathlib import Path

import numpy as np
import pydantic

from deepcart import hookimpl


class ToySVDConfig(pydantic.BaseModel):
    factors: int = 16
    reg: float = 1.0
    damping: float = 5.0


class ToySVD:
    """A small personalised model (test only)."""

    Config = ToySVDConfig
    personalised = True

    def __init__(self, config=None):
        self.config = config or ToySVDConfig()
        self._items = np.array([], dtype=str)

    @property
    def item_ids(self):
        return self._items

    def fit(self, train, *, seed=0, validation=None):
        import scipy.sparse as sp
        from scipy.sparse.linalg import svds

        n = len(train.item_ids)
        sums = np.bincount(train.items, weights=train.values, minlength=n)
        counts = np.bincount(train.items, minlength=n)
        d = self.config.damping
        self._base = ((sums + d * train.values.mean()) / (counts + d)).astype(np.float32)
        centred = sp.csr_matrix((train.values - self._base[train.items], (train.users, train.items)),
                                shape=train.shape)
        _, s, vt = svds(centred, k=min(self.config.factors, min(train.shape) - 1), random_state=seed)
        self._v = (vt.T * np.sqrt(s)).astype(np.float32)
        self._items = np.asarray(train.item_ids).astype(str)
        return self

    def fold_in(self, history, items=None):
        pos = {a: i for i, a in enumerate(self._items.tolist())}
        known = [(pos[a], r) for a, r in history if a in pos]
        scores = self._base.copy()
        if known:
            cols = np.array([c for c, _ in known])
            v = self._v[cols]
            residual = np.array([r for _, r in known], dtype=np.float32) - self._base[cols]
            p = np.linalg.solve(v.T @ v + self.config.reg * np.eye(v.shape[1]), v.T @ residual)
            scores = self._base + self._v @ p.astype(np.float32)
        scores = np.clip(scores, 1, 5)
        if items is None:
            return scores
        return np.array([scores[pos[i]] if i in pos else np.nan for i in items], dtype=np.float32)

    def predict(self, users, items=None):
        return np.full((len(users), len(self._items) if items is None else len(items)), np.nan, np.float32)

    def save(self, folder):
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        np.savez(folder / "weights.npz", items=self._items, base=self._base, v=self._v)
        (folder / "config.json").write_text(self.config.model_dump_json())

    @classmethod
    def load(cls, folder):
        folder = Path(folder)
        model = cls(ToySVDConfig.model_validate_json((folder / "config.json").read_text()))
        with np.load(folder / "weights.npz", allow_pickle=False) as data:
            model._items, model._base, model._v = data["items"], data["base"], data["v"]
        return model


@hookimpl
def register_recommenders(register):
    register("toysvd", ToySVD)
'''


@pytest.fixture(scope="module")
def toy_site(tmp_path_factory) -> Path:
    """A folder holding the ``deepcart-toysvd`` distribution (module + dist-info with its entry point)."""
    site = tmp_path_factory.mktemp("toysite")
    (site / "deepcart_toysvd.py").write_text(TOY_PLUGIN)
    info = site / "deepcart_toysvd-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: deepcart-toysvd\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[deepcart]\ntoysvd = deepcart_toysvd\n")
    return site


@pytest.fixture(scope="module")
def toy_model(toy_site, synthetic_tag, tmp_path_factory) -> Path:
    """A ``toysvd`` model folder for the synthetic tag, trained in-process (under a second)."""
    from deepcart.pipeline.tags import INTERACTIONS, tag_path
    from deepcart.pipeline.model_store import save_model, tag_manifest_sha256
    from deepcart.pipeline.ratings_io import ratings_from_parquet

    spec = importlib.util.spec_from_file_location("deepcart_toysvd", toy_site / "deepcart_toysvd.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    data_dir, tag = synthetic_tag
    tag_dir = tag_path(tag, data_dir)
    model = module.ToySVD().fit(ratings_from_parquet(tag_dir / INTERACTIONS), seed=0)
    folder = tmp_path_factory.mktemp("models") / "toysvd"
    save_model(model, folder, recommender="toysvd", data_tag=tag, tag_sha256=tag_manifest_sha256(tag_dir))
    return folder


@pytest.fixture
def server(toy_site, toy_model, synthetic_tag, tmp_path):
    """``deepcart serve`` on a free port; yields its URL, stops it afterwards."""
    from deepcart.toolkit.testing import running_server

    data_dir, tag = synthetic_tag
    log = tmp_path / "server.log"
    env = {**os.environ, "PYTHONPATH": str(toy_site), "DEEPCART_LOAD_PLUGINS": "toysvd"}
    env.pop("DEEPCART_STRICT_PLUGINS", None)
    with running_server(["--data-dir", str(data_dir), "--data-tag", tag, "--model", str(toy_model), "--no-show"],
                        log=log, env=env, timeout=90) as (port, _):
        yield f"http://127.0.0.1:{port}/"
    # A browser closing its websocket mid-message makes tornado log a traceback at shutdown:
    # harmless, and racy. Any other traceback in the server log is a failure.
    text = log.read_text()
    tracebacks = text.split("Traceback (most recent call last):")[1:]
    real = [t for t in tracebacks if "WebSocketClosedError" not in t and "StreamClosedError" not in t]
    assert not real, text[-3000:]


class Page:
    """The handful of things the test does on the dashboard page."""

    def __init__(self, page, url: str):
        self.page = page
        self.requests: list[str] = []
        page.on("request", lambda request: self.requests.append(request.url))
        # Anything that is not local would hang on this offline machine: record it, then refuse it.
        page.route("**/*", lambda route: route.continue_() if _is_local(route.request.url) else route.abort())
        page.goto(url)
        self.version = 0
        self.wait_for_picks(1, timeout=60_000)

    def wait_for_picks(self, version: int, timeout: float = 15_000) -> None:
        self.page.locator(f'.dc-picks[data-version="{version}"]').wait_for(timeout=timeout)
        self.version = version

    def picks(self) -> list[tuple[str, str]]:
        """(asin, predicted) of the picks shown."""
        items = self.page.locator(".dc-pick")
        return [(items.nth(i).get_attribute("data-asin"), items.nth(i).locator(".dc-pill").inner_text())
                for i in range(items.count())]

    def search(self, query: str) -> None:
        box = self.page.locator("input[placeholder^='e.g. wireless']")
        box.fill(query)
        box.press("Enter")
        self.page.locator(".dc-results .tabulator-row").first.wait_for()

    def select_result(self, index: int) -> str:
        """Click a search result; return the ASIN of the product whose details then show."""
        detail = self.page.locator(".dc-detail")
        before = detail.get_attribute("data-asin") if detail.count() else None
        self.page.locator(".dc-results .tabulator-row").nth(index).click()
        deadline = time.monotonic() + 15
        while True:
            now = detail.get_attribute("data-asin") if detail.count() else None
            if now and now != before:
                return now
            assert time.monotonic() < deadline, "the product's details did not show"
            self.page.wait_for_timeout(100)

    def rate(self, stars: int, title: str = "", text: str = "") -> None:
        """Type a review as a person does (key by key, no Enter), then click a star."""
        title_box = self.page.locator("input[placeholder='Sum it up']")
        text_box = self.page.locator("textarea[placeholder='What did you think?']")
        if title:
            title_box.click()
            title_box.press_sequentially(title)
        if text:
            text_box.click()
            text_box.press_sequentially(text)
        self.page.get_by_role("button", name=f"{stars} ★", exact=True).click()
        self.wait_for_picks(self.version + 1)
        from playwright.sync_api import expect

        expect(title_box).to_have_value("")  # the review form is cleared once the rating is saved
        expect(text_box).to_have_value("")

    def expect_ratings(self, n: int) -> None:
        """Wait until the sidebar says the person has ``n`` ratings."""
        from playwright.sync_api import expect

        expect(self.page.get_by_text("Your ratings:")).to_have_text(re.compile(rf"^Your ratings: {n}\b"))


def _is_local(url: str) -> bool:
    parsed = urlparse(url)
    return parsed.scheme in ("data", "blob", "about") or parsed.hostname in LOCAL_HOSTS


def test_dashboard_in_a_browser(server, tmp_path):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            alice = Page(browser.new_context(viewport={"width": 1440, "height": 1100},
                                             accept_downloads=True).new_page(), server)
            worst_before = alice.picks()
            assert len(worst_before) == 10, "ten worst picks by default"
            assert "Your worst picks" in alice.page.locator(".dc-picks h2").inner_text()

            alice.search("wireless")
            rated = []
            # a title only, a review text only, both: each typed without Enter, then a star clicked
            reviews = [("Stopped working", ""), ("", "Broke after a week."), ("Meh", "Loud, and the case cracked.")]
            for index, (title, text) in enumerate(reviews):
                rated.append(alice.select_result(index))
                alice.rate(1, title=title, text=text)
                alice.expect_ratings(index + 1)
            assert len(set(rated)) == 3
            worst_after = alice.picks()
            assert worst_after != worst_before, "the worst picks must move after three ratings"
            assert not set(rated) & {asin for asin, _ in worst_after}, "rated products are never picked"
            alice.expect_ratings(3)

            screenshot = tmp_path / "dashboard.png"
            alice.page.wait_for_timeout(1000)  # let the chart and the busy indicator settle
            alice.page.screenshot(path=str(screenshot))
            if os.environ.get("DEEPCART_UPDATE_SCREENSHOT") == "1":
                shutil.copyfile(screenshot, REPO / "docs" / "dashboard.png")

            with alice.page.expect_download() as info:
                alice.page.get_by_role("button", name="Download my ratings (JSONL)").click()
            lines = Path(info.value.path()).read_text().splitlines()
            records = [json.loads(line) for line in lines]
            assert [r["parent_asin"] for r in records] == rated and {r["rating"] for r in records} == {1.0}
            assert [(r["title"], r["text"]) for r in records] == reviews
            assert records[0]["user_id"].startswith("DEEPCART_SESSION_")

            # another person, at the same time: their own session, none of alice's ratings
            bob = Page(browser.new_context(viewport={"width": 1440, "height": 1000}).new_page(), server)
            bob.expect_ratings(0)
            assert bob.picks() == worst_before
            bob.search("cable")
            bob.select_result(0)
            bob.rate(5)
            bob.expect_ratings(1)
            alice.expect_ratings(3)
            assert alice.picks() == worst_after

            alice.page.get_by_role("button", name="Best picks").click()
            alice.wait_for_picks(alice.version + 1)
            assert alice.page.locator(".dc-picks").get_attribute("data-direction") == "best"
            assert "Your best picks" in alice.page.locator(".dc-picks h2").inner_text()
            best = alice.picks()
            assert best and not {a for a, _ in best} & {a for a, _ in worst_after}

            outside = [url for url in alice.requests + bob.requests if not _is_local(url)]
            assert outside == [], f"the page requested resources outside 127.0.0.1: {outside}"
            assert any(urlparse(url).path.endswith(".js") for url in alice.requests), "no scripts were loaded?"
        finally:
            browser.close()

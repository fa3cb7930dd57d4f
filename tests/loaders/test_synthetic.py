"""The synthetic Amazon-2023-style generator: format, realism, planted structure, file safety."""

from __future__ import annotations

import gzip
import hashlib
import json
import re
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
import pytest

from deepcart.pipeline import synthetic
from deepcart.pipeline.synthetic import writer as synthetic_writer

N_REVIEWS = 20_000
ASIN = re.compile(r"B0[0-9A-Z]{8}")
USER_ID = re.compile(r"A[A-Z0-9]{27}")
TS_MIN = 1072915200000  # 2004-01-01
TS_MAX = 1694563200000  # 2023-09-13
IMAGE_KEYS = ["small_image_url", "medium_image_url", "large_image_url", "attachment_type"]
META_IMAGE_KEYS = ["thumb", "large", "variant", "hi_res"]


def read_jsonl(path: Path) -> list[dict]:
    with gzip.open(path, "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    out = tmp_path_factory.mktemp("synth")
    calls: list[int] = []
    files = synthetic.generate(out, N_REVIEWS, seed=0, progress=calls.append)
    reviews = read_jsonl(files.reviews)
    meta = read_jsonl(files.meta)
    truth = np.load(files.truth, allow_pickle=False)
    return files, reviews, meta, dict(truth), calls


def normalise(text: str) -> str:
    return text.replace("&#34;", '"').replace("&amp;", "&")


def rendered(templates, nouns) -> set[str]:
    return {t.format(n=n) for t in templates for n in nouns}


# --- files and sizes ----------------------------------------------------------------------------
def test_files_sizes_and_progress(data):
    files, reviews, meta, truth, calls = data
    assert files.reviews.name == "Synthetic_Electronics.jsonl.gz"
    assert files.meta.name == "meta_Synthetic_Electronics.jsonl.gz"
    assert files.truth.name == "synthetic_truth.npz"
    assert len(reviews) == files.n_reviews == N_REVIEWS
    assert len({r["user_id"] for r in reviews}) == files.n_users == round(N_REVIEWS / 2.4)
    assert len(meta) == files.n_items == round(N_REVIEWS / 27)
    assert sum(calls) == N_REVIEWS and all(c > 0 for c in calls)
    # nothing but the three files is left behind
    assert sorted(p.name for p in files.reviews.parent.iterdir()) == sorted(
        [files.reviews.name, files.meta.name, files.truth.name])


# --- exact format -------------------------------------------------------------------------------
def test_review_lines_have_the_2023_keys_types_and_order(data):
    files, reviews, *_ = data
    with gzip.open(files.reviews, "rt", encoding="utf-8") as f:
        first = f.readline()
    assert first.startswith('{"rating": ') and first.endswith("}\n")
    assert first.isascii()
    for r in reviews:
        assert list(r) == list(synthetic.REVIEW_KEYS) == [
            "rating", "title", "text", "images", "asin", "parent_asin", "user_id", "timestamp",
            "helpful_vote", "verified_purchase"]
        assert type(r["rating"]) is float and r["rating"] in (1.0, 2.0, 3.0, 4.0, 5.0)
        assert type(r["title"]) is str and r["title"]
        assert type(r["text"]) is str and r["text"]
        assert type(r["images"]) is list
        for im in r["images"]:
            assert list(im) == IMAGE_KEYS and im["attachment_type"] == "IMAGE"
            assert all(im[k].startswith("https://") for k in IMAGE_KEYS[:3])
        assert ASIN.fullmatch(r["asin"]) and ASIN.fullmatch(r["parent_asin"])
        assert USER_ID.fullmatch(r["user_id"])
        assert type(r["timestamp"]) is int and TS_MIN <= r["timestamp"] < TS_MAX
        assert type(r["helpful_vote"]) is int and r["helpful_vote"] >= 0
        assert type(r["verified_purchase"]) is bool


def test_meta_lines_have_the_2023_keys_types_and_order(data):
    _, _, meta, *_ = data
    for m in meta:
        assert list(m) == list(synthetic.META_KEYS) == [
            "main_category", "title", "average_rating", "rating_number", "features", "description",
            "price", "images", "videos", "store", "categories", "details", "parent_asin",
            "bought_together"]
        assert type(m["main_category"]) is str and type(m["title"]) is str
        assert type(m["average_rating"]) is float and 1.0 <= m["average_rating"] <= 5.0
        assert type(m["rating_number"]) is int and m["rating_number"] >= 1
        assert all(type(x) is str for x in m["features"] + m["description"] + m["categories"])
        assert m["price"] is None or type(m["price"]) in (float, str)
        assert m["images"] and all(list(im) == META_IMAGE_KEYS for im in m["images"])
        assert m["images"][0]["variant"] == "MAIN"
        assert type(m["videos"]) is list
        assert m["store"] is None or type(m["store"]) is str
        assert type(m["details"]) is dict and type(m["details"]["Best Sellers Rank"]) is dict
        assert all(type(v) is int for v in m["details"]["Best Sellers Rank"].values())
        assert ASIN.fullmatch(m["parent_asin"])
        assert m["bought_together"] is None
    assert len({m["parent_asin"] for m in meta}) == len(meta)
    mains = Counter(m["main_category"] for m in meta)
    assert {"Computers", "Cell Phones & Accessories", "All Electronics"} <= set(mains)
    prices = Counter("null" if m["price"] is None else type(m["price"]).__name__ for m in meta)
    assert 0.08 < prices["null"] / len(meta) < 0.22  # most items show a price
    assert prices["str"] >= 1 and prices["float"] / len(meta) > 0.7
    assert any(m["store"] is None for m in meta)
    assert any(m["features"] for m in meta) and any(not m["features"] for m in meta)


def test_lines_grouped_by_user_newest_first(data):
    _, reviews, *_ = data
    seen, prev = set(), None
    for r in reviews:
        u = r["user_id"]
        if u != prev:
            assert u not in seen, "a user's reviews must be contiguous"
            seen.add(u)
        else:
            assert r["timestamp"] <= last_ts
        prev, last_ts = u, r["timestamp"]


def test_asins_variants_verified_images_and_time(data):
    _, reviews, meta, truth, _ = data
    n = len(reviews)
    variant = sum(r["asin"] != r["parent_asin"] for r in reviews) / n
    assert 0.02 < variant < 0.25
    parents = set(truth["item_ids"].tolist())
    assert all(r["asin"] not in parents for r in reviews if r["asin"] != r["parent_asin"])
    assert 0.85 < sum(r["verified_purchase"] for r in reviews) / n < 0.95
    assert 0.005 < sum(bool(r["images"]) for r in reviews) / n < 0.05
    years = np.array([r["timestamp"] for r in reviews]) // 1000 // 31_556_952 + 1970
    assert years.min() >= 2004 and years.max() == 2023
    assert np.mean(years >= 2015) > 0.6  # recent years are heavier
    assert np.mean(years <= 2010) > 0.01  # but old reviews exist


# --- realism of the distributions --------------------------------------------------------------
def test_rating_distribution_is_j_shaped(data):
    _, reviews, *_ = data
    counts = Counter(r["rating"] for r in reviews)
    shares = [counts[s] / len(reviews) for s in (1.0, 2.0, 3.0, 4.0, 5.0)]
    for got, want in zip(shares, (0.10, 0.05, 0.08, 0.17, 0.60)):  # Amazon's J-shape
        assert abs(got - want) < 0.025, shares
    one, two, three, four, five = shares
    assert five > four > one > three > two  # the J: a high right arm and a raised left foot


def test_user_activity_is_heavy_tailed(data):
    _, reviews, *_ = data
    per_user = np.array(list(Counter(r["user_id"] for r in reviews).values()))
    assert np.mean(per_user <= 3) > 0.8
    assert np.mean(per_user == 1) > 0.5
    assert 0.04 < np.mean(per_user >= 5) < 0.2  # enough users survive a 5-core
    assert per_user.max() >= 30 and np.sum(per_user >= 20) >= 20  # the tail exists


def test_item_popularity_is_power_law(data):
    _, reviews, *_ = data
    per_item = np.sort(np.array(list(Counter(r["parent_asin"] for r in reviews).values())))[::-1]
    top = per_item[: len(per_item) // 10].sum() / per_item.sum()
    assert top > 0.4  # the top 10% of items take a large share
    assert 0.3 < np.mean(per_item >= 5) < 0.9
    assert np.mean(per_item <= 2) > 0.03  # and there is a long tail


def test_planted_duplicates(data):
    _, reviews, *_ = data
    by_pair = defaultdict(list)
    for r in reviews:
        by_pair[(r["user_id"], r["parent_asin"])].append(r["timestamp"])
    extra = sum(len(v) - 1 for v in by_pair.values())
    assert 0.001 < extra / len(reviews) < 0.006
    for ts in by_pair.values():
        assert len(set(ts)) == len(ts), "duplicates must have different timestamps"


def test_some_reviewed_items_have_no_meta(data):
    _, reviews, meta, truth, _ = data
    reviewed = {r["parent_asin"] for r in reviews}
    with_meta = {m["parent_asin"] for m in meta}
    missing = reviewed - with_meta
    assert 1 <= len(missing) <= 0.02 * len(reviewed)
    ids = truth["item_ids"]
    assert set(ids[~truth["item_has_meta"]].tolist()) >= missing
    assert set(ids[truth["item_has_meta"]].tolist()) == with_meta


# --- the planted structure ---------------------------------------------------------------------
def test_truth_file_loads_without_pickle(data):
    files, reviews, meta, truth, _ = data
    assert truth["item_ids"].dtype == np.dtype("<U10")
    assert truth["user_ids"].dtype == np.dtype("<U28")
    assert truth["item_quality"].dtype == np.float32
    assert truth["item_is_bad"].dtype == np.bool_
    n_cat = len(truth["item_ids"])
    assert truth["item_quality"].shape == truth["item_is_bad"].shape == (n_cat,)
    assert truth["item_factors"].shape[0] == n_cat
    assert truth["user_factors"].shape == (files.n_users, truth["item_factors"].shape[1])
    assert set(truth["user_ids"].tolist()) == {r["user_id"] for r in reviews}
    assert {r["parent_asin"] for r in reviews} <= set(truth["item_ids"].tolist())
    assert int(truth["user_n_reviews"].sum()) == N_REVIEWS
    assert truth["rating_thresholds"].shape == (4,)


def test_bad_items_are_popular_and_rated_low(data):
    _, reviews, meta, truth, _ = data
    ids = truth["item_ids"].tolist()
    bad = {i for i, b in zip(ids, truth["item_is_bad"].tolist()) if b}
    assert 0.02 < len(bad) / len(meta) < 0.04
    quality = truth["item_quality"]
    assert quality[truth["item_is_bad"]].mean() < -1.2 < -0.2 < quality[~truth["item_is_bad"]].mean()
    count, total = Counter(), Counter()
    for r in reviews:
        count[r["parent_asin"]] += 1
        total[r["parent_asin"]] += r["rating"]
    bad_counts = [count[i] for i in bad]
    all_counts = list(count.values())
    assert np.mean(bad_counts) > 1.2 * np.mean(all_counts)  # many ratings ...
    assert np.median(bad_counts) > 2 * np.median(all_counts)
    bad_mean = sum(total[i] for i in bad) / sum(bad_counts)
    good_mean = sum(total[i] for i in count if i not in bad) / sum(count[i] for i in count if i not in bad)
    assert bad_mean < 3.2 < 4.0 < good_mean  # ... and a low mean


def test_ratings_follow_the_planted_factors(data):
    _, reviews, _, truth, _ = data
    urow = {u: k for k, u in enumerate(truth["user_ids"].tolist())}
    irow = {i: k for k, i in enumerate(truth["item_ids"].tolist())}
    u = np.array([urow[r["user_id"]] for r in reviews])
    i = np.array([irow[r["parent_asin"]] for r in reviews])
    y = np.array([r["rating"] for r in reviews])
    topic = truth["item_topic"][i]
    in_favourites = (truth["user_favourite_topics"][u] == topic[:, None]).any(axis=1)
    weight = np.where(in_favourites, 1.0, float(truth["off_topic_taste"]))
    affinity = weight * np.einsum("ij,ij->i", truth["user_factors"][u], truth["item_factors"][i])
    assert 0.5 < in_favourites.mean() < 0.95  # most reviews are in a favourite topic
    score = truth["user_bias"][u] + truth["item_quality"][i] + float(truth["affinity_scale"]) * affinity
    assert np.corrcoef(y, affinity)[0, 1] > 0.3  # the user-item term is strong ...
    assert np.corrcoef(y, score)[0, 1] > 0.6  # ... and the whole latent score explains the stars
    # ... and item means alone miss it: the residual after item means still tracks the affinity
    s = np.bincount(i, y, len(irow)) / np.maximum(np.bincount(i, minlength=len(irow)), 1)
    assert np.corrcoef(y - s[i], affinity)[0, 1] > 0.25


def test_polarising_items_split_opinions(data):
    # Polarising products: popular, not bad, and rated 1 star by some and 5 by many others.
    _, reviews, _, truth, _ = data
    ids = truth["item_ids"].tolist()
    polar = {i for i, b in zip(ids, truth["item_is_polar"].tolist()) if b}
    bad = {i for i, b in zip(ids, truth["item_is_bad"].tolist()) if b}
    assert polar and not polar & bad
    stars = {"polar": Counter(), "plain": Counter()}
    for r in reviews:
        if r["parent_asin"] not in bad:
            stars["polar" if r["parent_asin"] in polar else "plain"][r["rating"]] += 1
    share = {k: {star: c[star] / sum(c.values()) for star in (1.0, 5.0)} for k, c in stars.items()}
    assert share["polar"][1.0] > 1.5 * share["plain"][1.0]  # more haters ...
    assert share["polar"][5.0] > 0.4  # ... and still many lovers


# --- texts -------------------------------------------------------------------------------------
def test_text_sentiment_matches_stars(data):
    _, reviews, _, truth, _ = data
    nouns = [t[1] for t in synthetic.TOPICS]
    banks = {}
    for noun in nouns:
        positive = rendered(synthetic.STAR_SENTENCES[5] + synthetic.SHORT_TEXTS[5], [noun])
        negative = rendered(synthetic.STAR_SENTENCES[1] + synthetic.BAD_SENTENCES
                            + synthetic.SHORT_TEXTS[1] + synthetic.SHORT_TEXTS[0], [noun])
        scathing = rendered(synthetic.BAD_SENTENCES + synthetic.SHORT_TEXTS[0], [noun])
        neutral = rendered(synthetic.NEUTRAL_SENTENCES, [noun])
        # the banks themselves must not make the test vacuous
        assert not any(p in x for p in positive for x in negative | neutral)
        assert not any(n in x for n in negative for x in positive | neutral)
        banks[noun] = positive, negative, scathing
    noun_of = dict(zip(truth["item_ids"].tolist(),
                       truth["topic_nouns"][truth["item_topic"]].tolist()))
    bad_ids = set(truth["item_ids"][truth["item_is_bad"]].tolist())
    titles1 = rendered(synthetic.TITLES[1] + synthetic.TITLES[0], nouns)
    n1 = n5 = n_bad = 0
    for r in reviews:
        text = normalise(r["text"])
        positive, negative, scathing = banks[noun_of[r["parent_asin"]]]
        if r["rating"] == 1.0:
            n1 += 1
            assert any(s in text for s in negative), text
            assert not any(s in text for s in positive), text
            assert r["title"] in titles1
        elif r["rating"] == 5.0:
            n5 += 1
            assert not any(s in text for s in negative), text
        if r["rating"] <= 2.0 and r["parent_asin"] in bad_ids:
            n_bad += 1
            assert any(s in text for s in scathing), text
    assert n1 > 1000 and n5 > 10000 and n_bad > 300


def test_texts_mention_the_product_and_carry_markup(data):
    _, reviews, _, truth, _ = data
    noun_of = dict(zip(truth["item_ids"].tolist(),
                       truth["topic_nouns"][truth["item_topic"]].tolist()))
    long = [r for r in reviews if len(r["text"]) > 200]
    mention = np.mean([noun_of[r["parent_asin"]] in r["text"] for r in long])
    assert mention > 0.4
    n = len(reviews)
    assert 0.05 < sum("<br />" in r["text"] for r in reviews) / n < 0.35
    assert sum("&#34;" in r["text"] for r in reviews) >= 20
    assert sum("&amp;" in r["text"] for r in reviews) >= 1
    lengths = np.array([len(r["text"]) for r in reviews])
    assert np.percentile(lengths, 10) < 40 and np.percentile(lengths, 90) > 250
    hv = np.array([r["helpful_vote"] for r in reviews])
    stars = np.array([r["rating"] for r in reviews])
    assert 0.4 < np.mean(hv == 0) < 0.85 and hv.max() >= 20
    assert hv[stars <= 2].mean() > hv[stars == 5].mean()
    assert hv[lengths > 400].mean() > hv[lengths < 100].mean()


# --- determinism and file safety ---------------------------------------------------------------
def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path):
    a = synthetic.generate(tmp_path / "a", 3000, seed=3)
    b = synthetic.generate(tmp_path / "b", 3000, seed=3)
    c = synthetic.generate(tmp_path / "c", 3000, seed=4)
    for name in ("reviews", "meta"):  # no wall-clock time in the gzip header
        assert getattr(a, name).read_bytes()[4:8] == b"\0\0\0\0"
    for name in ("reviews", "meta", "truth"):
        assert sha(getattr(a, name)) == sha(getattr(b, name)), name
        assert sha(getattr(a, name)) != sha(getattr(c, name)), name
    assert a == synthetic.SynthFiles(tmp_path / "a" / synthetic.REVIEWS_NAME,
                                     tmp_path / "a" / synthetic.META_NAME,
                                     tmp_path / "a" / synthetic.TRUTH_NAME, 3000, 1250, 111,
                                     (tmp_path / "a" / synthetic.REVIEWS_NAME,))


def test_existing_files_raise_unless_forced(tmp_path):
    files = synthetic.generate(tmp_path, 500, seed=1)
    before = sha(files.reviews)
    with pytest.raises(FileExistsError, match=re.escape(str(files.reviews))):
        synthetic.generate(tmp_path, 500, seed=2)
    assert sha(files.reviews) == before
    files.reviews.unlink()
    with pytest.raises(FileExistsError, match="meta_Synthetic_Electronics"):
        synthetic.generate(tmp_path, 500, seed=2)
    again = synthetic.generate(tmp_path, 500, seed=2, force=True)
    assert sha(again.reviews) != before


@pytest.mark.parametrize("where", ["progress", "meta"])
def test_no_half_written_file_on_error(tmp_path, monkeypatch, where):
    monkeypatch.setattr(synthetic_writer, "USERS_PER_CHUNK", 300)  # several chunks for 3000 reviews
    calls = []

    def progress(n):
        calls.append(n)
        if where == "progress" and len(calls) == 2:
            raise KeyboardInterrupt("interrupted mid-way")

    def broken_meta(*args, **kwargs):
        raise OSError("disk full")
        yield b""  # pragma: no cover

    if where == "meta":
        monkeypatch.setattr(synthetic_writer, "meta_lines", broken_meta)
    with pytest.raises((KeyboardInterrupt, OSError)):
        synthetic.generate(tmp_path, 3000, seed=0, progress=progress)
    assert list(tmp_path.iterdir()) == []  # no final names, no temporary leftovers
    assert len(calls) == (2 if where == "progress" else 5)


def test_chunking_changes_nothing_but_the_stream(tmp_path, monkeypatch):
    """Smaller user chunks still give a valid file of the requested size."""
    monkeypatch.setattr(synthetic_writer, "USERS_PER_CHUNK", 97)
    files = synthetic.generate(tmp_path, 2000, seed=5)
    reviews = read_jsonl(files.reviews)
    assert len(reviews) == 2000 and len({r["user_id"] for r in reviews}) == files.n_users


def test_small_and_invalid_sizes(tmp_path):
    tiny = synthetic.generate(tmp_path / "tiny", 1, seed=0)
    assert len(read_jsonl(tiny.reviews)) == 1 and tiny.n_items == 50
    custom = synthetic.generate(tmp_path / "custom", 1000, seed=0, n_users=100, n_items=200)
    reviews = read_jsonl(custom.reviews)
    assert len({r["user_id"] for r in reviews}) == 100 and len(read_jsonl(custom.meta)) == 200
    with pytest.raises(ValueError):
        synthetic.generate(tmp_path / "bad", 0)
    with pytest.raises(ValueError):
        synthetic.generate(tmp_path / "bad", 100, n_users=101)
    with pytest.raises(ValueError):
        synthetic.generate(tmp_path / "bad", 1000, n_users=10, n_items=20)


def test_text_reads_as_real_reviews_and_listings(data):
    """No sentence twice in one review; title attributes that fit the product kind (no "USB C
    Cable, Wireless"); most items priced."""
    import re

    from deepcart.pipeline.synthetic.word_banks import COLORS, GENERAL_SPECS, TOPIC_SPECS, TOPICS

    _, reviews, meta, truth, _ = data
    for r in reviews:
        sentences = [s.strip() for s in re.split(r"(?<=[.!?])\s+", normalise(r["text"])) if s.strip()]
        assert len(sentences) == len(set(sentences)), r["text"]
    topic_of = dict(zip(truth["item_ids"].tolist(), truth["item_topic"].tolist()))
    checked = 0
    for m in meta:
        topic = topic_of.get(m["parent_asin"])
        if topic is None:
            continue
        key, _, noun = TOPICS[topic][0], TOPICS[topic][1], TOPICS[topic][2]
        allowed = set(TOPIC_SPECS.get(key, GENERAL_SPECS))
        rest = m["title"].split(f" {noun}, ", 1)[1]
        if rest.endswith(")") and rest[rest.rindex(" (") + 2:-1] in COLORS:
            rest = rest[:rest.rindex(" (")]  # the colour
        for spec in rest.split(", "):
            assert spec in allowed, (m["title"], key)
        checked += 1
    assert checked > 0.9 * len(meta)
    assert "USB C Cable, Wireless" not in "\n".join(m["title"] for m in meta)

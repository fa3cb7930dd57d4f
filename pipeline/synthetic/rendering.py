"""Rendering the world as Amazon Reviews 2023 JSON lines: one chunk of users' reviews, the item meta.

The line formats follow the real release byte for byte where recommenders care: key order, types,
HTML in texts, image URLs, timestamps in milliseconds.
"""

from __future__ import annotations

import json
import time
from typing import Iterable

import numpy as np

from deepcart.pipeline.synthetic.constants import (
    IMAGE_SHARE,
    OLD_IMAGE_HOST_BEFORE,
    S_META,
    T_END,
    T_START,
    VIDEO_SHARE,
)
from deepcart.pipeline.synthetic.word_banks import (
    BRANDS,
    COLORS,
    DESCRIPTIONS,
    FEATURE_ADJ,
    FEATURES,
    MAIN_CATEGORY_EXTRA,
    MONTHS,
    SHORT_SHARE,
    GENERAL_SPECS,
    TOPIC_SPECS,
    TOPICS,
)
from deepcart.pipeline.synthetic.world import codes_to_str, random_stream, World


_IMGCH = np.frombuffer(b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz+-",
                       dtype=np.uint8)
_RATING_STR = np.array(["0.0", "1.0", "2.0", "3.0", "4.0", "5.0"], dtype=object)
_BOOL_STR = np.array(["false", "true"], dtype=object)
_SEPS = np.array(["", " ", "  ", "<br /><br />", "<br />"], dtype=object)
_LINE = ('{"rating": %s, "title": "%s", "text": "%s", "images": %s, "asin": "%s", '
         '"parent_asin": "%s", "user_id": "%s", "timestamp": %d, "helpful_vote": %d, '
         '"verified_purchase": %s}\n')


# Review lines and item meta lines


def _image_id(rng: np.random.Generator, n: int) -> list[str]:
    codes = np.empty((n, 11), np.uint8)
    codes[:, 0] = np.frombuffer(b"5678", np.uint8)[rng.integers(0, 4, n)]
    codes[:, 1] = np.frombuffer(b"1", np.uint8)[0]
    codes[:, 2:] = _IMGCH[rng.integers(0, len(_IMGCH), (n, 9))]
    return codes_to_str(codes).tolist()


def _review_images(ids: list[str], old: bool) -> str:
    parts = []
    for iid in ids:
        if old:
            base = "https://images-na.ssl-images-amazon.com/images/I/" + iid
            large = base + ".jpg"
        else:
            base = "https://m.media-amazon.com/images/I/" + iid
            large = base + "._SL1600_.jpg"
        parts.append('{"small_image_url": "%s._SL256_.jpg", "medium_image_url": "%s._SL800_.jpg", '
                     '"large_image_url": "%s", "attachment_type": "IMAGE"}' % (base, base, large))
    return "[" + ", ".join(parts) + "]"


def render_chunk(w: World, rng: np.random.Generator, c: dict) -> tuple[bytes, np.ndarray]:
    """Text, helpfulness, images, ... for one chunk; returns the lines in file order and stars."""
    m, uid, item, pos = c["m"], c["uid"], c["item"], c["pos"]
    T = w.n_topics
    stars = (1 + np.searchsorted(w.thresholds, c["score"])).astype(np.int64)
    topic = c["topic"]
    bad = w.is_bad[item] & (stars <= 2)
    bank = np.where(bad, 5, stars - 1)
    short = rng.random(m) < np.where(bad, 0.05, SHORT_SHARE[stars])
    key = np.where(short, bank + 6, bank) * T + topic
    n_sent = np.where(short, 1, 1 + np.floor(np.exp(0.9 + 1.0 * rng.standard_normal(m)))
                      + (stars <= 2)).astype(np.int64)
    n_sent = np.minimum(n_sent, 40)
    size = w.s_size[key]
    n_sent = np.minimum(n_sent, size)
    first = rng.integers(0, 1 << 30, m) % w.s_own[key]
    step = 1 + rng.integers(0, 1 << 30, m) % np.maximum(size - 1, 1)
    # A step that shares a factor with the bank's size revisits sentences before n_sent are drawn:
    # move it to the next step coprime with the size, so no sentence appears twice in one review.
    while True:
        shared = (np.gcd(step, size) > 1) & (size > 1)
        if not shared.any():
            break
        step = np.where(shared, step % np.maximum(size - 1, 1) + 1, step)
    total = int(n_sent.sum())
    rev = np.repeat(np.arange(m), n_sent)
    sstart = np.cumsum(n_sent) - n_sent
    j = np.arange(total) - np.repeat(sstart, n_sent)
    flat = w.s_off[key][rev] + (first[rev] + j * step[rev]) % size[rev]
    # separators: "" after the last sentence; otherwise one or two spaces, or a paragraph break
    style = np.where(rng.random(m) < 0.15, 2, 1)
    para = (rng.random(m) < 0.45) & (n_sent >= 3)
    sep = np.repeat(style, n_sent)
    brk = para[rev] & (rng.random(total) < 0.35)
    sep = np.where(brk, np.where(rng.random(total) < 0.85, 3, 4), sep)
    last = np.zeros(total, bool)
    last[sstart + n_sent - 1] = True
    sep[last] = 0
    pieces = (w.s_flat[flat] + _SEPS[sep]).tolist()
    ends = (sstart + n_sent).tolist()
    texts = ["".join(pieces[a:b]) for a, b in zip(sstart.tolist(), ends)]
    # HTML entities: some reviews carry &amp; for & and &#34; for a double quote
    has_amp = np.add.reduceat(w.s_amp[flat].astype(np.int64), sstart) > 0
    has_quote = np.add.reduceat(w.s_quote[flat].astype(np.int64), sstart) > 0
    for i in np.flatnonzero(has_amp & (rng.random(m) < 0.006)).tolist():
        texts[i] = texts[i].replace(" & ", " &amp; ")
    for i in np.flatnonzero(has_quote & (rng.random(m) < 0.35)).tolist():
        texts[i] = texts[i].replace('\\"', "&#34;")

    tkey = bank * T + topic
    titles = w.t_flat[w.t_off[tkey] + rng.integers(0, 1 << 30, m) % w.t_size[tkey]]

    # helpful votes: heavy-tailed, more for long, negative and old reviews
    age_years = (T_END * 1000 - c["ts"]) / (365.25 * 86400e3)
    lam = np.exp(-2.2 + 1.7 * rng.standard_normal(m) + 0.1 * np.minimum(n_sent, 20)
                 + 0.7 * (stars <= 2) + 0.07 * age_years)
    helpful = rng.poisson(np.minimum(lam, 1e5))
    verified = rng.random(m) < np.where(c["ts"] < 1325376000000, 0.75, 0.92)  # 2012-01-01

    # asin: a variant child for items that have variants
    nv = w.n_var[item]
    choice = rng.integers(0, 1 << 30, m) % (nv + 1)
    asin_idx = np.where(choice == 0, item, w.n_cat + w.var_off[item] + choice - 1)
    asins = w.all_ids[asin_idx]
    parents = w.item_ids[item]

    images = np.full(m, "[]", dtype=object)
    with_img = np.flatnonzero(rng.random(m) < IMAGE_SHARE)
    if len(with_img):
        k = 1 + np.minimum(rng.geometric(0.55, len(with_img)) - 1, 8)
        old = c["ts"][with_img] < OLD_IMAGE_HOST_BEFORE * 1000
        ids = _image_id(rng, int(k.sum()))
        a = 0
        for idx, kk, oo in zip(with_img.tolist(), k.tolist(), old.tolist()):
            images[idx] = _review_images(ids[a:a + kk], oo)
            a += kk

    users = codes_to_str(c["codes"])[uid]
    # file order: users in chunk order, newest review first
    counts = np.bincount(uid, minlength=c["n"])
    out_pos = c["ustart"][uid] + (counts[uid] - 1 - pos)
    order = np.empty(m, np.int64)
    order[out_pos] = np.arange(m)
    texts_arr = np.array(texts, dtype=object)
    cols = (
        _RATING_STR[stars][order].tolist(), titles[order].tolist(), texts_arr[order].tolist(),
        images[order].tolist(), asins[order].tolist(), parents[order].tolist(),
        users[order].tolist(), c["ts"][order].tolist(), helpful[order].tolist(),
        _BOOL_STR[verified.astype(np.int64)][order].tolist(),
    )
    data = "".join([_LINE % row for row in zip(*cols)]).encode("ascii")
    return data, stars


def meta_lines(w: World, seed: int, n_lines: np.ndarray, star_sum: np.ndarray,
                first_ts: np.ndarray) -> Iterable[bytes]:
    """Meta rows of the meta items in catalogue order, in chunks of bytes."""
    chunk = 4096
    bsr_scale = 1_600_000 / max(w.n_cat, 1)  # ranks as if the catalogue were Electronics-sized
    base = "https://m.media-amazon.com/images/I/"
    no_ts = np.iinfo(np.int64).max
    for c0 in range(0, w.n_meta, chunk):
        rng = random_stream(seed, S_META, c0 // chunk)
        idx = np.arange(c0, min(c0 + chunk, w.n_meta))
        n = len(idx)
        R = rng.random((n, 24)).tolist()
        nl_l = n_lines[idx].tolist()
        extra = rng.poisson(np.maximum(n_lines[idx], 0.5) * 1.2).tolist()
        avg_l = np.where(n_lines[idx] > 0, star_sum[idx] / np.maximum(n_lines[idx], 1),
                         np.clip(4.2 + 0.8 * w.quality[idx], 1.0, 5.0)).round(1).tolist()
        bsr = np.maximum(1, (w.pop_rank[idx] + 1) * bsr_scale
                         * np.exp(0.5 * rng.standard_normal(n))).astype(np.int64).tolist()
        price_l = np.maximum(0.99, np.array([TOPICS[t][5] for t in w.item_topic[idx]])
                             * np.exp(0.45 * rng.standard_normal(n))).round(2).tolist()
        ft = first_ts[idx]
        ft = np.where(ft == no_ts, T_END * 1000, ft) // 1000
        dfa_l = np.maximum(ft - (rng.random(n) * 200 * 86400).astype(np.int64),
                           T_START - 365 * 86400).tolist()
        img_ids = _image_id(rng, n * 16)
        topic_l = w.item_topic[idx].tolist()
        brand_l = w.brand[idx].tolist()
        out = []
        for k in range(n):
            i = c0 + k
            r = R[k]
            _key, _noun, tnoun, main_cat, path, _price, _w = TOPICS[topic_l[k]]
            brand = BRANDS[brand_l[k]]
            specs = TOPIC_SPECS.get(_key, GENERAL_SPECS)  # attributes that fit this kind of product
            spec0 = specs[int(r[0] * len(specs))]
            spec1 = specs[int(r[1] * len(specs))]
            color = COLORS[int(r[2] * len(COLORS))]
            title = f"{brand} {tnoun}, {spec0}"
            if spec1 != spec0 and r[3] < 0.6:
                title += f", {spec1}"
            if r[4] < 0.5:
                title += f" ({color})"
            mc = MAIN_CATEGORY_EXTRA[int(r[6] * len(MAIN_CATEGORY_EXTRA))] if r[5] < 0.12 else main_cat
            adj = FEATURE_ADJ[int(r[7] * len(FEATURE_ADJ))]
            n_feat = 0 if r[8] < 0.2 else 1 + int(r[9] * 5)
            f0 = int(r[10] * len(FEATURES))
            features = [FEATURES[(f0 + j) % len(FEATURES)].format(adj=adj, brand=brand, t=tnoun)
                        for j in range(n_feat)]
            if r[12] < 0.4:
                description = []
            else:
                nd = 1 + int(r[13] * 3)
                year = 1995 + int(r[11] * 25)
                description = [DESCRIPTIONS[(j + (0 if nd > 1 else 1)) % len(DESCRIPTIONS)]
                               .format(brand=brand, t=tnoun, year=year) for j in range(nd)]
            if r[14] < 0.15:  # real meta leaves many prices null; most items here have one
                price = None
            elif r[14] < 0.16:
                price = "\u2014"
            elif r[15] < 0.6:
                price = round(int(price_l[k]) + 0.99, 2)
            else:
                price = price_l[k]
            n_img = 1 + int((r[16] ** 2) * 8)
            ids = img_ids[16 * k:16 * k + 16]
            images = [{
                "thumb": f"{base}{ids[2 * j]}._AC_US40_.jpg",
                "large": f"{base}{ids[2 * j]}._AC_.jpg",
                "variant": "MAIN" if j == 0 else f"PT{j:02d}",
                "hi_res": f"{base}{ids[2 * j + 1]}._AC_SL1500_.jpg" if r[17] < 0.85 else None,
            } for j in range(n_img)]
            videos = []
            if r[18] < VIDEO_SHARE:
                videos.append({"title": f"{brand} {tnoun} review",
                               "url": f"https://www.amazon.com/vdp/{int(r[0] * 2**48):012x}{i:08x}",
                               "user_id": ""})
            store = None if r[19] < 0.05 else brand
            categories = [] if r[20] < 0.2 else list(path)
            details: dict = {}
            if r[21] < 0.7:
                details["Product Dimensions"] = (f"{1 + 10 * r[21]:.1f} x {1 + 6 * r[22]:.1f} x "
                                                 f"{0.3 + 3 * r[23]:.1f} inches")
            weight_oz = round(0.5 + 40 * r[21] * r[22], 1)
            details["Item Weight"] = (f"{weight_oz} ounces" if weight_oz < 16
                                      else f"{weight_oz / 16:.2f} pounds")
            if r[22] < 0.8:
                details["Item model number"] = f"{brand[:2].upper()}-{int(r[23] * 9000) + 1000}"
            details["Best Sellers Rank"] = {"Electronics": bsr[k], path[-1]: bsr[k] // 37 + 1}
            tm = time.gmtime(dfa_l[k])
            details["Date First Available"] = f"{MONTHS[tm.tm_mon - 1]} {tm.tm_mday}, {tm.tm_year}"
            if r[11] < 0.8:
                details["Manufacturer"] = brand
            details["Brand"] = brand
            if r[2] < 0.7:
                details["Color"] = color
            if r[3] < 0.3:
                details["Is Discontinued By Manufacturer"] = "No"
            row = {
                "main_category": mc, "title": title, "average_rating": avg_l[k],
                "rating_number": max(1, nl_l[k] + extra[k]), "features": features,
                "description": description, "price": price, "images": images, "videos": videos,
                "store": store, "categories": categories, "details": details,
                "parent_asin": w.item_ids[i], "bought_together": None,
            }
            out.append(json.dumps(row))
        yield ("\n".join(out) + "\n").encode("ascii")

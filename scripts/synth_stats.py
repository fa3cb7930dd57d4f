#!/usr/bin/env python3
"""Statistics of a review file (and its meta file) in the Amazon Reviews 2023 format.

Pure numpy + standard library, so it runs on the synthetic files and on real slices alike::

    python3 scripts/synth_stats.py DIR/Synthetic_Electronics.jsonl.gz \
        [--meta DIR/meta_Synthetic_Electronics.jsonl.gz] [--json]

Figures: ratings per user, share of users with 1-3 reviews, rating distribution, share of items
with >= 5 ratings, what an iterative 5-core keeps (after keeping the earliest review per
(user, item)), duplicate rate, reviewed items without a meta row, and a few field shares.
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
from collections import Counter
from pathlib import Path

import numpy as np

TS_CUTS = (1628643414042, 1658002729837)  # the official timestamp split (ms)


def _open(path: Path):
    return gzip.open(path, "rt", encoding="utf-8") if path.suffix == ".gz" else open(path, encoding="utf-8")


def kcore(users: np.ndarray, items: np.ndarray, k: int = 5) -> np.ndarray:
    """Boolean mask of the (user, item) rows that survive the iterative k-core."""
    keep = np.ones(len(users), bool)
    while True:
        u = np.bincount(users[keep], minlength=users.max() + 1 if len(users) else 0)
        i = np.bincount(items[keep], minlength=items.max() + 1 if len(items) else 0)
        new = keep & (u[users] >= k) & (i[items] >= k)
        if new.sum() == keep.sum():
            return new
        keep = new


def review_stats(path: Path, meta: Path | None = None) -> dict:
    uidx: dict[str, int] = {}
    iidx: dict[str, int] = {}
    users, items, ratings, ts = [], [], [], []
    n_img = n_ver = n_variant = n_br = n_q = n_amp = 0
    helpful, text_len = [], []
    order_ok = order_bad = 0
    prev_user, prev_ts = None, None
    with _open(path) as f:
        for line in f:
            r = json.loads(line)
            u = uidx.setdefault(r["user_id"], len(uidx))
            i = iidx.setdefault(r["parent_asin"], len(iidx))
            users.append(u)
            items.append(i)
            ratings.append(r["rating"])
            t = r["timestamp"]
            ts.append(t)
            if prev_user == u:
                if t <= prev_ts:
                    order_ok += 1
                else:
                    order_bad += 1
            prev_user, prev_ts = u, t
            n_img += bool(r.get("images"))
            n_ver += bool(r.get("verified_purchase"))
            n_variant += r["asin"] != r["parent_asin"]
            text = r["text"]
            n_br += "<br />" in text
            n_q += "&#34;" in text
            n_amp += "&amp;" in text
            text_len.append(len(text))
            helpful.append(r["helpful_vote"])
    users_a = np.array(users, np.int64)
    items_a = np.array(items, np.int64)
    rat = np.array(ratings, np.float64)
    ts_a = np.array(ts, np.int64)
    n = len(users_a)

    # keep the earliest review per (user, item)
    key = users_a * max(len(iidx), 1) + items_a
    o = np.lexsort((ts_a, key))
    first = np.ones(n, bool)
    first[1:] = key[o][1:] != key[o][:-1]
    keep = np.zeros(n, bool)
    keep[o[first]] = True
    du, di, dr = users_a[keep], items_a[keep], rat[keep]

    per_user = np.bincount(users_a, minlength=len(uidx))
    per_item = np.bincount(di, minlength=len(iidx))
    core = kcore(du, di, 5)
    years = Counter((ts_a.astype("datetime64[ms]").astype("datetime64[Y]").astype(np.int64) + 1970).tolist())
    hv = np.array(helpful)
    tl = np.array(text_len)
    out = {
        "lines": n,
        "users": len(uidx),
        "items": len(iidx),
        "ratings_per_user": n / max(len(uidx), 1),
        "ratings_per_item": n / max(len(iidx), 1),
        "share_users_1_3": float(np.mean(per_user <= 3)),
        "share_users_1": float(np.mean(per_user == 1)),
        "share_users_ge_5": float(np.mean(per_user >= 5)),
        "share_users_ge_20": float(np.mean(per_user >= 20)),
        "max_reviews_per_user": int(per_user.max()),
        "rating_shares": {str(s): float(np.mean(rat == s)) for s in (1.0, 2.0, 3.0, 4.0, 5.0)},
        "mean_rating": float(rat.mean()),
        "share_items_ge_5": float(np.mean(per_item >= 5)),
        "top_item_share": float(per_item.max() / max(keep.sum(), 1)),
        "duplicate_rate": float(1 - keep.mean()),
        "dedup_ratings": int(keep.sum()),
        "core5_users": int(len(np.unique(du[core]))),
        "core5_items": int(len(np.unique(di[core]))),
        "core5_ratings": int(core.sum()),
        "core5_share_users": float(len(np.unique(du[core])) / max(len(uidx), 1)),
        "core5_share_items": float(len(np.unique(di[core])) / max(len(iidx), 1)),
        "core5_share_ratings": float(core.sum() / max(keep.sum(), 1)),
        "newest_first_pairs": [order_ok, order_bad],
        "share_images": n_img / n,
        "share_verified": n_ver / n,
        "share_asin_ne_parent": n_variant / n,
        "share_text_br": n_br / n,
        "share_text_quot_entity": n_q / n,
        "share_text_amp_entity": n_amp / n,
        "text_len_p10_p50_p90": [int(np.percentile(tl, q)) for q in (10, 50, 90)],
        "helpful_zero_share": float(np.mean(hv == 0)),
        "helpful_mean": float(hv.mean()),
        "helpful_max": int(hv.max()),
        "share_after_ts_cut1": float(np.mean(ts_a >= TS_CUTS[0])),
        "share_after_ts_cut2": float(np.mean(ts_a >= TS_CUTS[1])),
        "years": dict(sorted(years.items())),
    }
    if meta is not None:
        meta_ids = set()
        prices = Counter()
        mains = Counter()
        with _open(meta) as f:
            for line in f:
                m = json.loads(line)
                meta_ids.add(m["parent_asin"])
                p = m["price"]
                prices["null" if p is None else type(p).__name__] += 1
                mains[m["main_category"]] += 1
        reviewed = set(iidx)
        out["meta_rows"] = len(meta_ids)
        out["reviewed_items_without_meta"] = len(reviewed - meta_ids)
        out["share_reviewed_items_without_meta"] = len(reviewed - meta_ids) / max(len(reviewed), 1)
        out["meta_price_types"] = {k: v / len(meta_ids) for k, v in prices.items()}
        out["meta_main_category_top"] = dict(mains.most_common(8))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("reviews", type=Path)
    ap.add_argument("--meta", type=Path)
    ap.add_argument("--json", action="store_true", help="print JSON instead of a listing")
    a = ap.parse_args(argv)
    s = review_stats(a.reviews, a.meta)
    if a.json:
        print(json.dumps(s, indent=1))
    else:
        for k, v in s.items():
            print(f"{k:36s} {v:.4f}" if isinstance(v, float) else f"{k:36s} {v}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

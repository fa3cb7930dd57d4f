"""The planted world: items (topic, popularity, quality, latent vector), users and their review counts.

Built once per ``generate`` call from the seed; users are then drawn chunk by chunk from it, each
chunk with its own random stream (:func:`random_stream`), so the output is byte-identical for the same
arguments.
"""

from __future__ import annotations

import calendar
import json

import numpy as np

from deepcart.pipeline.synthetic.constants import (
    AFFINITY_SCALE,
    BAD_ITEM_SHARE,
    BAD_POPULAR_FRACTION,
    BAD_QUALITY_MEAN,
    BAD_QUALITY_SD,
    COMPANION_SHARE,
    DUPLICATE_SHARE,
    GLOBAL_TOPIC_SHARE,
    ITEM_QUALITY_SD,
    LATENT_DECAY,
    LATENT_DIM,
    MAX_REVIEWS_PER_USER,
    MISSING_META_SHARE,
    NOISE_SD,
    OFF_TOPIC_TASTE,
    POLAR_LOADING,
    POLAR_SHARE,
    S_COUNTS,
    S_PILOT,
    S_POLAR,
    S_WORLD,
    T_END,
    T_START,
    TARGET_STAR_SHARES,
    TASTE_ALIGNMENT,
    TOPIC_LOADING,
    USER_BIAS_SD,
    VARIANT_ITEM_SHARE,
    WHOLE_SECONDS_BEFORE,
    YEAR_WEIGHTS,
    ZIPF_EXPONENT,
    ZIPF_OFFSET,
)
from deepcart.pipeline.synthetic.word_banks import (
    BAD_SENTENCES,
    BRANDS,
    COMPANIONS,
    NEUTRAL_SENTENCES,
    SHORT_TEXTS,
    STAR_SENTENCES,
    TITLES,
    TOPICS,
)


B32 = np.frombuffer(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", dtype=np.uint8)
ALNUM = np.frombuffer(b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ", dtype=np.uint8)


# Small helpers


def random_stream(seed: int, stream: int, *extra: int) -> np.random.Generator:
    entropy = seed if seed >= 0 else (1 << 64) + seed  # SeedSequence wants non-negative ints
    return np.random.default_rng(np.random.SeedSequence([entropy, stream, *extra]))


def _esc(s: str) -> str:
    """JSON-escape ``s`` (without the quotes), ASCII-only like the raw files."""
    return json.dumps(s)[1:-1]


def codes_to_str(codes: np.ndarray) -> np.ndarray:
    """(n, k) uint8 ASCII codes -> object array of n Python strings."""
    k = codes.shape[1]
    return np.ascontiguousarray(codes).view(f"S{k}")[:, 0].astype(f"U{k}").astype(object)


def _mean_count(alpha: float, cap: int) -> float:
    k = np.arange(1, cap + 1, dtype=np.float64)
    tail = (cap + 1.0) ** -alpha
    return float((np.sum(k ** -alpha) - cap * tail) / (1.0 - tail))


def _solve_alpha(target_mean: float, cap: int) -> float:
    lo, hi = 0.02, 30.0
    if target_mean <= 1.0 + 1e-9:
        return hi
    if _mean_count(lo, cap) < target_mean:
        raise ValueError(
            f"n_reviews / n_users = {target_mean:.1f} is too large for a catalogue that allows at most "
            f"{cap} reviews per user; pass more items or more users")
    for _ in range(100):
        mid = 0.5 * (lo + hi)
        if _mean_count(mid, cap) > target_mean:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


def _draw_counts(rng: np.random.Generator, n: int, alpha: float, cap: int) -> np.ndarray:
    """Truncated discrete Pareto: P(count >= k) proportional to k^-alpha - (cap+1)^-alpha."""
    top = 1.0 - (cap + 1.0) ** -alpha
    u = rng.random(n) * top
    x = np.floor((1.0 - u) ** (-1.0 / alpha))
    return np.clip(x, 1, cap).astype(np.int32)


# The world: catalogue, topics, user activity, rating thresholds, rendered text banks


class World:
    def __init__(self, seed: int, n_reviews: int, n_users: int, n_items: int) -> None:
        self.seed = seed
        self.n_reviews = n_reviews
        self.n_users = n_users
        self.n_meta = n_items
        self.n_orphan = max(1, int(round(n_items * MISSING_META_SHARE)))
        self.n_cat = n_cat = n_items + self.n_orphan
        self.d = LATENT_DIM
        spectrum = LATENT_DECAY ** np.arange(LATENT_DIM)
        self.taste_sd = np.sqrt(spectrum / spectrum.sum())  # p_u . v_i has unit variance
        rng = random_stream(seed, S_WORLD)
        T = self.n_topics = len(TOPICS)

        # --- catalogue in popularity-rank space, then shuffled into catalogue order -----------
        ranks = np.arange(n_cat)
        rank_w = (ranks + ZIPF_OFFSET[0] * n_cat + ZIPF_OFFSET[1]) ** -ZIPF_EXPONENT
        orphan_pool = ranks[: max(self.n_orphan, int(0.8 * n_cat))]
        orphan_ranks = rng.choice(orphan_pool, self.n_orphan, replace=False)
        is_orphan_rank = np.zeros(n_cat, bool)
        is_orphan_rank[orphan_ranks] = True
        meta_ranks = rng.permutation(ranks[~is_orphan_rank])
        rank_of_item = np.concatenate([meta_ranks, np.sort(orphan_ranks)])
        self.weight = rank_w[rank_of_item]
        self.pop_rank = rank_of_item  # 0 = most popular
        self.has_meta = np.arange(n_cat) < n_items

        topic_share = np.array([t[6] for t in TOPICS], dtype=np.float64)
        self.item_topic = rng.choice(T, n_cat, p=topic_share / topic_share.sum()).astype(np.int16)

        # bad items: ~3% of the meta items, drawn from the popular part of the catalogue
        n_bad = max(1, int(round(n_items * BAD_ITEM_SHARE)))
        popular = self.pop_rank < max(n_bad, BAD_POPULAR_FRACTION * n_cat)
        popular_meta = np.flatnonzero(self.has_meta & popular)
        self.is_bad = np.zeros(n_cat, bool)
        self.is_bad[rng.choice(popular_meta, min(n_bad, len(popular_meta)), replace=False)] = True
        self.quality = rng.normal(0.0, ITEM_QUALITY_SD, n_cat)
        self.quality[self.is_bad] = rng.normal(BAD_QUALITY_MEAN, BAD_QUALITY_SD, int(self.is_bad.sum()))

        # latent vectors: items near their topic's centroid
        self.centroids = rng.standard_normal((T, self.d))
        e = rng.standard_normal((n_cat, self.d))
        self.item_factors = (TOPIC_LOADING * self.centroids[self.item_topic]
                             + np.sqrt(1 - TOPIC_LOADING ** 2) * e)
        del e
        # polarising products, from their own random stream (the draws above are unchanged)
        prng = random_stream(seed, S_POLAR)
        candidates = np.flatnonzero(self.has_meta & popular & ~self.is_bad)
        n_polar = min(len(candidates), int(round(n_items * POLAR_SHARE)))
        polar = prng.choice(candidates, n_polar, replace=False)
        self.is_polar = np.zeros(n_cat, bool)
        self.is_polar[polar] = True
        self.item_factors[polar, 0] = POLAR_LOADING * prng.choice([-1.0, 1.0], n_polar)

        # ids: parents, orphans and variant children, all distinct
        has_var = rng.random(n_cat) < VARIANT_ITEM_SHARE
        self.n_var = np.where(has_var, rng.integers(2, 7, n_cat), 0).astype(np.int32)
        self.var_off = (np.cumsum(self.n_var) - self.n_var).astype(np.int64)
        n_ids = n_cat + int(self.n_var.sum())
        ids = self._asins(rng, n_ids)
        self.item_ids = ids[:n_cat]  # object array of str
        self.all_ids = ids  # children follow at n_cat + var_off[i] + j
        self.brand = (rng.zipf(1.6, n_cat) - 1) % len(BRANDS)

        # --- per-topic sampling tables -------------------------------------------------------
        order = np.argsort(self.item_topic, kind="stable")
        self.by_topic = order
        cum = np.cumsum(self.weight[order])
        self.cum = cum
        self.total_w = float(cum[-1])
        tsorted = self.item_topic[order]
        start = np.searchsorted(tsorted, np.arange(T), side="left")
        end = np.searchsorted(tsorted, np.arange(T), side="right")
        self.t_end = end
        self.t_before = np.where(start > 0, cum[np.maximum(start - 1, 0)], 0.0)
        self.t_mass = np.where(end > start, cum[np.maximum(end - 1, 0)] - self.t_before, 0.0)
        self.topic_p = self.t_mass / self.t_mass.sum()
        self.topic_cum = np.cumsum(self.topic_p)
        keys = [t[0] for t in TOPICS]
        comp = np.array([keys.index(COMPANIONS.get(k, k)) for k in keys])
        self.companion = np.where(self.t_mass[comp] > 0, comp, np.arange(T))

        # --- user activity: heavy-tailed counts summing exactly to n_reviews ----------------
        self.cap = cap = max(1, min(MAX_REVIEWS_PER_USER, n_cat // 2))
        self.alpha = _solve_alpha(n_reviews / n_users, cap)
        crng = random_stream(seed, S_COUNTS)
        counts = np.concatenate([_draw_counts(crng, min(1 << 20, n_users - a), self.alpha, cap)
                                 for a in range(0, n_users, 1 << 20)])
        # Add (remove) the difference to the expected total one review at a time, to users drawn
        # in proportion to their reviews (reviews beyond the first), which keeps the shape.
        diff = n_reviews - int(counts.sum(dtype=np.int64))
        for _ in range(1000):
            if diff == 0:
                break
            weight = np.cumsum(counts if diff > 0 else counts - 1, dtype=np.int64)
            who = np.searchsorted(weight, crng.integers(0, weight[-1], abs(diff)), side="right")
            step = np.bincount(who, minlength=n_users).astype(np.int32)
            del weight, who
            counts = np.minimum(counts + step, cap) if diff > 0 else np.maximum(counts - step, 1)
            diff = n_reviews - int(counts.sum(dtype=np.int64))
        if diff != 0:  # pragma: no cover - the loop converges in a few rounds
            raise RuntimeError("could not distribute the reviews over the users")
        self.counts = counts.astype(np.int32)
        eligible = n_reviews - n_users
        self.p_dup = min(0.5, DUPLICATE_SHARE * n_reviews / eligible) if eligible else 0.0

        self._render_banks()
        self.thresholds = self._pilot_thresholds()

    # ids ------------------------------------------------------------------------------------
    @staticmethod
    def _asins(rng: np.random.Generator, n: int) -> np.ndarray:
        third = np.frombuffer(b"0000111122345677889ABC", dtype=np.uint8)
        out = np.empty(n, dtype=object)
        todo = np.arange(n)
        seen: set[str] = set()
        while len(todo):
            codes = np.empty((len(todo), 10), np.uint8)
            codes[:, 0] = ord("B")
            codes[:, 1] = ord("0")
            codes[:, 2] = third[rng.integers(0, len(third), len(todo))]
            codes[:, 3:] = ALNUM[rng.integers(0, 36, (len(todo), 7))]
            strs = codes_to_str(codes)
            again = []
            for i, s in zip(todo.tolist(), strs.tolist()):
                if s in seen:
                    again.append(i)
                else:
                    seen.add(s)
                    out[i] = s
            todo = np.array(again, dtype=np.int64)
        return out

    # text banks -----------------------------------------------------------------------------
    def _render_banks(self) -> None:
        """Flat arrays of JSON-escaped sentences/titles per (bank, topic).

        Banks 0..4: long texts for 1..5 stars; 5: long texts of bad items (1-2 stars);
        6..10: one-phrase texts for 1..5 stars; 11: one-phrase texts of bad items.
        A long-text pool is the bank's own sentences followed by the neutral filler, each once;
        rendering walks it with a stride coprime with its length, so one review never repeats a
        sentence (version 2 padded the pool to a prime length with repeated filler, which did).
        """
        T = self.n_topics
        flat: list[str] = []
        off, own, size = [], [], []
        tflat: list[str] = []
        toff, tsize = [], []
        long_banks = [STAR_SENTENCES[s] for s in (1, 2, 3, 4, 5)] + [BAD_SENTENCES]
        short_banks = [SHORT_TEXTS[s] for s in (1, 2, 3, 4, 5)] + [SHORT_TEXTS[0]]
        title_banks = [TITLES[s] for s in (1, 2, 3, 4, 5)] + [TITLES[0]]
        for b in range(12):
            for t in range(T):
                noun = TOPICS[t][1]
                if b < 6:
                    mine = [_esc(x.format(n=noun)) for x in long_banks[b]]
                    filler = [_esc(x.format(n=noun)) for x in NEUTRAL_SENTENCES]
                    pool = mine + filler
                else:
                    mine = [_esc(x.format(n=noun)) for x in short_banks[b - 6]]
                    pool = mine
                off.append(len(flat))
                own.append(len(mine))
                size.append(len(pool))
                flat.extend(pool)
                if b < 6:
                    titles = [_esc(x.format(n=noun)) for x in title_banks[b]]
                    toff.append(len(tflat))
                    tsize.append(len(titles))
                    tflat.extend(titles)
        self.s_flat = np.array(flat, dtype=object)
        self.s_off = np.array(off, dtype=np.int64)
        self.s_own = np.array(own, dtype=np.int64)
        self.s_size = np.array(size, dtype=np.int64)
        self.s_quote = np.array(['\\"' in x for x in flat])
        self.s_amp = np.array([" & " in x for x in flat])
        self.t_flat = np.array(tflat, dtype=object)
        self.t_off = np.array(toff, dtype=np.int64)
        self.t_size = np.array(tsize, dtype=np.int64)

    # item sampling --------------------------------------------------------------------------
    def draw_in_topic(self, rng: np.random.Generator, topic: np.ndarray) -> np.ndarray:
        r = self.t_before[topic] + rng.random(len(topic)) * self.t_mass[topic]
        pos = np.searchsorted(self.cum, r, side="right")
        pos = np.minimum(pos, self.t_end[topic] - 1)
        return self.by_topic[pos]

    def draw_global(self, rng: np.random.Generator, n: int) -> np.ndarray:
        pos = np.searchsorted(self.cum, rng.random(n) * self.total_w, side="right")
        return self.by_topic[np.minimum(pos, self.n_cat - 1)]

    # users and their reviews (no text) -----------------------------------------------------
    def sample_chunk(self, rng: np.random.Generator, counts: np.ndarray) -> dict:
        n = len(counts)
        T, d = self.n_topics, self.d
        m = int(counts.sum())
        # users
        codes = np.empty((n, 28), np.uint8)
        codes[:, 0] = ord("A")
        codes[:, 1] = np.frombuffer(b"EFGH", np.uint8)[rng.integers(0, 4, n)]
        codes[:, 2:27] = B32[rng.integers(0, 32, (n, 25))]
        codes[:, 27] = np.frombuffer(b"AQ", np.uint8)[rng.integers(0, 2, n)]
        bias = rng.normal(0.0, USER_BIAS_SD, n)
        n_fav = 1 + (rng.random(n) < 0.5) + (rng.random(n) < 0.25)
        fav = np.searchsorted(self.topic_cum, rng.random((n, 3)) * self.topic_cum[-1], side="right")
        fav = np.minimum(fav, T - 1)
        used = np.arange(3)[None, :] < n_fav[:, None]
        cf = (self.centroids[fav] * used[:, :, None]).sum(1) / np.sqrt(n_fav)[:, None]
        z = rng.standard_normal((n, d))
        p = (np.sqrt(1 - TASTE_ALIGNMENT ** 2) * z + TASTE_ALIGNMENT * cf) * self.taste_sd

        # slots (one per review line), chronological inside each user
        uid = np.repeat(np.arange(n), counts)
        ustart = np.cumsum(counts) - counts
        pos = np.arange(m) - np.repeat(ustart, counts)
        anchor = self._draw_times(rng, n)
        span = np.where(counts > 1,
                        np.exp(np.log(120 * 86400.0) + 0.45 * np.log(np.maximum(counts, 1))
                               + 1.0 * rng.standard_normal(n)), 0.0)
        span = np.minimum(span, 15 * 365 * 86400.0)
        u = rng.random(n)
        lo = np.maximum(anchor - u * span, T_START)
        hi = np.minimum(anchor + (1 - u) * span, T_END - 1)
        t = lo[uid] + rng.random(m) * (hi - lo)[uid]
        t = t[np.lexsort((t, uid))]  # uid is already sorted: this sorts times inside users
        ts = np.floor(t * 1000).astype(np.int64) + rng.integers(0, 1000, m)
        old = ts < WHOLE_SECONDS_BEFORE * 1000
        ts[old] -= ts[old] % 1000
        same = np.zeros(m, bool)
        same[1:] = (ts[1:] <= ts[:-1]) & (pos[1:] > 0)
        ts[same] = ts[np.flatnonzero(same) - 1] + 1000  # keep times strictly increasing

        # topics: favourites, some global browsing, some companion purchases
        r = rng.random(m)
        glob = r < GLOBAL_TOPIC_SHARE
        topic = fav[uid, (rng.random(m) * n_fav[uid]).astype(np.int64)]
        gtop = np.minimum(np.searchsorted(self.topic_cum, rng.random(m) * self.topic_cum[-1],
                                          side="right"), T - 1)
        topic = np.where(glob, gtop, topic)
        comp = (pos > 0) & (rng.random(m) < COMPANION_SHARE)
        prev = np.maximum(np.arange(m) - 1, 0)
        topic = np.where(comp, self.companion[topic[prev]], topic)
        item = self.draw_in_topic(rng, topic)

        # planted duplicates; everything else distinct per user
        dup = (pos > 0) & (rng.random(m) < self.p_dup)
        nd_idx = np.flatnonzero(~dup)
        for it in range(400):
            key = uid[nd_idx].astype(np.int64) * self.n_cat + item[nd_idx]
            o = np.argsort(key, kind="stable")
            ks = key[o]
            again = np.zeros(len(ks), bool)
            again[1:] = ks[1:] == ks[:-1]
            redo = nd_idx[o[again]]
            if len(redo) == 0:
                break
            if it < 6:
                item[redo] = self.draw_in_topic(rng, topic[redo])
            elif it < 20:
                item[redo] = self.draw_global(rng, len(redo))
            else:
                item[redo] = rng.integers(0, self.n_cat, len(redo))
        else:  # pragma: no cover
            raise RuntimeError("could not draw distinct items per user")
        src = np.maximum.accumulate(np.where(dup, -1, np.arange(m)))
        item = item[src]
        topic = self.item_topic[item].astype(np.int64)

        # latent score
        aff = np.einsum("ij,ij->i", p[uid], self.item_factors[item])
        in_fav = ((fav[uid] == topic[:, None]) & used[uid]).any(axis=1)
        aff *= np.where(in_fav, 1.0, OFF_TOPIC_TASTE)
        score = (bias[uid] + self.quality[item] + AFFINITY_SCALE * aff
                 + NOISE_SD * rng.standard_normal(m))
        favourites = np.where(used, fav, -1)
        return dict(n=n, m=m, codes=codes, bias=bias, p=p, favourites=favourites, uid=uid, pos=pos,
                    ustart=ustart, ts=ts, item=item, topic=topic, dup=dup, score=score)

    def _draw_times(self, rng: np.random.Generator, n: int) -> np.ndarray:
        years = np.array(sorted(YEAR_WEIGHTS))
        w = np.array([YEAR_WEIGHTS[y] for y in years], dtype=np.float64)
        cw = np.cumsum(w) / w.sum()
        y = years[np.minimum(np.searchsorted(cw, rng.random(n), side="right"), len(years) - 1)]
        starts = np.array([calendar.timegm((int(v), 1, 1, 0, 0, 0)) for v in years], dtype=np.float64)
        ends = np.append(starts[1:], T_END)
        i = y - years[0]
        return starts[i] + rng.random(n) * (ends[i] - starts[i])

    def _pilot_thresholds(self) -> np.ndarray:
        rng = random_stream(self.seed, S_PILOT)
        n = int(min(self.n_users, max(2000, 100_000 / max(self.n_reviews / self.n_users, 1.0))))
        counts = _draw_counts(rng, n, self.alpha, self.cap)
        score = self.sample_chunk(rng, counts)["score"]
        q = np.cumsum(TARGET_STAR_SHARES)[:-1]
        return np.quantile(score, q)

"""Writing a synthetic data set: ``generate`` streams the chunks into gzip files, then renames.

Each file is written under a temporary name and renamed at the end, so an error leaves no
half-written file behind; the planted truth goes to an ``.npz`` without pickle.
"""

from __future__ import annotations

import gzip
import os
import tempfile
import zipfile
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

import numpy as np

from deepcart.pipeline.synthetic.constants import (
    AFFINITY_SCALE,
    COMPRESSLEVEL,
    META_NAME,
    MIN_ITEMS,
    NOISE_SD,
    OFF_TOPIC_TASTE,
    REVIEWS_NAME,
    REVIEWS_PER_ITEM,
    REVIEWS_PER_USER,
    S_CHUNK,
    TRUTH_NAME,
    USERS_PER_CHUNK,
)
from deepcart.pipeline.synthetic.word_banks import TOPICS
from deepcart.pipeline.synthetic.world import random_stream, World
from deepcart.pipeline.synthetic.rendering import meta_lines, render_chunk


@dataclass(frozen=True)


class SynthFiles:
    """Paths and sizes of one generated data set."""

    reviews: Path  # <out>/Synthetic_Electronics.jsonl.gz
    meta: Path  # <out>/meta_Synthetic_Electronics.jsonl.gz
    truth: Path  # <out>/synthetic_truth.npz
    n_reviews: int  # lines written to the review file (including the planted duplicates)
    n_users: int
    n_items: int  # items in the meta file
    shards: tuple[Path, ...] = ()  # every review file, in order (``reviews`` is the first)


def _npy_member(zf: zipfile.ZipFile, name: str, dtype: np.dtype, shape: tuple,
                chunks: Iterable[bytes], compress: bool) -> None:
    zi = zipfile.ZipInfo(name + ".npy", date_time=(1980, 1, 1, 0, 0, 0))
    zi.external_attr = 0o644 << 16
    if compress:
        zi.compress_type = zipfile.ZIP_DEFLATED
        for attr in ("compress_level", "_compresslevel"):  # public name from 3.13, private before
            try:
                setattr(zi, attr, 1)
                break
            except AttributeError:
                pass
    else:
        zi.compress_type = zipfile.ZIP_STORED
    nbytes = int(np.prod(shape, dtype=np.int64)) * np.dtype(dtype).itemsize
    with zf.open(zi, "w", force_zip64=nbytes > (1 << 31) - (1 << 20)) as f:
        np.lib.format.write_array_header_1_0(
            f, {"descr": np.lib.format.dtype_to_descr(np.dtype(dtype)), "fortran_order": False,
                "shape": tuple(int(s) for s in shape)})
        for b in chunks:
            f.write(b)


def _file_chunks(path: Path, size: int = 1 << 22) -> Iterable[bytes]:
    with open(path, "rb") as f:
        while True:
            b = f.read(size)
            if not b:
                return
            yield b


# Public entry point


def shard_name(k: int, shards: int) -> str:
    """The review file name of shard ``k`` (from 0) of ``shards`` (the plain name when one)."""
    if shards == 1:
        return REVIEWS_NAME
    stem = REVIEWS_NAME.removesuffix(".jsonl.gz")
    return f"{stem}-{k + 1:05d}-of-{shards:05d}.jsonl.gz"


def generate(out_dir: Path, n_reviews: int, seed: int = 0, *, n_users: int | None = None,
             n_items: int | None = None, progress: Callable[[int], None] | None = None,
             force: bool = False, shards: int = 1) -> SynthFiles:
    """Write a synthetic Amazon-Reviews-2023-style Electronics data set under ``out_dir``.

    ``n_reviews`` lines (planted duplicates included) go to the review file; ``n_users`` defaults
    to ``round(n_reviews / 2.4)`` and ``n_items`` (rows of the meta file) to
    ``max(50, round(n_reviews / 27))``, the Electronics ratios. ``progress`` is called with the
    number of review lines written since its last call. Each file is written under a temporary
    name and renamed at the end; existing files raise ``FileExistsError`` unless ``force``.

    ``shards`` > 1 writes the reviews as that many files, ``Synthetic_Electronics-00001-of-00008
    .jsonl.gz`` and so on, each a run of whole users: read in order, they hold exactly the lines of
    the one file (the same seed writes the same lines), so a build of either gives the same data.
    """
    out_dir = Path(out_dir)
    n_reviews = int(n_reviews)
    seed = int(seed)
    if n_reviews < 1:
        raise ValueError("n_reviews must be >= 1")
    if n_users is None:
        n_users = max(1, int(round(n_reviews / REVIEWS_PER_USER)))
    if n_items is None:
        n_items = max(MIN_ITEMS, int(round(n_reviews / REVIEWS_PER_ITEM)))
    n_users, n_items = int(n_users), int(n_items)
    if not 1 <= n_users <= n_reviews:
        raise ValueError("n_users must be between 1 and n_reviews")
    if n_items < 1:
        raise ValueError("n_items must be >= 1")

    n_chunks = -(-n_users // USERS_PER_CHUNK)
    if not 1 <= int(shards) <= n_chunks:
        raise ValueError(f"shards must be between 1 and {n_chunks} for {n_users:,} users "
                         f"(a shard holds whole runs of {USERS_PER_CHUNK:,} users)")
    shards = int(shards)
    review_files = tuple(out_dir / shard_name(k, shards) for k in range(shards))
    files = SynthFiles(review_files[0], out_dir / META_NAME, out_dir / TRUTH_NAME,
                       n_reviews, n_users, n_items, review_files)
    finals = (*review_files, files.meta, files.truth)
    if not force:
        for p in finals:
            if p.exists():
                raise FileExistsError(f"{p} already exists")
    out_dir.mkdir(parents=True, exist_ok=True)

    w = World(seed, n_reviews, n_users, n_items)
    d = w.d
    tmps: list[Path] = []

    def tmp(name: str) -> Path:
        fd, p = tempfile.mkstemp(prefix=f".{name}.", suffix=".part", dir=out_dir)
        os.close(fd)
        tmps.append(Path(p))
        return Path(p)

    try:
        t_revs = [tmp(path.name) for path in review_files]
        t_meta, t_truth = tmp(META_NAME), tmp(TRUTH_NAME)
        t_uid, t_ubias, t_ufac = tmp("user_ids"), tmp("user_bias"), tmp("user_factors")
        t_ufav = tmp("user_favourite_topics")
        n_lines = np.zeros(w.n_cat, np.int64)
        star_sum = np.zeros(w.n_cat, np.int64)
        first_ts = np.full(w.n_cat, np.iinfo(np.int64).max, np.int64)

        with ExitStack() as stack, open(t_uid, "wb") as fu, open(t_ubias, "wb") as fb, \
                open(t_ufac, "wb") as ff, open(t_ufav, "wb") as fv:
            writers = [stack.enter_context(gzip.GzipFile(
                filename=final.name.removesuffix(".gz"), mode="wb",
                fileobj=stack.enter_context(open(t, "wb")), compresslevel=COMPRESSLEVEL, mtime=0))
                for t, final in zip(t_revs, review_files)]
            for ci, u0 in enumerate(range(0, n_users, USERS_PER_CHUNK)):
                gz = writers[ci * shards // n_chunks]  # shard k: a contiguous run of chunks
                counts = w.counts[u0:u0 + USERS_PER_CHUNK]
                rng = random_stream(seed, S_CHUNK, ci)
                c = w.sample_chunk(rng, counts)
                data, stars = render_chunk(w, rng, c)
                gz.write(data)
                item = c["item"]
                n_lines += np.bincount(item, minlength=w.n_cat)
                star_sum += np.bincount(item, weights=stars, minlength=w.n_cat).astype(np.int64)
                np.minimum.at(first_ts, item, c["ts"])
                fu.write(np.ascontiguousarray(c["codes"]).view("S28")[:, 0].astype("<U28").tobytes())
                fb.write(c["bias"].astype("<f4").tobytes())
                ff.write(c["p"].astype("<f4").tobytes())
                fv.write(c["favourites"].astype("<i2").tobytes())
                if progress is not None:
                    progress(c["m"])

        with open(t_meta, "wb") as raw, gzip.GzipFile(
                filename=META_NAME, mode="wb", fileobj=raw, compresslevel=COMPRESSLEVEL,
                mtime=0) as gz:
            for b in meta_lines(w, seed, n_lines, star_sum, first_ts):
                gz.write(b)

        tl = max(len(t[0]) for t in TOPICS)
        item_arrays = {
            "item_ids": np.array(w.item_ids.tolist(), dtype="<U10"),
            "item_has_meta": w.has_meta,
            "item_quality": w.quality.astype("<f4"),
            "item_is_bad": w.is_bad,
            "item_is_polar": w.is_polar,
            "item_popularity": (w.weight / w.weight.sum()).astype("<f4"),
            "item_topic": w.item_topic.astype("<i2"),
            "item_factors": w.item_factors.astype("<f4"),
            "item_n_reviews": n_lines.astype("<i4"),
            "topic_names": np.array([t[0] for t in TOPICS], dtype=f"<U{tl}"),
            "topic_nouns": np.array([t[1] for t in TOPICS], dtype="<U32"),
            "user_n_reviews": w.counts.astype("<i4"),
            "rating_thresholds": w.thresholds.astype("<f8"),
            "affinity_scale": np.array(AFFINITY_SCALE, "<f8"),
            "noise_sd": np.array(NOISE_SD, "<f8"),
            "off_topic_taste": np.array(OFF_TOPIC_TASTE, "<f8"),
            "seed": np.array(seed, "<i8") if -(1 << 63) <= seed < (1 << 63) else np.array(str(seed)),
        }
        with zipfile.ZipFile(t_truth, "w", allowZip64=True) as zf:
            for name, arr in item_arrays.items():
                arr = np.asarray(arr)  # (np.ascontiguousarray would make 0-d arrays 1-d)
                _npy_member(zf, name, arr.dtype, arr.shape, [arr.tobytes(order="C")],
                            arr.dtype.kind == "U")
            _npy_member(zf, "user_ids", np.dtype("<U28"), (n_users,), _file_chunks(t_uid), True)
            _npy_member(zf, "user_bias", np.dtype("<f4"), (n_users,), _file_chunks(t_ubias), False)
            _npy_member(zf, "user_factors", np.dtype("<f4"), (n_users, d), _file_chunks(t_ufac), False)
            _npy_member(zf, "user_favourite_topics", np.dtype("<i2"), (n_users, 3),
                        _file_chunks(t_ufav), False)

        for t, final in (*zip(t_revs, review_files), (t_meta, files.meta), (t_truth, files.truth)):
            os.chmod(t, 0o644)
            os.replace(t, final)
    finally:
        for p in tmps:
            try:
                p.unlink()
            except FileNotFoundError:
                pass
    return files

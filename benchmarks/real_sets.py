"""The real rating sets of ``../shared/data`` as deepcart dataset tags, for quality measurements.

Used by ``benchmarks/real_quality.py`` (``deepcart compare`` on every set) and
``scripts/tune_defaults.py`` (``deepcart tune`` on every set). The data itself never enters the
repository: a set whose files are absent is skipped, with the reason.

Every set is built the way the issue tracker measured it: a 2-core (each user and item keeps at
least two ratings, so a held-out user has something to fold in and something to check), except
the official 5-core file, used as it is.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("DEEPCART_SHARED", REPO.parent / "shared")) / "data"


@dataclass(frozen=True)
class RealSet:
    """One real set: its files (relative to ``shared/data``) and how to build it."""

    tag: str
    what: str
    reviews: tuple[str, ...]
    items: tuple[str, ...] = ()
    k_core: int | None = 2
    note: str = ""

    def paths(self) -> list[Path]:
        """Every input file."""
        return [SHARED / f for f in (*self.reviews, *self.items)]

    def missing(self) -> list[Path]:
        """Input files that are not there."""
        return [p for p in self.paths() if not p.is_file()]


REAL_SETS: tuple[RealSet, ...] = (
    RealSet("electronics-2014", "Amazon Electronics 2014, first 50k ratings, 2-core",
            ("amazon-real/ratings_Electronics_2014_head50k.csv",)),
    RealSet("magazine-2023", "Amazon Magazine_Subscriptions 2023, first 10k reviews + meta, 2-core",
            ("amazon-real/Magazine_Subscriptions.jsonl.gz",), ("amazon-real/meta_Magazine_Subscriptions.jsonl.gz",)),
    RealSet("electronics-2023", "Amazon Electronics 2023, first 10k reviews (partial fields), 2-core",
            ("amazon-real/Electronics_head10k_partial.jsonl.gz",)),
    RealSet("beauty-5core", "Amazon All_Beauty 2023, official 5-core",
            ("amazon-real/All_Beauty.5core.rating_only.csv",), k_core=None),
    RealSet("beauty-0core", "Amazon All_Beauty 2023, official 0-core split files (train + valid), 2-core",
            ("amazon-real/All_Beauty.0core.last_out_w_his.train.csv",
             "amazon-real/All_Beauty.0core.last_out_w_his.valid.csv")),
    RealSet("magazine-2018-sample", "Amazon Magazine_Subscriptions 2018, 546-row sample, 2-core",
            ("amazon-real/Magazine_Subscriptions_2018_ratings.csv",)),
    RealSet("movielens-small", "MovieLens latest-small (610 users), 2-core",
            ("real-ratings/ml_latest_small.csv.gz",)),
    RealSet("toys-2014", "Amazon Toys 2014 (DeepCF preprocessing), 2-core",
            ("real-ratings/amazon2014_toys_deepcf.csv.gz",)),
    RealSet("magazine-2018", "Amazon Magazine_Subscriptions 2018, the whole ratings file, 2-core",
            ("real-ratings/Magazine_Subscriptions_2018.csv.gz",)),
)
#: Files of ``shared/data`` not used, and why.
NOT_USED = {
    "amazon-real/prerelease_review10.json": "10 reviews: a key-alias sample, too small to evaluate anything",
}


def ensure_tag(real: RealSet, data_dir: Path, registry) -> Path | None:
    """Build ``real`` into ``data_dir`` unless it is there already; None when its files are absent."""
    from deepcart.pipeline.build import BuildSpec, build_dataset
    from deepcart.pipeline.tags import tag_path

    if real.missing():
        return None
    path = tag_path(real.tag, data_dir)
    if path.exists():
        return path
    filters = [("k-core", {"k": real.k_core})] if real.k_core else []
    spec = BuildSpec(tag=real.tag, reviews=[SHARED / f for f in real.reviews], items=[SHARED / f for f in real.items],
                     filters=filters, data_dir=data_dir, source_note={"real_set": real.what})
    return build_dataset(spec, registry, echo=lambda _m: None, progress=False).path

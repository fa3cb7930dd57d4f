"""Synthetic Amazon Reviews 2023 data in the Electronics mould: streaming, deterministic.

``generate(out_dir, n_reviews, seed)`` writes three files that look like the real release where
recommenders care:

* ``Synthetic_Electronics.jsonl.gz``: review lines with exactly the 2023 keys, types and key order,
  grouped by user with the newest review first, ~0.3% duplicate (user, parent_asin) pairs, a
  J-shaped rating distribution, texts with ``<br />`` tags and HTML entities;
* ``meta_Synthetic_Electronics.jsonl.gz``: item meta lines with the 2023 keys in the real order
  (nested ``details``, price float / null / odd string, varying ``main_category``); ~0.5% of the
  reviewed items have no meta row;
* ``synthetic_truth.npz``: the planted truth (item quality, the bad items, latent factors, user
  ids and biases, rating thresholds), loadable with ``np.load(path, allow_pickle=False)``.

The model behind the ratings: every item has a topic (a product noun such as "cable"), a Zipf
popularity weight, a quality and a latent vector near its topic's centroid; every user has a heavy
tailed number of reviews, one to three favourite topics, a bias and a latent taste vector.
A review's latent score is ``user_bias + item_quality + AFFINITY_SCALE * w * (p_u . v_i) + noise``
with ``w`` = 1 for an item in one of the user's favourite topics and ``OFF_TOPIC_TASTE`` otherwise
(people judge what they are enthusiasts of by taste, casual purchases mostly by quality); the
stars are the score's bucket between thresholds set at the quantiles that give the J-shape.
About 3% of the items are genuinely bad (negative quality) but are drawn from the popular half of
the catalogue, so their popularity owes nothing to their quality; 10% of the popular items are
polarising (a large loading on the main taste dimension: loved by some, hated by others). So a
person's worst products are partly everyone's (the bad items, which an item mean finds) and
partly their own (a polarising product or a mismatch inside the topics they buy), which only
collaborative filtering can find.

Users are generated, written and discarded in chunks of ``USERS_PER_CHUNK``: memory stays bounded
by the per-item arrays, a 4-byte review count per user and one chunk, whatever ``n_reviews``.
Every chunk has its own random stream derived from ``(seed, chunk index)``, so the output is
byte-identical for the same arguments (with the same numpy version).

**Modules**, split at the generator's seams: :mod:`.constants` (every knob), :mod:`.word_banks`
(topics, sentences, titles), :mod:`.world` (the planted items and users), :mod:`.rendering` (JSON
lines of reviews and meta), :mod:`.writer` (:func:`generate`: chunks to gzip files, then rename).
The package depends on the standard library and numpy only.
"""

from deepcart.pipeline.synthetic.constants import (
    META_KEYS,
    META_NAME,
    REVIEW_KEYS,
    REVIEWS_NAME,
    TARGET_STAR_SHARES,
    TRUTH_NAME,
    WORLD_VERSION,
)
from deepcart.pipeline.synthetic.word_banks import (
    BAD_SENTENCES,
    NEUTRAL_SENTENCES,
    SHORT_TEXTS,
    STAR_SENTENCES,
    TITLES,
    TOPICS,
)
from deepcart.pipeline.synthetic.writer import SynthFiles, generate

__all__ = [
    "BAD_SENTENCES", "META_KEYS", "META_NAME", "NEUTRAL_SENTENCES", "REVIEW_KEYS", "REVIEWS_NAME",
    "SHORT_TEXTS", "STAR_SENTENCES", "SynthFiles", "TARGET_STAR_SHARES", "TITLES", "TOPICS",
    "TRUTH_NAME", "WORLD_VERSION", "generate",
]

"""The knobs of the synthetic world: file names and keys, sizes, rating model and shares.

Every number the generator uses to shape the data lives here, with the real Electronics figure it
imitates where there is one. ``WORLD_VERSION`` changes whenever the output for a seed changes.
"""

from __future__ import annotations

import calendar


CATEGORY = "Synthetic_Electronics"
REVIEWS_NAME = f"{CATEGORY}.jsonl.gz"
META_NAME = f"meta_{CATEGORY}.jsonl.gz"
TRUTH_NAME = "synthetic_truth.npz"

REVIEW_KEYS = (
    "rating", "title", "text", "images", "asin", "parent_asin", "user_id", "timestamp",
    "helpful_vote", "verified_purchase",
)
META_KEYS = (
    "main_category", "title", "average_rating", "rating_number", "features", "description",
    "price", "images", "videos", "store", "categories", "details", "parent_asin",
    "bought_together",
)

# Model parameters
#: Version of the generated world: bumped whenever a change alters what a given seed generates,
#: so that cached copies (the embedded default) are known to be stale. 2: polarising items, taste
#: weighted by topic, milder bad items. 3: text only (title attributes that fit the product kind, no
#: sentence twice in a review, prices on 84% of items); every rating, user and item as in 2.
WORLD_VERSION = 3
TARGET_STAR_SHARES = (0.10, 0.05, 0.08, 0.17, 0.60)  # 1..5 stars (Amazon's J-shape)
REVIEWS_PER_USER = 2.4  # Electronics: 43.9M ratings / 18.3M users
REVIEWS_PER_ITEM = 27  # Electronics: 43.9M ratings / 1.6M items
MIN_ITEMS = 50
MAX_REVIEWS_PER_USER = 1500
USERS_PER_CHUNK = 20_000
LATENT_DIM = 12
LATENT_DECAY = 0.35  # variance of taste dimension k is proportional to LATENT_DECAY^k
AFFINITY_SCALE = 1.4  # weight of p_u . v_i (which has unit variance)
NOISE_SD = 0.5
USER_BIAS_SD = 0.4
ITEM_QUALITY_SD = 0.35
TOPIC_LOADING = 0.7  # v_i = TOPIC_LOADING * c_topic + sqrt(1 - TOPIC_LOADING^2) * e_i
# How much users' taste leans towards their favourite topics. 0: liking a whole topic shows as
# buying in it, not as rating everything in it higher (which would put a person's lowest expected
# ratings in topics they never buy from).
TASTE_ALIGNMENT = 0.0
# Weight of taste (p_u . v_i) for items outside the user's favourite topics: enthusiasts have
# strong personal opinions where they buy most; casual purchases are judged mostly on quality.
OFF_TOPIC_TASTE = 0.3
BAD_ITEM_SHARE = 0.03
BAD_QUALITY_MEAN = -1.5  # star mean of the bad items ~2.8 (5-core); few real items sit lower
BAD_QUALITY_SD = 0.3
BAD_POPULAR_FRACTION = 0.5  # bad items are drawn from this most popular fraction of items
# Polarising products (love it or hate it): a share of the popular, not-bad items whose factor
# loads +-POLAR_LOADING on the main taste dimension, so their stars are bimodal.
POLAR_SHARE = 0.10
POLAR_LOADING = 3.0
ZIPF_EXPONENT = 1.2  # popularity weight of the item of rank r: (r + offset)^-ZIPF_EXPONENT
ZIPF_OFFSET = (0.002, 3.0)  # offset = 0.002 * n_items + 3: the same shape at every size
GLOBAL_TOPIC_SHARE = 0.15  # share of a user's reviews outside their favourite topics
COMPANION_SHARE = 0.25  # share of reviews whose topic follows the previous review's companion
DUPLICATE_SHARE = 0.003
MISSING_META_SHARE = 0.005
VARIANT_ITEM_SHARE = 0.12
IMAGE_SHARE = 0.02
VIDEO_SHARE = 0.03
COMPRESSLEVEL = 3

T_START = calendar.timegm((2004, 1, 1, 0, 0, 0))
T_END = calendar.timegm((2023, 9, 13, 0, 0, 0))
WHOLE_SECONDS_BEFORE = calendar.timegm((2017, 1, 1, 0, 0, 0))  # older reviews have ...000 ms
OLD_IMAGE_HOST_BEFORE = calendar.timegm((2019, 1, 1, 0, 0, 0))
# Relative review volume per calendar year (2023 ends mid-September), Electronics-like growth.
YEAR_WEIGHTS = {
    2004: 0.3, 2005: 0.6, 2006: 1.0, 2007: 2.0, 2008: 3.5, 2009: 5.0, 2010: 7.0, 2011: 10.0,
    2012: 15.0, 2013: 24.0, 2014: 30.0, 2015: 37.0, 2016: 42.0, 2017: 46.0, 2018: 52.0,
    2019: 60.0, 2020: 68.0, 2021: 66.0, 2022: 58.0, 2023: 36.0,
}

# Random-stream identifiers (the second element of each SeedSequence entropy).
S_WORLD, S_COUNTS, S_PILOT, S_CHUNK, S_META, S_POLAR = 1, 2, 3, 4, 5, 6

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

This module depends on the standard library and numpy only.
"""

from __future__ import annotations

import calendar
import gzip
import json
import os
import tempfile
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

import numpy as np

__all__ = [
    "SynthFiles",
    "generate",
    "REVIEWS_NAME",
    "META_NAME",
    "TRUTH_NAME",
    "REVIEW_KEYS",
    "META_KEYS",
    "TOPICS",
    "STAR_SENTENCES",
    "BAD_SENTENCES",
    "NEUTRAL_SENTENCES",
    "SHORT_TEXTS",
    "TITLES",
    "TARGET_STAR_SHARES",
]

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

# ---------------------------------------------------------------------------------------------
# Model parameters
# ---------------------------------------------------------------------------------------------
#: Version of the generated world: bumped whenever a change alters what a given seed generates,
#: so that cached copies (the embedded default) are known to be stale. 2: polarising items, taste
#: weighted by topic, milder bad items.
WORLD_VERSION = 2
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

_T_START = calendar.timegm((2004, 1, 1, 0, 0, 0))
_T_END = calendar.timegm((2023, 9, 13, 0, 0, 0))
_WHOLE_SECONDS_BEFORE = calendar.timegm((2017, 1, 1, 0, 0, 0))  # older reviews have ...000 ms
_OLD_IMAGE_HOST_BEFORE = calendar.timegm((2019, 1, 1, 0, 0, 0))
# Relative review volume per calendar year (2023 ends mid-September), Electronics-like growth.
_YEAR_WEIGHTS = {
    2004: 0.3, 2005: 0.6, 2006: 1.0, 2007: 2.0, 2008: 3.5, 2009: 5.0, 2010: 7.0, 2011: 10.0,
    2012: 15.0, 2013: 24.0, 2014: 30.0, 2015: 37.0, 2016: 42.0, 2017: 46.0, 2018: 52.0,
    2019: 60.0, 2020: 68.0, 2021: 66.0, 2022: 58.0, 2023: 36.0,
}

# Random-stream identifiers (the second element of each SeedSequence entropy).
_S_WORLD, _S_COUNTS, _S_PILOT, _S_CHUNK, _S_META, _S_POLAR = 1, 2, 3, 4, 5, 6

# ---------------------------------------------------------------------------------------------
# Topics: (key, noun used in review texts, noun used in meta titles, main_category,
#          category path, typical price, relative catalogue share)
# Nouns in texts are always grammatically singular ("pair of headphones").
# ---------------------------------------------------------------------------------------------
_EL, _CA = "Electronics", "Computers & Accessories"
_CP = "Cell Phones & Accessories"
TOPICS: tuple[tuple, ...] = (
    ("usb_cable", "cable", "USB C Cable", "Computers",
     (_EL, _CA, "Computer Accessories & Peripherals", "Cables & Accessories", "USB Cables"), 9.99, 3.0),
    ("hdmi_cable", "HDMI cable", "HDMI Cable", "All Electronics",
     (_EL, "Television & Video", "Accessories", "Cables", "HDMI Cables"), 11.99, 1.5),
    ("headphones", "pair of headphones", "Wireless Over-Ear Headphones", "All Electronics",
     (_EL, "Headphones, Earbuds & Accessories", "Headphones & Earbuds", "Over-Ear Headphones"), 39.99, 2.0),
    ("earbuds", "set of earbuds", "Wireless Earbuds", _CP,
     (_EL, "Headphones, Earbuds & Accessories", "Headphones & Earbuds", "Earbud Headphones"), 29.99, 2.5),
    ("charger", "charger", "USB C Wall Charger", _CP,
     (_EL, _CP, "Accessories", "Chargers & Power Adapters", "Wall Chargers"), 15.99, 2.5),
    ("car_charger", "car charger", "Car Charger Adapter", _CP,
     (_EL, _CP, "Accessories", "Car Accessories", "Car Chargers"), 12.99, 1.0),
    ("power_bank", "power bank", "Portable Power Bank", _CP,
     (_EL, _CP, "Accessories", "Chargers & Power Adapters", "Portable Power Banks"), 25.99, 1.5),
    ("phone_case", "phone case", "Phone Case", _CP,
     (_CP, "Cases, Holsters & Sleeves", "Basic Cases"), 12.99, 3.0),
    ("screen_protector", "screen protector", "Tempered Glass Screen Protector", _CP,
     (_CP, "Accessories", "Screen Protectors"), 8.99, 2.0),
    ("watch_band", "watch band", "Silicone Watch Band", _CP,
     (_CP, "Accessories", "Smartwatch Accessories", "Smartwatch Bands"), 9.99, 1.0),
    ("mouse", "mouse", "Wireless Mouse", "Computers",
     (_EL, _CA, "Computer Accessories & Peripherals", "Keyboards, Mice & Accessories", "Mice"), 19.99, 2.0),
    ("keyboard", "keyboard", "Mechanical Gaming Keyboard", "Computers",
     (_EL, _CA, "Computer Accessories & Peripherals", "Keyboards, Mice & Accessories", "Keyboards"),
     45.99, 1.5),
    ("monitor", "monitor", "27 Inch IPS Monitor", "Computers", (_EL, _CA, "Monitors"), 189.99, 1.0),
    ("router", "router", "Dual Band WiFi Router", "Computers",
     (_EL, _CA, "Networking Products", "Routers"), 69.99, 1.0),
    ("network_switch", "network switch", "8 Port Gigabit Ethernet Switch", "Computers",
     (_EL, _CA, "Networking Products", "Switches"), 24.99, 0.5),
    ("bluetooth_adapter", "Bluetooth adapter", "USB Bluetooth Adapter", "Computers",
     (_EL, _CA, "Networking Products", "Bluetooth Network Adapters"), 12.99, 0.6),
    ("webcam", "webcam", "1080P HD Webcam", "Computers",
     (_EL, _CA, "Computer Accessories & Peripherals", "Audio & Video Accessories", "Webcams"), 35.99, 0.8),
    ("memory_card", "memory card", "microSDXC Memory Card", "Computers",
     (_EL, _CA, "Data Storage", "Micro SD Cards"), 14.99, 1.8),
    ("flash_drive", "flash drive", "USB 3.0 Flash Drive", "Computers",
     (_EL, _CA, "Data Storage", "USB Flash Drives"), 12.99, 1.2),
    ("ssd", "SSD", "Internal Solid State Drive", "Computers",
     (_EL, _CA, "Data Storage", "Internal Solid State Drives"), 59.99, 1.0),
    ("hard_drive", "hard drive", "Portable External Hard Drive", "Computers",
     (_EL, _CA, "Data Storage", "External Hard Drives"), 64.99, 0.9),
    ("laptop_stand", "laptop stand", "Adjustable Laptop Stand", "Computers",
     (_EL, _CA, "Laptop Accessories", "Lap Desks"), 26.99, 0.7),
    ("laptop_bag", "laptop bag", "Laptop Backpack", "Computers",
     (_EL, _CA, "Laptop Accessories", "Bags, Cases & Sleeves", "Backpacks"), 34.99, 0.8),
    ("graphics_card", "graphics card", "Graphics Card", "Computers",
     (_EL, _CA, "Computer Components", "Graphics Cards"), 329.99, 0.4),
    ("tablet", "tablet", "10 Inch Android Tablet", "Computers", (_EL, _CA, "Tablets"), 119.99, 0.6),
    ("speaker", "speaker", "Portable Bluetooth Speaker", "Home Audio & Theater",
     (_EL, "Portable Audio & Video", "Portable Speakers & Docks", "Portable Bluetooth Speakers"), 35.99, 1.5),
    ("soundbar", "soundbar", "Sound Bar for TV", "Home Audio & Theater",
     (_EL, "Home Audio", "Speakers", "Sound Bars"), 99.99, 0.7),
    ("tv_mount", "TV mount", "Full Motion TV Wall Mount", "Home Audio & Theater",
     (_EL, "Television & Video", "Accessories", "TV Mounts, Stands & Turntables", "TV Wall & Ceiling Mounts"),
     29.99, 0.8),
    ("remote", "remote", "Universal Remote Control", "All Electronics",
     (_EL, "Television & Video", "Accessories", "Remote Controls"), 10.99, 0.8),
    ("streaming_stick", "streaming stick", "4K Streaming Media Stick", "Home Audio & Theater",
     (_EL, "Television & Video", "Streaming Media Players"), 39.99, 0.6),
    ("projector", "projector", "Mini Portable Projector", "Home Audio & Theater",
     (_EL, "Television & Video", "Projectors"), 89.99, 0.5),
    ("camera", "camera", "Digital Camera", "Camera & Photo",
     (_EL, "Camera & Photo", "Digital Cameras", "Point & Shoot Digital Cameras"), 149.99, 0.7),
    ("tripod", "tripod", "Aluminum Camera Tripod", "Camera & Photo",
     (_EL, "Camera & Photo", "Tripods & Monopods", "Complete Tripods"), 24.99, 0.8),
    ("lens", "lens", "Camera Lens", "Camera & Photo",
     (_EL, "Camera & Photo", "Lenses", "Camera Lenses"), 129.99, 0.5),
    ("ring_light", "ring light", "LED Ring Light with Stand", "Camera & Photo",
     (_EL, "Camera & Photo", "Lighting & Studio", "Ring Lights"), 25.99, 0.5),
    ("dash_cam", "dash cam", "Dash Cam Front and Rear", "Car Electronics",
     (_EL, "Car & Vehicle Electronics", "Car Electronics", "Car Video", "Dash Cams"), 49.99, 0.7),
    ("microphone", "microphone", "USB Condenser Microphone", "Musical Instruments",
     ("Musical Instruments", "Microphones & Accessories", "Microphones", "Condenser"), 45.99, 0.6),
    ("surge_protector", "surge protector", "Surge Protector Power Strip", "Industrial & Scientific",
     (_EL, "Accessories & Supplies", "Power Protection", "Surge Protectors"), 19.99, 0.9),
    ("batteries", "pack of batteries", "AA Rechargeable Batteries", "All Electronics",
     (_EL, "Household Batteries, Chargers & Accessories", "Batteries", "AA"), 16.99, 1.2),
)
# What people buy next (the sequential signal); a topic not listed follows itself.
_COMPANIONS = {
    "usb_cable": "charger", "charger": "usb_cable", "car_charger": "usb_cable", "power_bank": "usb_cable",
    "phone_case": "screen_protector", "screen_protector": "phone_case", "monitor": "hdmi_cable",
    "hdmi_cable": "monitor", "keyboard": "mouse", "mouse": "keyboard", "camera": "memory_card",
    "memory_card": "camera", "tripod": "camera", "lens": "camera", "laptop_stand": "laptop_bag",
    "laptop_bag": "laptop_stand", "tv_mount": "soundbar", "soundbar": "tv_mount",
    "streaming_stick": "remote", "router": "network_switch", "network_switch": "router",
    "ssd": "hard_drive", "hard_drive": "ssd", "webcam": "microphone", "microphone": "ring_light",
    "ring_light": "tripod", "headphones": "earbuds", "earbuds": "phone_case", "tablet": "charger",
    "dash_cam": "memory_card", "graphics_card": "monitor", "projector": "hdmi_cable",
}
_MAIN_CATEGORY_EXTRA = (
    "All Electronics", "Computers", "Cell Phones & Accessories", "Camera & Photo",
    "Home Audio & Theater", "Amazon Home", "Car Electronics", "Industrial & Scientific",
    "Office Products", "Tools & Home Improvement", "Portable Audio & Accessories",
)

# ---------------------------------------------------------------------------------------------
# Text banks. "{n}" is the topic's noun. Strings are plain text with literal & and "; they are
# JSON-escaped once when the banks are rendered, and a share of the rendered reviews gets its "
# turned into &#34; and its & into &amp; (HTML entities, like the real files).
# ---------------------------------------------------------------------------------------------
STAR_SENTENCES: dict[int, tuple[str, ...]] = {
    5: (
        "This {n} works exactly as described.",
        "Great {n} for the price.",
        "I have been using this {n} every day for a few months and it still works like new.",
        "Setup took less than five minutes.",
        "Highly recommend!",
        "Build quality is excellent and it feels solid.",
        "Exactly what I needed.",
        "Better than the name-brand {n} I had before.",
        "Would definitely buy again.",
        "Shipping was fast & the packaging was nice.",
        "My husband loves it.",
        "I liked it so much that I bought a second one for the office.",
        "No complaints at all.",
        "Excellent value for the money.",
        "I was skeptical because of the low price, but this {n} is fantastic.",
        "It\u2019s compact, light and very well made.",
        "Honestly the best {n} I have owned.",
        "The quality surprised me in a good way.",
        "Arrived on time and works perfectly.",
        "It says \"premium\" on the box and it really is.",
        "Five stars, no question.",
        "Does everything I wanted and more.",
        "Love this {n}!",
        "Works flawlessly with all of my devices.",
        "I would recommend this {n} to anyone.",
        "The seller even followed up to make sure everything was working.",
        "Zero issues so far.",
        "You can\u2019t beat it at this price.",
    ),
    4: (
        "Good {n} overall.",
        "Works well, although the instructions could be clearer.",
        "Solid {n} for the money.",
        "Only giving four stars because it is a little bulkier than I expected.",
        "Does the job well.",
        "Not perfect, but good enough for daily use.",
        "I would give it five stars if it came with a carrying case.",
        "Pretty happy with this purchase.",
        "The color is slightly different from the picture, but it works fine.",
        "A good value, even if it feels a bit plasticky.",
        "It took a while to figure out the settings, but now it works great.",
        "Works as expected so far.",
        "Nice {n}, minor issues aside.",
        "The packaging was a little damaged, but the {n} itself was fine.",
        "Happy with it, would probably buy again.",
        "Decent quality & a fair price.",
        "After a few weeks of use it is holding up well.",
        "It gets the job done without any fuss.",
        "A bit pricey, but the quality is there.",
        "Mostly satisfied with this {n}.",
    ),
    3: (
        "This {n} is just average.",
        "It works, but it feels cheap.",
        "Some things are good, some are not.",
        "It does the job, nothing special.",
        "I had to return the first one, but the replacement works fine.",
        "Mixed feelings about this {n}.",
        "Not bad for the price, but I expected more.",
        "It is okay for occasional use.",
        "The {n} works, but the companion app is clunky.",
        "Middle of the road.",
        "It is fine if you don\u2019t need anything fancy.",
        "Quality control seems hit or miss.",
        "It works most of the time.",
        "Neither great nor terrible.",
        "I might look for something else next time.",
        "The \"easy setup\" was not that easy.",
        "It is smaller & lighter than I wanted.",
        "Three stars is about right.",
    ),
    2: (
        "Disappointed with this {n}.",
        "It works, barely.",
        "The quality is poor.",
        "It started acting up after a couple of weeks.",
        "Not worth the money.",
        "Customer service was not very helpful.",
        "The description is misleading.",
        "I expected much more from this {n}.",
        "It disconnects every few minutes.",
        "Feels flimsy and cheaply made.",
        "I would not buy this {n} again.",
        "It only worked half of the time.",
        "The fit is off & the buttons stick.",
        "Returned it for a refund.",
        "Two stars because it did turn on, at least.",
        "Save your money and get a better {n}.",
    ),
    1: (
        "Does not work.",
        "Stopped working after two days.",
        "Complete waste of money.",
        "Do not buy this {n}.",
        "Arrived broken.",
        "Total junk.",
        "It never worked, not even once.",
        "Cheap & flimsy.",
        "The worst {n} I have ever bought.",
        "Dead on arrival.",
        "I want my money back.",
        "It died after one week.",
        "Terrible quality, it fell apart.",
        "The seller never answered my emails.",
        "Zero stars if I could.",
        "The \"new\" {n} was obviously used.",
        "Garbage.",
        "It broke the first time I used it.",
    ),
}
# Reviews of the planted bad items with 1 or 2 stars: scathing.
BAD_SENTENCES: tuple[str, ...] = (
    "Stopped working after two days.",
    "Complete waste of money.",
    "This {n} is a fire hazard.",
    "It got dangerously hot after ten minutes of use.",
    "Mine died within a week and the seller ignored my messages.",
    "Clearly a counterfeit, nothing like the pictures.",
    "Avoid this {n} at all costs.",
    "All those glowing reviews must be fake.",
    "It smelled like burning plastic right out of the box.",
    "It fried the port on my laptop.",
    "Two returns, two defective units.",
    "Absolute garbage, do not waste your money.",
    "It broke in half the first week.",
    "Stay away from this {n}.",
    "The listing is a scam.",
    "Nothing about this {n} works as advertised.",
)
# Star-neutral filler that pads longer reviews.
NEUTRAL_SENTENCES: tuple[str, ...] = (
    "I bought this {n} to replace an old one.",
    "Bought this as a gift for my son.",
    "I use it mostly at work.",
    "I have had it for about three months now.",
    "I ordered it on a Tuesday and it arrived on Thursday.",
    "My setup is pretty simple: a laptop, a desk and not much else.",
    "I compared a few options before picking this {n}.",
    "It came in a small box with a short manual.",
    "I mainly use it when traveling.",
    "This is my second {n} from this seller.",
    "I read a lot of reviews before buying.",
    "We use it in the living room.",
    "I\u2019m not a tech person, so keep that in mind.",
    "It is smaller than it looks in the photos.",
    "My daughter picked this one out.",
    "I use it with my phone and my work laptop.",
    "Update: after a month of use, my opinion hasn\u2019t changed.",
    "For reference, I paid about the listed price.",
    "I bought it during a sale.",
    "My old {n} lasted about four years.",
)
# One-phrase reviews; key 0 = bad items.
SHORT_TEXTS: dict[int, tuple[str, ...]] = {
    5: ("Great!", "Love it", "Works great.", "Perfect", "Excellent product", "Awesome",
        "As described.", "Great {n}", "Very good", "Exactly as advertised"),
    4: ("Good", "Works well.", "Nice {n}", "Pretty good", "Good value", "Does the job"),
    3: ("OK", "It's ok", "Average", "Meh", "Fine for the price"),
    2: ("Not great", "Meh, not worth it", "Poor quality", "Disappointing"),
    1: ("Junk", "Broke", "Didn't work.", "Waste of money", "Garbage", "Terrible"),
    0: ("DO NOT BUY", "Junk!", "Fire hazard", "Scam", "Died in two days"),
}
TITLES: dict[int, tuple[str, ...]] = {
    5: ("Five Stars", "Great {n}!", "Love it!", "Works perfectly", "Excellent", "Exactly as described",
        "Best {n} ever", "Highly recommend", "Great value", "Awesome {n}", "Perfect!",
        "Does exactly what it should"),
    4: ("Four Stars", "Good value", "Pretty good {n}", "Works well", "Solid", "Good, not great",
        "Nice {n}", "Happy with it"),
    3: ("Three Stars", "It's ok", "Meh", "Average {n}", "Decent but not great", "Just okay",
        "Mixed feelings"),
    2: ("Two Stars", "Disappointed", "Not great", "Poor quality", "Not worth it", "Meh, returning it"),
    1: ("One Star", "Junk", "Don't buy", "Broke after a week", "Waste of money", "Dead on arrival",
        "Terrible {n}"),
    0: ("Complete waste of money", "DANGEROUS - DO NOT BUY", "Died in two days", "Scam",
        "Fake reviews, junk product", "Stay away!"),
}
_SHORT_SHARE = np.array([0.0, 0.06, 0.07, 0.08, 0.14, 0.20])  # by star (index 1..5)

# Meta vocabulary.
_BRANDS = (
    "Voltix", "Nexora", "SoundPeak", "Kelvar", "Aurix", "Brightline", "Zentech", "Orbix", "Lumora",
    "Quillon", "Tekspan", "Vantro", "Hexon", "Pulsewave", "Corvana", "Ampera", "Stratos", "Novalink",
    "Fluxor", "Trionic", "Maxtrek", "Silvane", "Cobaltix", "Ravenport", "Elevon", "Gridwell",
    "Portis", "Axxel", "Kinetra", "Solvio", "Zephra", "Mirako", "Dynacore", "Veltron", "Ultrix",
    "Oakridge Tech", "BlueCrest", "Primetek", "Northvolt Audio", "Sparkcell", "Iconiq", "Tandem Labs",
    "Wavely", "Quantix", "Ferrolite", "Glidex", "Halcyon", "Jettro", "Lynxor", "Modulo",
)
_COLORS = ("Black", "White", "Gray", "Silver", "Blue", "Red", "Space Gray", "Rose Gold", "Green")
_TITLE_SPECS = (
    "Fast Charging", "Compatible with iPhone and Samsung Galaxy", "2-Pack", "Upgraded 2023 Version",
    "Plug and Play", "Ultra Slim", "Heavy Duty", "with Carrying Case", "Long Battery Life",
    "Noise Cancelling", "Nylon Braided", "Low Latency", "Waterproof", "Adjustable", "4K Ready",
    "for Home and Office", "Shockproof", "Wireless", "High Speed", "Travel Friendly",
)
_FEATURES = (
    "\u3010{adj} Design\u3011 The {brand} {t} is built from premium materials for long-lasting everyday use.",
    "WIDE COMPATIBILITY: Works with most laptops, tablets and smartphones.",
    "WHAT YOU GET: 1 x {t}, 1 x user manual, our worry-free 18-month warranty and friendly customer service.",
    "EASY SETUP: Plug and play, no extra software or drivers required.",
    "COMPACT & LIGHTWEIGHT: Easy to carry in a bag or pocket.",
    "SAFE & RELIABLE: Built-in protection against overheating, over-current and short circuits.",
    "DURABLE: Tested to survive thousands of cycles of daily use.",
    "{adj} PERFORMANCE: Enjoy fast, stable results wherever you are.",
    "ECO PACKAGING: Shipped in 100% recyclable packaging.",
    "Package includes: {t} x1",
)
_FEATURE_ADJ = ("Premium", "Ergonomic", "Upgraded", "Smart", "Portable", "Rugged", "Sleek", "Pro")
_DESCRIPTIONS = (
    "Product Description",
    "The {brand} {t} combines reliable performance with a clean, modern look.",
    "Whether you are at home, at the office or on the road, the {t} keeps up with you.",
    "{brand} has been designing consumer electronics since {year}.",
    "Note: please check compatibility with your device before purchasing.",
)
_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September",
           "October", "November", "December")

_B32 = np.frombuffer(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", dtype=np.uint8)
_ALNUM = np.frombuffer(b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ", dtype=np.uint8)
_IMGCH = np.frombuffer(b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz+-",
                       dtype=np.uint8)
_RATING_STR = np.array(["0.0", "1.0", "2.0", "3.0", "4.0", "5.0"], dtype=object)
_BOOL_STR = np.array(["false", "true"], dtype=object)
_SEPS = np.array(["", " ", "  ", "<br /><br />", "<br />"], dtype=object)
_LINE = ('{"rating": %s, "title": "%s", "text": "%s", "images": %s, "asin": "%s", '
         '"parent_asin": "%s", "user_id": "%s", "timestamp": %d, "helpful_vote": %d, '
         '"verified_purchase": %s}\n')


@dataclass(frozen=True)
class SynthFiles:
    """Paths and sizes of one generated data set."""

    reviews: Path  # <out>/Synthetic_Electronics.jsonl.gz
    meta: Path  # <out>/meta_Synthetic_Electronics.jsonl.gz
    truth: Path  # <out>/synthetic_truth.npz
    n_reviews: int  # lines written to the review file (including the planted duplicates)
    n_users: int
    n_items: int  # items in the meta file


# ---------------------------------------------------------------------------------------------
# Small helpers
# ---------------------------------------------------------------------------------------------
def _rng(seed: int, stream: int, *extra: int) -> np.random.Generator:
    entropy = seed if seed >= 0 else (1 << 64) + seed  # SeedSequence wants non-negative ints
    return np.random.default_rng(np.random.SeedSequence([entropy, stream, *extra]))


def _esc(s: str) -> str:
    """JSON-escape ``s`` (without the quotes), ASCII-only like the raw files."""
    return json.dumps(s)[1:-1]


def _next_prime(n: int) -> int:
    n = max(n, 2)
    while any(n % d == 0 for d in range(2, int(n ** 0.5) + 1)):
        n += 1
    return n


def _codes_to_str(codes: np.ndarray) -> np.ndarray:
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


# ---------------------------------------------------------------------------------------------
# The world: catalogue, topics, user activity, rating thresholds, rendered text banks
# ---------------------------------------------------------------------------------------------
class _World:
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
        rng = _rng(seed, _S_WORLD)
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
        prng = _rng(seed, _S_POLAR)
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
        self.brand = (rng.zipf(1.6, n_cat) - 1) % len(_BRANDS)

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
        comp = np.array([keys.index(_COMPANIONS.get(k, k)) for k in keys])
        self.companion = np.where(self.t_mass[comp] > 0, comp, np.arange(T))

        # --- user activity: heavy-tailed counts summing exactly to n_reviews ----------------
        self.cap = cap = max(1, min(MAX_REVIEWS_PER_USER, n_cat // 2))
        self.alpha = _solve_alpha(n_reviews / n_users, cap)
        crng = _rng(seed, _S_COUNTS)
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
            codes[:, 3:] = _ALNUM[rng.integers(0, 36, (len(todo), 7))]
            strs = _codes_to_str(codes)
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
        A long-text pool is the bank's own sentences followed by the neutral filler, padded (by
        repeating filler) to a prime length so that a random stride visits distinct sentences.
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
                    p = _next_prime(len(pool))
                    pool += [filler[i % len(filler)] for i in range(p - len(pool))]
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
        codes[:, 2:27] = _B32[rng.integers(0, 32, (n, 25))]
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
        lo = np.maximum(anchor - u * span, _T_START)
        hi = np.minimum(anchor + (1 - u) * span, _T_END - 1)
        t = lo[uid] + rng.random(m) * (hi - lo)[uid]
        t = t[np.lexsort((t, uid))]  # uid is already sorted: this sorts times inside users
        ts = np.floor(t * 1000).astype(np.int64) + rng.integers(0, 1000, m)
        old = ts < _WHOLE_SECONDS_BEFORE * 1000
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
        years = np.array(sorted(_YEAR_WEIGHTS))
        w = np.array([_YEAR_WEIGHTS[y] for y in years], dtype=np.float64)
        cw = np.cumsum(w) / w.sum()
        y = years[np.minimum(np.searchsorted(cw, rng.random(n), side="right"), len(years) - 1)]
        starts = np.array([calendar.timegm((int(v), 1, 1, 0, 0, 0)) for v in years], dtype=np.float64)
        ends = np.append(starts[1:], _T_END)
        i = y - years[0]
        return starts[i] + rng.random(n) * (ends[i] - starts[i])

    def _pilot_thresholds(self) -> np.ndarray:
        rng = _rng(self.seed, _S_PILOT)
        n = int(min(self.n_users, max(2000, 100_000 / max(self.n_reviews / self.n_users, 1.0))))
        counts = _draw_counts(rng, n, self.alpha, self.cap)
        score = self.sample_chunk(rng, counts)["score"]
        q = np.cumsum(TARGET_STAR_SHARES)[:-1]
        return np.quantile(score, q)


# ---------------------------------------------------------------------------------------------
# Writing
# ---------------------------------------------------------------------------------------------
def _image_id(rng: np.random.Generator, n: int) -> list[str]:
    codes = np.empty((n, 11), np.uint8)
    codes[:, 0] = np.frombuffer(b"5678", np.uint8)[rng.integers(0, 4, n)]
    codes[:, 1] = np.frombuffer(b"1", np.uint8)[0]
    codes[:, 2:] = _IMGCH[rng.integers(0, len(_IMGCH), (n, 9))]
    return _codes_to_str(codes).tolist()


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


def _render_chunk(w: _World, rng: np.random.Generator, c: dict) -> tuple[bytes, np.ndarray]:
    """Text, helpfulness, images, ... for one chunk; returns the lines in file order and stars."""
    m, uid, item, pos = c["m"], c["uid"], c["item"], c["pos"]
    T = w.n_topics
    stars = (1 + np.searchsorted(w.thresholds, c["score"])).astype(np.int64)
    topic = c["topic"]
    bad = w.is_bad[item] & (stars <= 2)
    bank = np.where(bad, 5, stars - 1)
    short = rng.random(m) < np.where(bad, 0.05, _SHORT_SHARE[stars])
    key = np.where(short, bank + 6, bank) * T + topic
    n_sent = np.where(short, 1, 1 + np.floor(np.exp(0.9 + 1.0 * rng.standard_normal(m)))
                      + (stars <= 2)).astype(np.int64)
    n_sent = np.minimum(n_sent, 40)
    size = w.s_size[key]
    n_sent = np.minimum(n_sent, size)
    first = rng.integers(0, 1 << 30, m) % w.s_own[key]
    step = 1 + rng.integers(0, 1 << 30, m) % np.maximum(size - 1, 1)
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
    age_years = (_T_END * 1000 - c["ts"]) / (365.25 * 86400e3)
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
        old = c["ts"][with_img] < _OLD_IMAGE_HOST_BEFORE * 1000
        ids = _image_id(rng, int(k.sum()))
        a = 0
        for idx, kk, oo in zip(with_img.tolist(), k.tolist(), old.tolist()):
            images[idx] = _review_images(ids[a:a + kk], oo)
            a += kk

    users = _codes_to_str(c["codes"])[uid]
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


def _meta_lines(w: _World, seed: int, n_lines: np.ndarray, star_sum: np.ndarray,
                first_ts: np.ndarray) -> Iterable[bytes]:
    """Meta rows of the meta items in catalogue order, in chunks of bytes."""
    chunk = 4096
    bsr_scale = 1_600_000 / max(w.n_cat, 1)  # ranks as if the catalogue were Electronics-sized
    base = "https://m.media-amazon.com/images/I/"
    no_ts = np.iinfo(np.int64).max
    for c0 in range(0, w.n_meta, chunk):
        rng = _rng(seed, _S_META, c0 // chunk)
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
        ft = np.where(ft == no_ts, _T_END * 1000, ft) // 1000
        dfa_l = np.maximum(ft - (rng.random(n) * 200 * 86400).astype(np.int64),
                           _T_START - 365 * 86400).tolist()
        img_ids = _image_id(rng, n * 16)
        topic_l = w.item_topic[idx].tolist()
        brand_l = w.brand[idx].tolist()
        out = []
        for k in range(n):
            i = c0 + k
            r = R[k]
            _key, _noun, tnoun, main_cat, path, _price, _w = TOPICS[topic_l[k]]
            brand = _BRANDS[brand_l[k]]
            spec0 = _TITLE_SPECS[int(r[0] * len(_TITLE_SPECS))]
            spec1 = _TITLE_SPECS[int(r[1] * len(_TITLE_SPECS))]
            color = _COLORS[int(r[2] * len(_COLORS))]
            title = f"{brand} {tnoun}, {spec0}"
            if spec1 != spec0 and r[3] < 0.6:
                title += f", {spec1}"
            if r[4] < 0.5:
                title += f" ({color})"
            mc = _MAIN_CATEGORY_EXTRA[int(r[6] * len(_MAIN_CATEGORY_EXTRA))] if r[5] < 0.12 else main_cat
            adj = _FEATURE_ADJ[int(r[7] * len(_FEATURE_ADJ))]
            n_feat = 0 if r[8] < 0.2 else 1 + int(r[9] * 5)
            f0 = int(r[10] * len(_FEATURES))
            features = [_FEATURES[(f0 + j) % len(_FEATURES)].format(adj=adj, brand=brand, t=tnoun)
                        for j in range(n_feat)]
            if r[12] < 0.4:
                description = []
            else:
                nd = 1 + int(r[13] * 3)
                year = 1995 + int(r[11] * 25)
                description = [_DESCRIPTIONS[(j + (0 if nd > 1 else 1)) % len(_DESCRIPTIONS)]
                               .format(brand=brand, t=tnoun, year=year) for j in range(nd)]
            if r[14] < 0.40:
                price = None
            elif r[14] < 0.41:
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
            details["Date First Available"] = f"{_MONTHS[tm.tm_mon - 1]} {tm.tm_mday}, {tm.tm_year}"
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


# ---------------------------------------------------------------------------------------------
# Public entry point
# ---------------------------------------------------------------------------------------------
def generate(out_dir: Path, n_reviews: int, seed: int = 0, *, n_users: int | None = None,
             n_items: int | None = None, progress: Callable[[int], None] | None = None,
             force: bool = False) -> SynthFiles:
    """Write a synthetic Amazon-Reviews-2023-style Electronics data set under ``out_dir``.

    ``n_reviews`` lines (planted duplicates included) go to the review file; ``n_users`` defaults
    to ``round(n_reviews / 2.4)`` and ``n_items`` (rows of the meta file) to
    ``max(50, round(n_reviews / 27))``, the Electronics ratios. ``progress`` is called with the
    number of review lines written since its last call. Each file is written under a temporary
    name and renamed at the end; existing files raise ``FileExistsError`` unless ``force``.
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

    files = SynthFiles(out_dir / REVIEWS_NAME, out_dir / META_NAME, out_dir / TRUTH_NAME,
                       n_reviews, n_users, n_items)
    finals = (files.reviews, files.meta, files.truth)
    if not force:
        for p in finals:
            if p.exists():
                raise FileExistsError(f"{p} already exists")
    out_dir.mkdir(parents=True, exist_ok=True)

    w = _World(seed, n_reviews, n_users, n_items)
    d = w.d
    tmps: list[Path] = []

    def tmp(name: str) -> Path:
        fd, p = tempfile.mkstemp(prefix=f".{name}.", suffix=".part", dir=out_dir)
        os.close(fd)
        tmps.append(Path(p))
        return Path(p)

    try:
        t_rev, t_meta, t_truth = tmp(REVIEWS_NAME), tmp(META_NAME), tmp(TRUTH_NAME)
        t_uid, t_ubias, t_ufac = tmp("user_ids"), tmp("user_bias"), tmp("user_factors")
        t_ufav = tmp("user_favourite_topics")
        n_lines = np.zeros(w.n_cat, np.int64)
        star_sum = np.zeros(w.n_cat, np.int64)
        first_ts = np.full(w.n_cat, np.iinfo(np.int64).max, np.int64)

        with open(t_rev, "wb") as raw, gzip.GzipFile(
                filename=REVIEWS_NAME, mode="wb", fileobj=raw, compresslevel=COMPRESSLEVEL,
                mtime=0) as gz, open(t_uid, "wb") as fu, open(t_ubias, "wb") as fb, \
                open(t_ufac, "wb") as ff, open(t_ufav, "wb") as fv:
            for ci, u0 in enumerate(range(0, n_users, USERS_PER_CHUNK)):
                counts = w.counts[u0:u0 + USERS_PER_CHUNK]
                rng = _rng(seed, _S_CHUNK, ci)
                c = w.sample_chunk(rng, counts)
                data, stars = _render_chunk(w, rng, c)
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
            for b in _meta_lines(w, seed, n_lines, star_sum, first_ts):
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

        for t, final in ((t_rev, files.reviews), (t_meta, files.meta), (t_truth, files.truth)):
            os.chmod(t, 0o644)
            os.replace(t, final)
    finally:
        for p in tmps:
            try:
                p.unlink()
            except FileNotFoundError:
                pass
    return files

"""Property tests: every filter against an independent pure-Python version, on random rating tables.

Tables are small (a few users and items, so that k-cores are neither always empty nor trivial), built
in DuckDB; each SQL result is compared with a plain-Python reference applied to the same input, and
each report with the difference between the tables before and after the step.
"""

from __future__ import annotations

import hashlib
import math
from collections import Counter

import duckdb
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from deepcart.plugin_manager import load_plugins

FILTER_MODULES = tuple(
    f"deepcart.plugins.filters.{name}"
    for name in ("min_count", "orphans", "subsample", "kcore")
)
REGISTRY = load_plugins(builtins=FILTER_MODULES, entry_points=False).registry

Pairs = frozenset[tuple[str, str]]

USERS = [f"u{i}" for i in range(7)]
ITEMS = [f"i{i}" for i in range(7)]
tables = st.frozensets(st.tuples(st.sampled_from(USERS), st.sampled_from(ITEMS)), max_size=35)
metas = st.frozensets(st.sampled_from(ITEMS + ["unrated"]))
seeds = st.integers(-(2**31), 2**31)
thresholds = st.integers(1, 5)

SETTINGS = settings(max_examples=25, deadline=None)


@pytest.fixture(scope="module")
def con():
    con = duckdb.connect(config={"threads": 1})
    yield con
    con.close()


@pytest.fixture(scope="module")
def other_con():
    con = duckdb.connect(config={"threads": 1})
    yield con
    con.close()


# -- references, in plain Python ------------------------------------------------------------------


def users_of(pairs: Pairs) -> set[str]:
    return {u for u, _ in pairs}


def items_of(pairs: Pairs) -> set[str]:
    return {i for _, i in pairs}


def min_degree(pairs: Pairs, side: int, n: int) -> Pairs:
    degree = Counter(p[side] for p in pairs)
    return frozenset(p for p in pairs if degree[p[side]] >= n)


def kcore(pairs: Pairs, user_k: int, item_k: int) -> Pairs:
    """Peel users and items below their threshold *at the same time*, until nothing changes.

    The SQL filter alternates user and item steps instead; the k-core is unique, so both must agree.
    """
    while True:
        users, items = Counter(u for u, _ in pairs), Counter(i for _, i in pairs)
        kept = frozenset((u, i) for u, i in pairs if users[u] >= user_k and items[i] >= item_k)
        if kept == pairs:
            return kept
        pairs = kept


def subsample(pairs: Pairs, keep: int, seed: int) -> Pairs:
    ranked = sorted(users_of(pairs), key=lambda u: (hashlib.md5(f"{seed}:{u}".encode()).hexdigest(), u))
    chosen = set(ranked[:keep])
    return frozenset(p for p in pairs if p[0] in chosen)


def orphans(pairs: Pairs, meta: frozenset[str]) -> Pairs:
    return pairs if not meta else frozenset(p for p in pairs if p[1] in meta)


def reference(pairs: Pairs, meta: frozenset[str], name: str, options: dict, seed: int) -> Pairs:
    if name == "min-interactions":
        return min_degree(pairs, 0, options["n"])
    if name == "min-ratings":
        return min_degree(pairs, 1, options["n"])
    if name == "k-core":
        k = options.get("k", 5)
        return kcore(pairs, options.get("user_k") or k, options.get("item_k") or k)
    if name == "orphans":
        return orphans(pairs, meta)
    if name == "subsample":
        users = len(users_of(pairs))
        keep = options.get("n") or max(1, math.floor(options["fraction"] * users + 0.5))
        return subsample(pairs, min(keep, users), seed)
    raise AssertionError(name)


# -- running the SQL filters ----------------------------------------------------------------------


def load(con, pairs: Pairs, meta: frozenset[str] = frozenset()) -> None:
    rows = sorted(pairs)
    con.execute(
        """CREATE OR REPLACE TABLE interactions AS
           SELECT unnest(?::VARCHAR[]) AS user_id, unnest(?::VARCHAR[]) AS parent_asin,
                  4.0::DOUBLE AS rating, TIMESTAMP '2020-01-01' AS timestamp""",
        [[u for u, _ in rows], [i for _, i in rows]],
    )
    con.execute("CREATE OR REPLACE TABLE items AS SELECT unnest(?::VARCHAR[]) AS parent_asin", [sorted(meta)])


def current(con) -> Pairs:
    return frozenset(con.execute("SELECT user_id, parent_asin FROM interactions").fetchall())


def apply(con, name: str, options: dict, seed: int = 0):
    """Run one filter; check its report against the tables before and after; return the rows kept."""
    before, meta = current(con), con.execute("SELECT count(*) FROM items").fetchall()[0][0]
    report = REGISTRY.create("filter", name, options).apply(con, seed=seed)
    after = current(con)
    assert report.step == name
    assert report.dropped_ratings == len(before) - len(after), report
    assert report.dropped_users == len(users_of(before)) - len(users_of(after)), report
    assert report.dropped_items == len(items_of(before)) - len(items_of(after)), report
    assert report.message.startswith(("Dropped ", "Kept all ratings")), report.message
    assert con.execute("SELECT count(*) FROM items").fetchall()[0][0] == meta  # items is left intact
    return after


filter_steps = st.one_of(
    st.tuples(st.just("min-interactions"), st.fixed_dictionaries({"n": thresholds})),
    st.tuples(st.just("min-ratings"), st.fixed_dictionaries({"n": thresholds})),
    st.tuples(st.just("orphans"), st.just({})),
    st.tuples(st.just("subsample"), st.fixed_dictionaries({"n": st.integers(1, 8)})),
    st.tuples(st.just("subsample"), st.fixed_dictionaries({"fraction": st.floats(0.01, 1.0)})),
    st.tuples(st.just("k-core"), st.fixed_dictionaries({"k": thresholds})),
    st.tuples(
        st.just("k-core"), st.fixed_dictionaries({"user_k": thresholds, "item_k": thresholds})
    ),
)


# -- properties -----------------------------------------------------------------------------------


@SETTINGS
@given(pairs=tables, user_k=thresholds, item_k=thresholds)
def test_kcore_is_the_maximal_fixed_point(con, pairs, user_k, item_k):
    load(con, pairs)
    options = {"user_k": user_k, "item_k": item_k}
    kept = apply(con, "k-core", options)
    # every remaining user and item has enough ratings ...
    assert all(n >= user_k for n in Counter(u for u, _ in kept).values())
    assert all(n >= item_k for n in Counter(i for _, i in kept).values())
    # ... it is the largest such subset (the independent peeling) ...
    assert kept == kcore(pairs, user_k, item_k)
    # ... and a fixed point: a second pass drops nothing, in zero rounds.
    report = REGISTRY.create("filter", "k-core", options).apply(con, seed=0)
    assert (report.dropped_users, report.dropped_items, report.dropped_ratings) == (0, 0, 0)
    assert report.message.endswith("0 rounds)")


@SETTINGS
@given(pairs=tables, n=thresholds)
def test_min_interactions_keeps_exactly_the_active_users_and_all_their_rows(con, pairs, n):
    load(con, pairs)
    kept = apply(con, "min-interactions", {"n": n})
    active = {u for u, c in Counter(u for u, _ in pairs).items() if c >= n}
    assert kept == frozenset(p for p in pairs if p[0] in active)


@SETTINGS
@given(pairs=tables, n=thresholds)
def test_min_ratings_keeps_exactly_the_rated_items_and_all_their_rows(con, pairs, n):
    load(con, pairs)
    kept = apply(con, "min-ratings", {"n": n})
    rated = {i for i, c in Counter(i for _, i in pairs).items() if c >= n}
    assert kept == frozenset(p for p in pairs if p[1] in rated)


@SETTINGS
@given(pairs=tables, meta=metas)
def test_orphans_keeps_exactly_the_rows_with_item_meta(con, pairs, meta):
    load(con, pairs, meta)
    kept = apply(con, "orphans", {})
    assert kept == orphans(pairs, meta)
    assert frozenset(r[0] for r in con.execute("SELECT parent_asin FROM items").fetchall()) == meta


@SETTINGS
@given(pairs=tables, n=st.integers(1, 9), seed=seeds)
def test_subsample_keeps_all_rows_of_exactly_n_seeded_users(con, other_con, pairs, n, seed):
    load(con, pairs)
    kept = apply(con, "subsample", {"n": n}, seed=seed)
    assert len(users_of(kept)) == min(n, len(users_of(pairs)))
    assert kept == frozenset(p for p in pairs if p[0] in users_of(kept))  # whole users only
    assert kept == subsample(pairs, n, seed)  # the documented md5 ranking
    load(con, pairs)  # same seed, same users
    assert apply(con, "subsample", {"n": n}, seed=seed) == kept
    load(other_con, pairs)  # and on another database
    assert apply(other_con, "subsample", {"n": n}, seed=seed) == kept


@settings(max_examples=40, deadline=None)
@given(pairs=tables, meta=metas, chain=st.lists(filter_steps, min_size=1, max_size=4), seed=seeds)
def test_any_chain_in_any_order_matches_the_references_step_by_step(con, pairs, meta, chain, seed):
    """No filter assumes it runs first or after another: each step is checked on its actual input."""
    load(con, pairs, meta)
    expected = pairs
    for name, options in chain:
        expected = reference(expected, meta, name, options, seed)
        assert apply(con, name, options, seed=seed) == expected, (name, options)


@settings(max_examples=15, deadline=None)
@given(pairs=tables, k=thresholds, n=thresholds, users_first=st.booleans())
def test_kcore_absorbs_weaker_minimum_filters_in_either_order(con, pairs, k, n, users_first):
    """A min-interactions / min-ratings with n <= k never removes a k-core rating, before or after."""
    n = min(n, k)
    load(con, pairs)
    direct = apply(con, "k-core", {"k": k})
    load(con, pairs)
    first, second = ("min-interactions", "min-ratings") if users_first else ("min-ratings", "min-interactions")
    apply(con, first, {"n": n})
    apply(con, "k-core", {"k": k})
    assert apply(con, second, {"n": n}) == direct

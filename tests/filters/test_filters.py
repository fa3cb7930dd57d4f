"""Hand-made cases for the built-in filters: exact rows kept, counts and messages."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

import duckdb
import pytest

from deepcart.contracts import Filter
from deepcart.errors import ConfigError
from deepcart.plugin_manager import load_plugins
from deepcart.plugins import BUILTIN_PLUGINS
from deepcart.reports import FilterReport

FILTER_MODULES = tuple(
    f"deepcart.plugins.filters.{name}"
    for name in ("min_count", "orphans", "subsample", "kcore")
)
NAMES = ("min-interactions", "min-ratings", "orphans", "subsample", "k-core")


@pytest.fixture(scope="module")
def registry():
    return load_plugins(builtins=FILTER_MODULES, entry_points=False).registry


@pytest.fixture
def con():
    con = duckdb.connect()
    yield con
    con.close()


def load(con, pairs: Iterable[tuple[str, str]], items: Iterable[str] | None = ()) -> None:
    """Create ``interactions`` (rating and timestamp derived from the position) and ``items``."""
    pairs = list(pairs)
    con.execute(
        """CREATE OR REPLACE TABLE interactions AS
           SELECT user_id, parent_asin, (1 + n % 5)::DOUBLE AS rating,
                  TIMESTAMP '2020-01-01' + to_seconds(n) AS timestamp
           FROM (SELECT unnest(?::VARCHAR[]) AS user_id, unnest(?::VARCHAR[]) AS parent_asin,
                        unnest(range(?)) AS n)""",
        [[u for u, _ in pairs], [i for _, i in pairs], len(pairs)],
    )
    con.execute(
        "CREATE OR REPLACE TABLE items AS SELECT unnest(?::VARCHAR[]) AS parent_asin, 't' AS title",
        [list(items or ())],
    )


def pairs(con) -> set[tuple[str, str]]:
    return set(con.execute("SELECT user_id, parent_asin FROM interactions").fetchall())


def run(registry, con, name: str, options: dict | None = None, seed: int = 0) -> FilterReport:
    step = registry.create("filter", name, options or {})
    return step.apply(con, seed=seed)


def grid(users: dict[str, str]) -> list[tuple[str, str]]:
    """``{"u1": "abc"}`` -> u1 rated items a, b and c."""
    return [(u, i) for u, items in users.items() for i in items]


# -- registration and configs ----------------------------------------------------------------------


def test_all_registered_and_meet_the_protocol(registry):
    assert set(NAMES) <= set(registry.names("filter"))
    options = {"subsample": {"n": 1}}
    for name in NAMES:
        component = registry.get("filter", name)
        assert component.summary, f"{name} needs a one-line docstring"
        assert isinstance(registry.create("filter", name, options.get(name)), Filter)


@pytest.mark.parametrize(
    "name, options, field",
    [
        ("min-interactions", {"n": 0}, "n"),
        ("min-ratings", {"n": -1}, "n"),
        ("k-core", {"k": 0}, "k"),
        ("k-core", {"user_k": 0}, "user_k"),
        ("subsample", {"n": 0}, "n"),
        ("subsample", {"fraction": 1.5}, "fraction"),
        ("subsample", {"fraction": 0}, "fraction"),
        ("subsample", {}, "exactly one of n"),
        ("subsample", {"n": 3, "fraction": 0.5}, "exactly one of n"),
        ("orphans", {"n": 1}, "no option 'n'"),
        ("k-core", {"kk": 1}, "no option 'kk'"),
    ],
)
def test_bad_options_name_the_field(registry, name, options, field):
    with pytest.raises(ConfigError, match=field):
        registry.create("filter", name, options)


def test_options_from_the_command_line_are_strings(registry):
    step = registry.create("filter", "k-core", {"k": "10", "item_k": "3"})
    assert step.config.thresholds == (10, 3)


# -- min-interactions / min-ratings ---------------------------------------------------------------


def test_min_interactions(registry, con):
    load(con, grid({"u1": "abc", "u2": "ad", "u3": "e", "u4": "abcde"}))
    report = run(registry, con, "min-interactions", {"n": 3})
    assert pairs(con) == set(grid({"u1": "abc", "u4": "abcde"}))
    assert (report.dropped_users, report.dropped_items, report.dropped_ratings) == (2, 0, 3)
    assert report.message == "Dropped 2 users (<3 ratings) and their 3 ratings"
    assert report.step == "min-interactions" and report.params == {"n": 3}


def test_min_interactions_counts_items_left_without_ratings(registry, con):
    load(con, grid({"u1": "abc", "u2": "xy", "u3": "x"}))
    report = run(registry, con, "min-interactions", {"n": 3})
    assert pairs(con) == set(grid({"u1": "abc"}))
    assert (report.dropped_users, report.dropped_items, report.dropped_ratings) == (2, 2, 3)
    assert report.message == "Dropped 2 users (<3 ratings) and their 3 ratings; 2 items were left without ratings"


def test_min_interactions_message_uses_thousands_separators(registry, con):
    con.execute(
        """CREATE TABLE interactions AS
           SELECT 'U' || (i // 2) AS user_id, 'B' || (i % 7) AS parent_asin, 5.0 AS rating,
                  TIMESTAMP '2020-01-01' AS timestamp FROM range(2468) t(i)
           UNION ALL SELECT 'big', 'B' || i, 1.0, TIMESTAMP '2021-01-01' FROM range(7) t(i)"""
    )
    report = run(registry, con, "min-interactions", {"n": 5})
    assert report.message == "Dropped 1,234 users (<5 ratings) and their 2,468 ratings"
    assert pairs(con) == {("big", f"B{i}") for i in range(7)}


def test_min_interactions_nothing_to_drop(registry, con):
    load(con, grid({"u1": "abc"}))
    report = run(registry, con, "min-interactions", {"n": 1})
    assert report.message == "Dropped 0 users (<1 rating)"
    assert (report.dropped_users, report.dropped_items, report.dropped_ratings) == (0, 0, 0)
    assert len(pairs(con)) == 3


def test_min_ratings(registry, con):
    load(con, grid({"u1": "ab", "u2": "ac", "u3": "a", "u4": "c"}))
    report = run(registry, con, "min-ratings", {"n": 2})
    assert pairs(con) == set(grid({"u1": "a", "u2": "ac", "u3": "a", "u4": "c"}))
    assert report.message == "Dropped 1 item (<2 ratings) and its 1 rating"
    assert (report.dropped_users, report.dropped_items, report.dropped_ratings) == (0, 1, 1)


def test_min_ratings_counts_users_left_without_ratings(registry, con):
    load(con, grid({"u1": "abc", "u2": "c", "u3": "d", "u4": "a"}))
    # a: u1, u4 (2); b: u1 (1); c: u1, u2 (2); d: u3 (1)
    report = run(registry, con, "min-ratings", {"n": 2})
    assert pairs(con) == {("u1", "a"), ("u1", "c"), ("u2", "c"), ("u4", "a")}
    assert report.message == "Dropped 2 items (<2 ratings) and their 2 ratings; 1 user was left without ratings"
    assert (report.dropped_users, report.dropped_items, report.dropped_ratings) == (1, 2, 2)


def test_filters_keep_the_table_its_types_and_leave_no_temporary_tables(registry, tmp_path):
    con = duckdb.connect(str(tmp_path / "build.duckdb"))
    con.execute("SET preserve_insertion_order = false")
    load(con, grid({"u1": "abcde", "u2": "a", "u3": "b", "u4": "c", "u5": "d", "u6": "e", "u7": "f"}))
    con.execute("ALTER TABLE interactions ALTER COLUMN user_id SET NOT NULL")
    types = con.execute("DESCRIBE interactions").fetchall()
    report = run(registry, con, "min-interactions", {"n": 2})  # drops 6 of 11 rows
    assert pairs(con) == set(grid({"u1": "abcde"}))
    assert (report.dropped_users, report.dropped_items, report.dropped_ratings) == (6, 1, 6)
    assert con.execute("DESCRIBE interactions").fetchall() == types  # NOT NULL included
    for name, options in [("k-core", {"k": 2}), ("subsample", {"n": 1}), ("orphans", {}), ("min-ratings", {})]:
        run(registry, con, name, options)
    leftovers = con.execute("SELECT table_name FROM duckdb_tables() WHERE table_name LIKE '_deepcart%'").fetchall()
    assert leftovers == []
    con.close()


# -- orphans --------------------------------------------------------------------------------------


def test_orphans(registry, con):
    load(con, grid({"u1": "abx", "u2": "x", "u3": "ay"}), items=["a", "b", "c", "d"])
    report = run(registry, con, "orphans")
    assert pairs(con) == set(grid({"u1": "ab", "u3": "a"}))
    assert (report.dropped_users, report.dropped_items, report.dropped_ratings) == (1, 2, 3)
    assert report.message == (
        "Dropped 2 items (no item meta) and their 3 ratings; 1 user was left without ratings; "
        "2 items of the item meta have no ratings (kept in items; only rated items are written)"
    )
    # items is left intact
    assert con.execute("SELECT count(*) FROM items").fetchall()[0][0] == 4


def test_orphans_without_item_meta_keeps_everything(registry, con):
    load(con, grid({"u1": "ab"}), items=[])
    report = run(registry, con, "orphans")
    assert report.message == "Kept all ratings: no item meta to check against"
    assert (report.dropped_users, report.dropped_items, report.dropped_ratings) == (0, 0, 0)
    assert len(pairs(con)) == 2


def test_orphans_nothing_to_drop(registry, con):
    load(con, grid({"u1": "ab"}), items=["a", "b"])
    assert run(registry, con, "orphans").message == "Dropped 0 items (no item meta)"


# -- subsample ------------------------------------------------------------------------------------


def expected_sample(users: Iterable[str], n: int, seed: int) -> set[str]:
    """The sampling rule, computed independently in Python."""
    key = lambda u: (hashlib.md5(f"{seed}:{u}".encode()).hexdigest(), u)  # noqa: E731
    return set(sorted(users, key=key)[:n])


def test_subsample_n(registry, con):
    data = grid({f"u{i}": "abc"[: 1 + i % 3] for i in range(10)})
    load(con, data)
    report = run(registry, con, "subsample", {"n": 4}, seed=7)
    kept = expected_sample({u for u, _ in data}, 4, 7)
    assert pairs(con) == {(u, i) for u, i in data if u in kept}
    dropped_ratings = len(data) - len(pairs(con))
    assert report.dropped_users == 6 and report.dropped_ratings == dropped_ratings
    assert report.message.startswith(
        f"Dropped 6 users (random sample: kept 4 of 10, seed 7) and their {dropped_ratings} ratings"
    )
    assert report.params == {"n": 4, "fraction": None}


def test_subsample_fraction_rounds_half_up_and_keeps_at_least_one(registry, con):
    load(con, grid({f"u{i}": "a" for i in range(5)}))
    report = run(registry, con, "subsample", {"fraction": 0.5})  # 2.5 -> 3
    assert report.dropped_users == 2 and len(pairs(con)) == 3
    load(con, grid({f"u{i}": "a" for i in range(5)}))
    run(registry, con, "subsample", {"fraction": 0.01})
    assert len(pairs(con)) == 1


def test_subsample_is_seeded_and_nested(registry, con):
    data = grid({f"user-{i:03d}": "ab" for i in range(200)})

    def kept(n: int, seed: int) -> set[str]:
        load(con, data)
        run(registry, con, "subsample", {"n": n}, seed=seed)
        return {u for u, _ in pairs(con)}

    assert kept(20, 1) == kept(20, 1) == expected_sample({u for u, _ in data}, 20, 1)
    assert kept(20, 1) != kept(20, 2)
    assert kept(20, 1) < kept(50, 1)


def test_subsample_asking_for_more_users_than_there_are(registry, con):
    load(con, grid({"u1": "a", "u2": "b"}))
    report = run(registry, con, "subsample", {"n": 5}, seed=3)
    assert report.message == "Dropped 0 users (random sample: kept 2 of 2, seed 3)"
    assert len(pairs(con)) == 2


# -- k-core ---------------------------------------------------------------------------------------


def test_kcore_cascades_to_the_fixed_point(registry, con):
    # A 2-core {u1, u2} x {a, b} plus a chain that unravels one user / item per step:
    # u3 rates b, c; c is rated by u3, u4; u4 rates c, d; d is rated by u4 only.
    data = grid({"u1": "ab", "u2": "ab", "u3": "bc", "u4": "cd"})
    load(con, data)
    report = run(registry, con, "k-core", {"k": 2})
    assert pairs(con) == set(grid({"u1": "ab", "u2": "ab"}))
    assert (report.dropped_users, report.dropped_items, report.dropped_ratings) == (2, 2, 4)
    # round 1: no user < 2; item d dropped. round 2: u4 dropped, then c. round 3: u3 dropped, then nothing.
    assert report.message == (
        "Dropped 2 users, 2 items and 4 ratings (2-core: <2 ratings per user or item; 3 rounds)"
    )
    again = run(registry, con, "k-core", {"k": 2})
    assert again.message == "Dropped 0 users, 0 items and 0 ratings (2-core: <2 ratings per user or item; 0 rounds)"


def test_kcore_with_separate_thresholds(registry, con):
    load(con, grid({"u1": "abc", "u2": "ab", "u3": "a"}))
    report = run(registry, con, "k-core", {"user_k": 2, "item_k": 3})
    # round 1: u3 (1 rating) goes; then a, b (2 < 3) and c (1): every item goes. Nothing is left.
    assert pairs(con) == set()
    assert report.message == (
        "Dropped 3 users, 3 items and 6 ratings (k-core: users <2 ratings, items <3 ratings; 1 round)"
    )
    load(con, grid({"u1": "abc", "u2": "ab", "u3": "ab"}))
    run(registry, con, "k-core", {"user_k": 2, "item_k": 3})
    assert pairs(con) == set(grid({"u1": "ab", "u2": "ab", "u3": "ab"}))


def test_kcore_on_an_empty_table(registry, con):
    load(con, [])
    report = run(registry, con, "k-core")
    assert (report.dropped_users, report.dropped_items, report.dropped_ratings) == (0, 0, 0)


def test_kcore_5_on_the_official_5core_keeps_everything(registry, con, real_data):
    path = real_data / "All_Beauty.5core.rating_only.csv"
    con.execute(
        f"""CREATE TABLE interactions AS
            SELECT user_id, parent_asin, rating::DOUBLE AS rating, make_timestamp(timestamp * 1000) AS timestamp
            FROM read_csv('{path}', header = true)"""
    )
    report = run(registry, con, "k-core", {"k": 5})
    counts = con.execute(
        "SELECT count(*), count(DISTINCT user_id), count(DISTINCT parent_asin) FROM interactions"
    ).fetchall()[0]
    assert counts == (2535, 253, 356)
    assert (report.dropped_users, report.dropped_items, report.dropped_ratings) == (0, 0, 0)
    # and a 6-core of it unravels completely
    assert run(registry, con, "k-core", {"k": 6}).dropped_ratings == 2535


def test_importing_the_filter_plugins_stays_cheap():
    """Plugins are imported on every ``deepcart`` run, ``--help`` included: no duckdb, no pandera."""
    import subprocess
    import sys

    code = (
        "import sys; " + "; ".join(f"import {m}" for m in FILTER_MODULES) + "; "
        "heavy = [m for m in ('duckdb', 'pandera', 'pandas', 'pyarrow', 'torch') if m in sys.modules]; "
        "assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_the_kernel_lists_the_filter_modules():
    assert set(FILTER_MODULES) <= set(BUILTIN_PLUGINS)

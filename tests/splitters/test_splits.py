"""Splitters: seeded, disjoint, complete (property tests), and the split runner's files."""

from __future__ import annotations

import datetime as dt

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from deepcart.pipeline.splits import PARTS, split_dataset, summary_lines


def ratings_table(triples):
    users, items, ts = zip(*triples) if triples else ([], [], [])
    base = dt.datetime(2020, 1, 1)
    return pa.table({
        "user_id": [f"U{u}" for u in users],
        "parent_asin": [f"I{i}" for i in items],
        "rating": [float(1 + (u * 7 + i) % 5) for u, i in zip(users, items)],
        "timestamp": pa.array([base + dt.timedelta(days=t) for t in ts], pa.timestamp("us")),
    })


def run_split(registry, table, name="user-holdout", options=None, seed=0):
    con = duckdb.connect()
    con.register("source", table)
    con.execute("CREATE TABLE interactions AS SELECT * FROM source")
    registry.create("splitter", name, options or {}).split(con, seed=seed)
    parts = {p: set(map(tuple, con.execute(f"SELECT user_id, parent_asin FROM {p}").fetchall())) for p in PARTS}
    con.close()
    return parts


pairs = st.lists(
    st.tuples(st.integers(0, 40), st.integers(0, 30), st.integers(0, 2000)),
    min_size=1, max_size=300, unique_by=lambda t: (t[0], t[1]),
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(triples=pairs, seed=st.integers(0, 10), newest=st.booleans())
def test_user_holdout_properties(deepcart_registry, triples, seed, newest):
    options = {"holdout": "newest" if newest else "random"}
    table = ratings_table(triples)
    parts = run_split(deepcart_registry, table, options=options, seed=seed)
    # Seeded runs are identical.
    assert parts == run_split(deepcart_registry, table, options=options, seed=seed)
    users = {name: {u for u, _ in rows} for name, rows in parts.items()}
    held = {"val": users["val_input"] | users["val_check"], "test": users["test_input"] | users["test_check"]}
    # No user in two of train / val / test.
    assert not users["train"] & held["val"] and not users["train"] & held["test"] and not held["val"] & held["test"]
    everything = {(f"U{u}", f"I{i}") for u, i, _ in triples}
    for part in ("val", "test"):
        inp, chk = parts[f"{part}_input"], parts[f"{part}_check"]
        assert not inp & chk, "input and check must be disjoint"
        for user in held[part]:
            mine = {p for p in everything if p[0] == user}
            assert {p for p in inp | chk if p[0] == user} == mine, "input + check = the user's ratings"
            n_check = len({p for p in chk if p[0] == user})
            assert n_check <= len(mine) - 1 and (n_check >= 1 or len(mine) == 1)
    assert parts["train"] | parts["val_input"] | parts["val_check"] | parts["test_input"] | parts["test_check"] == everything


def test_user_holdout_fractions_and_newest(deepcart_registry):
    triples = [(u, i, u * 10 + i) for u in range(1000) for i in range(10)]
    parts = run_split(deepcart_registry, ratings_table(triples), options={"holdout": "newest"})
    users = {name: {u for u, _ in rows} for name, rows in parts.items()}
    assert len(users["train"]) == 800 and len(users["val_check"]) == 100 and len(users["test_check"]) == 100
    # 20% of 10 ratings = 2 check ratings each, the newest ones (items 8 and 9 by construction).
    assert len(parts["val_check"]) == 200 and {i for _, i in parts["val_check"]} == {"I8", "I9"}
    other_seed = run_split(deepcart_registry, ratings_table(triples), options={"holdout": "newest"}, seed=1)
    assert other_seed["train"] != parts["train"]


def test_bad_options_name_the_field(deepcart_registry):
    from deepcart.errors import ConfigError

    with pytest.raises(ConfigError, match="train"):
        deepcart_registry.create("splitter", "user-holdout", {"train": "0.95", "val": "0.1"})
    with pytest.raises(ConfigError, match="val_cut"):
        deepcart_registry.create("splitter", "temporal", {"val_cut": 5, "test_cut": 1})


def test_temporal_official_cuts(deepcart_registry):
    ms = lambda d: dt.datetime.fromtimestamp(d / 1000, dt.UTC).replace(tzinfo=None)  # noqa: E731
    rows = [("a", "x", 1600000000000), ("a", "y", 1640000000000), ("b", "x", 1500000000000),
            ("b", "z", 1660000000000), ("c", "y", 1628643414042)]
    table = pa.table({"user_id": [r[0] for r in rows], "parent_asin": [r[1] for r in rows],
                      "rating": [5.0] * 5, "timestamp": pa.array([ms(r[2]) for r in rows], pa.timestamp("us"))})
    parts = run_split(deepcart_registry, table, name="temporal")
    assert parts["train"] == {("a", "x"), ("b", "x")}
    assert parts["val_check"] == {("a", "y"), ("c", "y")}  # the cut point itself belongs to val
    assert parts["val_input"] == {("a", "x")}
    assert parts["test_check"] == {("b", "z")} and parts["test_input"] == {("b", "x")}


def test_split_runner_writes_reuses_and_drops_unseen_items(deepcart_registry, tmp_path):
    triples = [(u, i, u + i) for u in range(200) for i in range(8)] + [(199, 99, 5)]  # I99: rated once
    pq.write_table(ratings_table(triples), tmp_path / "interactions.parquet")
    lines = []
    split = split_dataset(tmp_path, deepcart_registry, "user-holdout", seed=3, echo=lines.append)
    assert {p.name for p in split.path.iterdir()} == {f"{p}.parquet" for p in PARTS} | {"manifest.json"}
    counts = split.manifest["counts"]
    assert sum(c["ratings"] for c in counts.values()) + sum(split.manifest["dropped_unseen"].values()) == len(triples)
    assert lines[0].startswith("train : 160 users @ ")
    assert lines == summary_lines(split.manifest)
    train_items = set(pq.read_table(split.part("train")).column("parent_asin").to_pylist())
    for part in PARTS[1:]:
        assert set(pq.read_table(split.part(part)).column("parent_asin").to_pylist()) <= train_items
    mtime = split.part("train").stat().st_mtime_ns
    again = split_dataset(tmp_path, deepcart_registry, "user-holdout", seed=3, echo=lambda _: None)
    assert again.path == split.path and again.part("train").stat().st_mtime_ns == mtime
    assert split_dataset(tmp_path, deepcart_registry, "user-holdout", seed=4, echo=lambda _: None).path != split.path


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(triples=pairs, seed=st.integers(0, 5), folds=st.integers(2, 6), val=st.sampled_from([0.0, 0.1, 0.25]))
def test_folds_judge_every_user_once(deepcart_registry, triples, seed, folds, val):
    from deepcart.toolkit.hash_order import cut

    table = ratings_table(triples)
    everyone = {f"U{u}" for u, _, _ in triples}
    n = len(everyone)
    tested: list[set] = []
    for fold in range(folds):
        parts = run_split(deepcart_registry, table, options={"folds": folds, "fold": fold, "val": val}, seed=seed)
        users = {name: {u for u, _ in rows} for name, rows in parts.items()}
        test = users["test_input"] | users["test_check"]
        held_val = users["val_input"] | users["val_check"]
        assert not test & held_val and not test & users["train"] and not held_val & users["train"]
        assert test | held_val | users["train"] == everyone
        # Fold f holds positions f*n//K .. (f+1)*n//K of the hash order; val the next val share.
        assert len(test) == (fold + 1) * n // folds - fold * n // folds
        assert len(held_val) == min(cut(val, n), n - len(test))
        tested.append(test)
    assert sum(map(len, tested)) == n and set().union(*tested) == everyone


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(triples=pairs, seed=st.integers(0, 5), folds=st.integers(2, 5), plain=st.sampled_from([(0.8, 0.1), (0.6, 0.2)]))
def test_folds_within_leave_a_plain_splits_test_users_out(deepcart_registry, triples, seed, folds, plain):
    """``within`` = a plain split's train + val: its test users are in no part of any fold, and the
    folds' test blocks tile exactly its train and validation users."""
    table = ratings_table(triples)
    train, val = plain

    def users_of(parts):
        return {name: {u for u, _ in rows} for name, rows in parts.items()}

    usual = users_of(run_split(deepcart_registry, table, options={"train": train, "val": val}, seed=seed))
    reserved = usual["test_input"] | usual["test_check"]
    covered = usual["train"] | usual["val_input"] | usual["val_check"]
    tested: list[set] = []
    for fold in range(folds):
        parts = users_of(run_split(deepcart_registry, table, seed=seed,
                                   options={"folds": folds, "fold": fold, "within": train + val}))
        assert not set().union(*parts.values()) & reserved
        assert set().union(*parts.values()) == covered
        tested.append(parts["test_input"] | parts["test_check"])
    assert sum(map(len, tested)) == len(covered) and set().union(*tested) == covered


def test_fold_options_are_checked(deepcart_registry):
    from deepcart.errors import ConfigError

    for bad, why in [({"fold": 1}, "fold and within need folds"), ({"within": 0.9}, "need folds"),
                     ({"folds": 3, "fold": 0, "within": 1.5}, "within"), ({"folds": 3, "fold": 3}, "fold must be one of 0 .. 2"),
                     ({"folds": 3}, "fold must be one of"), ({"folds": 1, "fold": 0}, "folds"),
                     ({"folds": 5, "fold": 0, "train": 0.7}, "do not set train"),
                     ({"folds": 2, "fold": 0, "val": 0.5}, "val \\+ one fold")]:
        with pytest.raises(ConfigError, match=why):
            deepcart_registry.create("splitter", "user-holdout", bad)


def test_unset_options_keep_the_split_folder():
    from deepcart.pipeline.splits import split_key

    # The folder of a split made before the fold options existed is still found.
    old = {"train": 0.8, "val": 0.1, "check_fraction": 0.2, "min_check": 1, "holdout": "random"}
    assert split_key("user-holdout", {**old, "folds": None, "fold": None}, 0) == split_key("user-holdout", old, 0)
    assert split_key("user-holdout", {**old, "folds": 5, "fold": 0}, 0) != split_key("user-holdout", old, 0)

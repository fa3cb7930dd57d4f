"""Item-kNN at scale: deepcart's ``knn`` vs. implicit's CosineRecommender, and fold-in latency.

* ``knn-fit-top10``: fit + top-10 unrated items for *every* user of a power-law ratings set
  (100,000 users x 50,000 items, 1.35M ratings), deepcart (default config, and cosine without
  shrinkage, implicit's own similarity) vs. implicit (fit + ``recommend`` for all users), timed in the
  same run; the ratio to implicit is printed and kept in ``extra_info``. The cosine run also checks
  that both libraries found the same neighbours.
* ``knn-fit-memory``: peak RSS of each fit, in a child process whose high-water mark is reset once
  the data is built (so it is the fit's peak, with the data resident).
* ``knn-fold-in``: one new person at a time against a 260,000-item catalogue (a default item-kNN
  fitted on 1M users, 4.0M ratings): ``fold_in`` (a full prediction row) + top-10 by
  ``np.argpartition``, and ``fold_in+rank`` (the one ranker, :func:`top_k_by_score`, over the unrated
  items, ties by engagement: what ``deepcart recommend`` and the dashboard do); p50/p95 over 200
  people with 5 to 200 ratings each.

``--benchmark-disable`` (CI) shrinks everything to a few thousand users and items.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from deepcart.pipeline.rank import top_k_by_score
from deepcart.plugins.recommenders.knn import KNNConfig, KNNRecommender
from deepcart.ratings import Ratings
from deepcart.toolkit.id_index import IdIndex

FULL = {"users": 100_000, "items": 50_000, "ratings": 1_500_000}
SMOKE = {"users": 2_000, "items": 1_000, "ratings": 20_000}
CATALOGUE_FULL = {"users": 1_000_000, "items": 260_000, "ratings": 6_000_000, "people": 200}
CATALOGUE_SMOKE = {"users": 3_000, "items": 5_000, "ratings": 20_000, "people": 20}
NEIGHBOURS = 50
CONFIGS = {"knn-default": {}, "knn-cosine": {"similarity": "cosine", "shrinkage": 0}}
RESULTS: dict[str, dict] = {}


def power_law_ratings(n_users: int, n_items: int, n_ratings: int, seed: int = 0) -> Ratings:
    """Synthetic star ratings with heavy-tailed activity and popularity, like Amazon's.

    User activity is Pareto (shape 1.3, capped at 2,000: most people rate a few items, a few rate
    thousands), item
    popularity Zipf-like (exponent 0.9), and the stars J-shaped (59% five, 8% one). The cap and the
    dropped duplicate (user, item) draws leave fewer ratings than ``n_ratings`` (1.35M of 1.5M here).
    """
    import scipy.sparse as sp

    rng = np.random.default_rng(seed)
    activity = rng.pareto(1.3, n_users) + 1.0
    per_user = np.clip(np.rint(activity / activity.sum() * n_ratings), 1, max(1, min(n_items // 10, 2000)))
    rows = np.repeat(np.arange(n_users), per_user.astype(np.int64))
    popularity = 1.0 / (np.arange(n_items) + 20.0) ** 0.9
    cols = rng.permutation(n_items)[rng.choice(n_items, size=rows.size, p=popularity / popularity.sum())]
    stars = rng.choice(np.arange(1, 6, dtype=np.float32), size=rows.size, p=[0.08, 0.05, 0.08, 0.2, 0.59])
    matrix = sp.csr_matrix((np.ones(rows.size, np.float32), (rows, cols)), shape=(n_users, n_items))
    matrix.sum_duplicates()  # counts; one star value per kept pair
    matrix.data = stars[: matrix.nnz]
    coo = matrix.tocoo()
    return Ratings(
        np.char.add("U", np.arange(n_users).astype(str)), np.char.add("I", np.arange(n_items).astype(str)),
        coo.row.astype(np.int32), coo.col.astype(np.int32), coo.data,
    )


def smoke(request) -> bool:
    return bool(request.config.getoption("benchmark_disable"))


@pytest.fixture(scope="module")
def workload(request) -> Ratings:
    size = SMOKE if smoke(request) else FULL
    return power_law_ratings(size["users"], size["items"], size["ratings"])


def _clock():
    return time.perf_counter(), time.process_time()


def _record(name: str, start, fit_done, end, **extra) -> dict:
    wall = end[0] - start[0]
    entry = {"wall_s": round(wall, 2), "cpu_s": round(end[1] - start[1], 2),
             "fit_s": round(fit_done[0] - start[0], 2), "top10_s": round(end[0] - fit_done[0], 2), **extra}
    RESULTS[name] = entry
    return entry


def _report(benchmark, name: str, entry: dict) -> None:
    baseline = RESULTS.get("implicit")
    if baseline and name != "implicit":
        entry["ratio_wall_vs_implicit"] = round(entry["wall_s"] / baseline["wall_s"], 2)
        entry["ratio_fit_vs_implicit"] = round(entry["fit_s"] / baseline["fit_s"], 2)
    benchmark.extra_info.update(entry)
    print(f"\n{name}: {entry}")


@pytest.mark.benchmark(group="knn-fit-top10")
def test_fit_top10_implicit(benchmark, workload):
    implicit = pytest.importorskip("implicit.nearest_neighbours")
    matrix = workload.csr()
    users = np.arange(matrix.shape[0])

    def run():
        start = _clock()
        model = implicit.CosineRecommender(K=NEIGHBOURS + 1)  # K counts the item itself
        model.fit(matrix, show_progress=False)
        fit_done = _clock()
        ids, _ = model.recommend(users, matrix, N=10, filter_already_liked_items=True)
        return model, ids, start, fit_done, _clock()

    model, ids, start, fit_done, end = benchmark.pedantic(run, rounds=1, iterations=1)
    assert ids.shape == (matrix.shape[0], 10)
    entry = _record("implicit", start, fit_done, end)
    RESULTS["implicit-similarity"] = model.similarity
    _report(benchmark, "implicit", entry)


def _top10_every_user(model, matrix, cells: int = 1 << 25) -> np.ndarray:
    """Top-10 unrated items of every row: ``fold_in_batch`` scores ranked by the one ranker, in chunks."""
    engagement = np.bincount(matrix.indices, minlength=matrix.shape[1])
    step = max(1, cells // matrix.shape[1])
    parts = []
    for lo in range(0, matrix.shape[0], step):
        rows = matrix[lo : lo + step]
        blocked = rows.toarray() > 0
        parts.append(top_k_by_score(model.fold_in_batch(rows), 10, direction="best", blocked=blocked,
                                    engagement=engagement))
    return np.concatenate(parts)


@pytest.mark.benchmark(group="knn-fit-top10")
@pytest.mark.parametrize("name", list(CONFIGS))
def test_fit_top10_deepcart(benchmark, workload, name):
    options = {"neighbours": NEIGHBOURS, **CONFIGS[name]}
    matrix = workload.csr()

    def run():
        start = _clock()
        model = KNNRecommender(KNNConfig(**options)).fit(workload)
        fit_done = _clock()
        columns = _top10_every_user(model, matrix)
        return model, columns, start, fit_done, _clock()

    model, columns, start, fit_done, end = benchmark.pedantic(run, rounds=1, iterations=1)
    assert columns.shape == (matrix.shape[0], 10) and (columns >= 0).all()
    extra = {"graph_nnz": int(model.neighbour_graph.nnz)}
    theirs = RESULTS.get("implicit-similarity")
    if name == "knn-cosine" and theirs is not None:
        extra |= _compare_graphs(model.neighbour_graph, theirs)
        assert extra["max_abs_diff_common"] < 1e-4
        assert extra["same_neighbours"] > 0.9
    _report(benchmark, name, _record(name, start, fit_done, end, **extra))


def _compare_graphs(ours, theirs) -> dict:
    """Agreement of two item-neighbour graphs (implicit's includes each item itself)."""
    import scipy.sparse as sp

    theirs = sp.csr_matrix(theirs, dtype=np.float32)
    theirs = (theirs - sp.diags(theirs.diagonal())).tocsr()
    theirs.eliminate_zeros()
    common = ours.multiply(theirs != 0).nnz
    diff = abs(ours.multiply(theirs != 0) - theirs.multiply(ours != 0))
    # Rows differ only where ratings are integers and similarities tie at the N-th neighbour.
    return {"same_neighbours": round(common / max(ours.nnz, 1), 4),
            "max_abs_diff_common": float(diff.max()) if diff.nnz else 0.0}


MEMORY_CHILD = """
import importlib.util, sys
spec = importlib.util.spec_from_file_location("bench_knn", sys.argv[1])
bench = importlib.util.module_from_spec(spec)
spec.loader.exec_module(bench)
ratings = bench.power_law_ratings(*map(int, sys.argv[2:5]))
which = sys.argv[5]
if which == "implicit":
    from implicit.nearest_neighbours import CosineRecommender
    matrix = ratings.csr()  # implicit's input, built before the measurement as ours is
else:
    from deepcart.plugins.recommenders.knn import KNNConfig, KNNRecommender

def status(key):
    with open("/proc/self/status") as lines:
        return next(int(line.split()[1]) / 1024 for line in lines if line.startswith(key))

before = status("VmRSS")
open("/proc/self/clear_refs", "w").write("5")  # restart the high-water mark: the fit's peak alone
if which == "implicit":
    CosineRecommender(K=bench.NEIGHBOURS + 1).fit(matrix, show_progress=False)
else:
    KNNRecommender(KNNConfig(neighbours=bench.NEIGHBOURS, **bench.CONFIGS[which])).fit(ratings)
print(f"FIT {before} {status('VmHWM')}")
"""


@pytest.mark.benchmark(group="knn-fit-memory")
@pytest.mark.parametrize("which", ["knn-default", "knn-cosine", "implicit"])
def test_fit_peak_memory(benchmark, request, child_peak_rss, which):
    """Peak RSS during the fit (Linux: the high-water mark is reset once the data is built)."""
    if which == "implicit":
        pytest.importorskip("implicit")
    if not Path("/proc/self/clear_refs").exists():
        pytest.skip("needs Linux /proc/self/clear_refs to reset the peak RSS")
    size = SMOKE if smoke(request) else FULL
    args = [str(Path(__file__).resolve()), str(size["users"]), str(size["items"]), str(size["ratings"]), which]
    _, out = benchmark.pedantic(child_peak_rss, args=(MEMORY_CHILD, args), rounds=1, iterations=1)
    before, peak = map(float, out.rsplit("FIT ", 1)[1].split()[:2])
    stats = {"rss_before_fit_mb": round(before, 1), "peak_rss_fit_mb": round(peak, 1),
             "fit_added_mb": round(peak - before, 1)}
    benchmark.extra_info.update(stats)
    print(f"\n{which}: {stats}")


@pytest.fixture(scope="module")
def catalogue(request):
    """A default item-kNN over a large catalogue, and held-out people to fold in."""
    size = CATALOGUE_SMOKE if smoke(request) else CATALOGUE_FULL
    ratings = power_law_ratings(size["users"], size["items"], size["ratings"], seed=1)
    model = KNNRecommender(KNNConfig(neighbours=NEIGHBOURS)).fit(ratings)
    people = power_law_ratings(size["people"] * 20, size["items"], size["people"] * 400, seed=2)
    matrix = people.csr()
    lengths = np.diff(matrix.indptr)
    chosen = np.flatnonzero((lengths >= 5) & (lengths <= 200))[: size["people"]]
    histories = []
    for row in chosen:
        lo, hi = matrix.indptr[row], matrix.indptr[row + 1]
        histories.append(list(zip(people.item_ids[matrix.indices[lo:hi]].tolist(), matrix.data[lo:hi].tolist())))
    return model, histories


def _latencies(histories, once) -> np.ndarray:
    seconds = []
    for history in histories:
        start = time.perf_counter()
        once(history)
        seconds.append(time.perf_counter() - start)
    return np.array(seconds) * 1000


@pytest.mark.benchmark(group="knn-fold-in")
@pytest.mark.parametrize("route", ["fold_in+argpartition", "fold_in+rank"])
def test_fold_in_top10_latency(benchmark, catalogue, route):
    model, histories = catalogue

    def fold_in(history):  # the route any recommender offers; rated items are not removed here
        scores = model.fold_in(history)
        top = np.argpartition(-scores, 10)[:10]
        return top[np.argsort(-scores[top], kind="stable")]

    engagement = np.bincount(model._train.indices, minlength=len(model.item_ids))
    index = IdIndex(model.item_ids)

    def ranked(history):  # the one ranker over the unrated items, as deepcart recommend does
        scores = model.fold_in(history)
        cols, found = index.positions([item for item, _ in history])
        blocked = np.zeros(len(scores), dtype=bool)
        blocked[cols[found]] = True
        return top_k_by_score(scores, 10, direction="best", blocked=blocked, engagement=engagement)

    once = fold_in if route == "fold_in+argpartition" else ranked
    once(histories[0])  # warm the lazily built operands
    ms = benchmark.pedantic(_latencies, args=(histories, once), rounds=1, iterations=1)
    stats = {"catalogue": len(model.item_ids), "people": len(histories),
             "p50_ms": round(float(np.percentile(ms, 50)), 2), "p95_ms": round(float(np.percentile(ms, 95)), 2)}
    benchmark.extra_info.update(stats)
    print(f"\n{route}: {stats}")

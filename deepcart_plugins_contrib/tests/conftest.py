"""Fixtures of the contrib's own tests: deepcart's testing plugin and the real legacy samples."""

import os
from importlib import metadata
from pathlib import Path

import pytest

pytest_plugins = ["deepcart.toolkit.testing"]

#: The real Amazon slices live in ``shared/`` beside the main repository (never shipped).
REAL_DATA = Path(os.environ.get(
    "DEEPCART_REAL_DATA", Path(__file__).resolve().parents[3] / "shared" / "data" / "amazon-real"))


def pytest_configure(config):
    try:  # the components are found through the distribution's entry points
        metadata.distribution("deepcart-plugins-contrib")
    except metadata.PackageNotFoundError:
        raise pytest.UsageError(
            "deepcart-plugins-contrib is not installed: run `pip install -e ./deepcart_plugins_contrib` "
            "in deepcart's environment first"
        ) from None


@pytest.fixture
def real_data() -> Path:
    """The folder of real Amazon slices; tests using it skip with a reason when it is absent."""
    if not REAL_DATA.is_dir():
        pytest.skip(f"real data slices not found at {REAL_DATA}")
    return REAL_DATA


def _split_toy(seed: int, share: float = 0.2):
    """A toy ratings matrix with a random ``share`` of its ratings held out."""
    import numpy as np

    from deepcart.ratings import Ratings
    from deepcart.toolkit.testing import make_toy_ratings

    ratings = make_toy_ratings(seed=seed)
    held = np.random.default_rng(seed).random(len(ratings)) < share
    train = Ratings(ratings.user_ids, ratings.item_ids, ratings.users[~held], ratings.items[~held],
                    ratings.values[~held])
    return train, held, ratings


@pytest.fixture
def held_out_rmse(deepcart_registry):
    """``rmse(name, options)``: mean RMSE over 4 seeds on held-out toy ratings (train on the rest)."""
    import numpy as np

    def rmse(name: str, options: dict | None = None, seeds=range(4)) -> float:
        errors = []
        for seed in seeds:
            train, held, ratings = _split_toy(seed)
            model = deepcart_registry.create("recommender", name, options or {}).fit(train, seed=0)
            predicted = model.predict(list(ratings.user_ids))[ratings.users[held], ratings.items[held]]
            errors.append(np.sqrt(np.mean((predicted - ratings.values[held]) ** 2)))
        return float(np.mean(errors))

    return rmse

"""Shared fixtures: deepcart's own testing plugin plus paths to the real data slices."""

from pathlib import Path

import pytest

pytest_plugins = ["deepcart.testing"]

REPO = Path(__file__).resolve().parents[1]
REAL_DATA = REPO.parent / "shared" / "data" / "amazon-real"


@pytest.fixture
def real_data() -> Path:
    """The folder of real Amazon slices; tests using it skip with a reason when it is absent."""
    if not REAL_DATA.is_dir():
        pytest.skip(f"real data slices not found at {REAL_DATA}")
    return REAL_DATA

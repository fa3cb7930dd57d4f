"""Fixtures shared by the recommender tests."""

from __future__ import annotations

import pytest


@pytest.fixture
def deepcart_registry():
    """The built-in components only: no installed entry points, so these tests see exactly
    deepcart's own recommenders whatever else is installed."""
    from deepcart.plugin_manager import load_plugins

    return load_plugins(entry_points=False).registry


@pytest.fixture
def one_thread():
    """Tiny torch models gain nothing from threads, and the test machines are shared."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)

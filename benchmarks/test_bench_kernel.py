"""Kernel start-up: building the plugin manager against a bare pluggy manager."""

from deepcart.plugin_manager import load_plugins, new_manager


def test_load_plugins(benchmark):
    plugins = benchmark(load_plugins)
    assert plugins.registry.names("recommender")


def test_bare_manager_baseline(benchmark):
    benchmark(new_manager)

"""deepcart's built-in plugins, one module per plugin, grouped by component kind.

Each module implements hooks of :mod:`deepcart.hookspecs` with :data:`deepcart.hookimpl`, exactly as a
third-party plugin would; :data:`BUILTIN_PLUGINS` lists them, and the kernel's plugin manager loads them from here.
"""

if __name__.partition(".")[0] != "deepcart":  # pragma: no cover - only reached by a wrong import
    # The folder is mapped to a deepcart.* import name; importing it by its folder name (e.g. from
    # the repository root) would create a second, generic top-level package.
    raise ImportError(f"import this folder as 'deepcart.plugins', not {__name__!r}")

#: Built-in plugins, one module each, loaded in this order before any entry point.
BUILTIN_PLUGINS: tuple[str, ...] = (
    "deepcart.plugins.loaders.amazon2023",
    "deepcart.plugins.loaders.amazon_csv",
    "deepcart.plugins.filters.min_count",
    "deepcart.plugins.filters.orphans",
    "deepcart.plugins.filters.subsample",
    "deepcart.plugins.filters.kcore",
    "deepcart.plugins.metrics.error_metrics",
    "deepcart.plugins.metrics.correlation",
    "deepcart.plugins.metrics.ranking",
    "deepcart.plugins.recommenders.naive",
    "deepcart.plugins.recommenders.random_baseline",
    "deepcart.plugins.recommenders.knn",
    "deepcart.plugins.recommenders.neural",
    "deepcart.plugins.splitters.user_holdout",
    "deepcart.plugins.splitters.temporal",
    "deepcart.plugins.engines.duckdb_engine",
    "deepcart.plugins.engines.spark_engine",
    "deepcart.plugins.commands.dataset_commands",
    "deepcart.plugins.commands.evaluate_command",
    "deepcart.plugins.commands.compare_command",
    "deepcart.plugins.commands.tune_command",
    "deepcart.plugins.commands.model_commands",
    "deepcart.plugins.commands.plugin_admin",
    "deepcart.plugins.commands.serve_command",
    "deepcart.plugins.frontends.panel",
)

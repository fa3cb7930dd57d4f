"""deepcart's built-in plugins, one module per plugin, grouped by component kind.

Each module implements hooks of :mod:`deepcart.hookspecs` with :data:`deepcart.hookimpl`, exactly as a
third-party plugin would; :data:`deepcart.plugin_manager.BUILTIN_PLUGINS` lists them.
"""

if __name__.partition(".")[0] != "deepcart":  # pragma: no cover - only reached by a wrong import
    # The folder is mapped to a deepcart.* import name; importing it by its folder name (e.g. from
    # the repository root) would create a second, generic top-level package.
    raise ImportError(f"import this folder as 'deepcart.plugins', not {__name__!r}")


"""deepcart: a plugin-based recommender toolkit for Amazon product reviews.

This package is the kernel: hook specs, contracts, plugin manager, registry and root command line.
Every capability is a plugin (built in, or from the ``deepcart`` entry-point group) marking its hooks
with :data:`hookimpl` (``@hookimpl def register_metrics(register): register("m", MyMetric)``).
Importing it is cheap on purpose: ``deepcart --help`` must not pay for torch, DuckDB or a UI library.
"""

if __name__.partition(".")[0] != "deepcart":  # pragma: no cover - only reached by a wrong import
    # The folder is mapped to a deepcart.* import name; importing it by its folder name (e.g. from
    # the repository root) would create a second, generic top-level package.
    raise ImportError(f"import this folder as 'deepcart', not {__name__!r}")

import pluggy

__version__ = "0.1.0"
#: Name of the pluggy project and of the entry-point group that third-party plugins use.
PROJECT_NAME = "deepcart"
#: Marker for hook specifications (used by :mod:`deepcart.hookspecs` only).
hookspec = pluggy.HookspecMarker(PROJECT_NAME)
#: Marker that plugins put on their hook implementations.
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)

__all__ = ["PROJECT_NAME", "__version__", "hookimpl", "hookspec"]

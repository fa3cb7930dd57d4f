"""pandera schemas of deepcart's tables, checked at stage boundaries."""

if __name__.partition(".")[0] != "deepcart":  # pragma: no cover - only reached by a wrong import
    # The folder is mapped to a deepcart.* import name; importing it by its folder name (e.g. from
    # the repository root) would create a second, generic top-level package.
    raise ImportError(f"import this folder as 'deepcart.schemas', not {__name__!r}")


"""Public helpers for plugin authors; the built-in plugins use exactly these.

================================  ==============================================================
module                            for
================================  ==============================================================
:mod:`~deepcart.toolkit.line_staging`  loaders: stage JSON/CSV lines in DuckDB with line numbers
:mod:`~deepcart.toolkit.frames`        filters, splitters, engines: the portable layer (ibis) on any engine
:mod:`~deepcart.toolkit.filter_steps`  filters: count, drop and report, once for every engine
:mod:`~deepcart.toolkit.hash_order`    filters, splitters: seeded md5 order, cut without a global sort
:mod:`~deepcart.toolkit.model_files`   recommenders: ``config.json`` + ``.npz`` with a format version
:mod:`~deepcart.toolkit.baseline`      recommenders: the damped item-mean baseline
:mod:`~deepcart.toolkit.id_index`      recommenders, engine: string id -> position lookup
:mod:`~deepcart.toolkit.testing`       tests: contract tests any plugin author can subclass
================================  ==============================================================
"""

"""Public helpers for plugin authors; the built-in plugins use exactly these.

================================  ==============================================================
module                            for
================================  ==============================================================
:mod:`~deepcart.toolkit.line_staging`  loaders: stage JSON/CSV lines in DuckDB with line numbers
:mod:`~deepcart.toolkit.filter_sql`    filters: count, drop and report in DuckDB SQL
:mod:`~deepcart.toolkit.model_files`   recommenders: ``config.json`` + ``.npz`` with a format version
:mod:`~deepcart.toolkit.baseline`      recommenders: the damped item-mean baseline
:mod:`~deepcart.toolkit.id_index`      recommenders, engine: string id -> position lookup
:mod:`~deepcart.toolkit.testing`       tests: contract tests any plugin author can subclass
================================  ==============================================================
"""

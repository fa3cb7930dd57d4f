"""The engine that deepcart's commands and frontends drive: tags, build, split, rank, evaluate, picks.

It sits between the kernel (:mod:`deepcart`) and the plugins: it imports the kernel's contracts and
data types and takes a :class:`deepcart.registry.Registry` as an argument wherever it needs a
component, so it never imports a plugin module.

================================  ==============================================================
module                            what it does
================================  ==============================================================
:mod:`~deepcart.pipeline.tags`    dataset tags on disk and the one atomic-folder helper
:mod:`~deepcart.pipeline.build`   ingest -> filter chain -> validated tag
:mod:`~deepcart.pipeline.splits`  train / val / test parts of a tag, cached on disk
:mod:`~deepcart.pipeline.ratings_io`  Parquet parts -> :class:`deepcart.ratings.Ratings`
:mod:`~deepcart.pipeline.rank`    the one top-k ranker and its tie rule
:mod:`~deepcart.pipeline.evaluate`  fold-in scoring of held-out users and the metrics
:mod:`~deepcart.pipeline.picks`   the worst / best picks for one person
:mod:`~deepcart.pipeline.model_store`  model folders tied to the dataset build they came from
:mod:`~deepcart.pipeline.default_dataset`  the embedded synthetic default tag
:mod:`~deepcart.pipeline.synthetic`  the synthetic Amazon-2023-format data generator
================================  ==============================================================
"""

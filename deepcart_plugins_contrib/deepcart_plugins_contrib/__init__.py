"""deepcart-plugins-contrib: extra components for deepcart, one plugin module each.

========================  ======================  ==============================================
entry point               module                  registers
========================  ======================  ==============================================
``contrib-ease``          :mod:`.ease`            recommender ``ease`` (Steck 2019, closed form)
``contrib-als``           :mod:`.als`             recommender ``als`` (wraps ``implicit``'s ALS)
``contrib-amazon-legacy`` :mod:`.legacy_loader`   loader ``amazon-legacy`` (2014 / 2018 ratings)
``contrib-diversity``     :mod:`.diversity`       metric ``gini`` (concentration of the picks)
========================  ======================  ==============================================

This file stays empty of imports on purpose: every entry point imports the package first, so a
failure here would disable all four plugins instead of one.
"""

__version__ = "0.1.0"

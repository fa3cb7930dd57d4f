"""The ``panel`` frontend: ``deepcart serve`` (= ``deepcart serve panel``), the dashboard.

Find products, rate them, and watch the worst (or best) picks move after each rating. The command
(:mod:`~deepcart.plugins.frontends.panel.frontend`) loads the dataset and the models once
(:mod:`~deepcart.plugins.frontends.panel.data`), then serves one fresh page per browser session
(:mod:`~deepcart.plugins.frontends.panel.view`, served by
:mod:`~deepcart.plugins.frontends.panel.server`); the logic lives in
:mod:`~deepcart.plugins.frontends.panel.state`. Panel is imported only when the command runs, so
``deepcart --help`` stays fast.
"""

from __future__ import annotations

from deepcart import hookimpl
from deepcart.plugins.frontends.panel.frontend import PanelFrontend


@hookimpl
def register_frontends(register) -> None:
    """Register ``panel``."""
    register("panel", PanelFrontend)

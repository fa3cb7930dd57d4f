"""Component options: -o key=value parsing and validation with field names."""

import pytest

from deepcart.config import make_config, parse_options
from deepcart.errors import ConfigError
from deepcart.plugins.recommenders.naive import NaiveConfig


def test_parse_options():
    assert parse_options(["damping=3", "hidden-size = 500"]) == {"damping": "3", "hidden_size": "500"}


@pytest.mark.parametrize("bad", [["novalue"], ["=3"], ["a=1", "a=2"]])
def test_parse_options_rejects(bad):
    with pytest.raises(ConfigError):
        parse_options(bad)


def test_make_config_converts_types():
    assert make_config(NaiveConfig, {"damping": "2.5"}, what="recommender 'naive'").damping == 2.5


def test_make_config_names_unknown_and_invalid_fields():
    with pytest.raises(ConfigError, match=r"no option 'dampin'. Did you mean 'damping'\? Valid options: .*damping"):
        make_config(NaiveConfig, {"dampin": "1"}, what="recommender 'naive'")
    with pytest.raises(ConfigError, match="damping: Input should be greater than or equal to 0"):
        make_config(NaiveConfig, {"damping": "-1"}, what="recommender 'naive'")
    with pytest.raises(ConfigError, match="damping: Input should be a valid number"):
        make_config(NaiveConfig, {"damping": "lots"}, what="recommender 'naive'")

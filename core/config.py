"""Component options: one validation path for the command line, the dashboard and Python.

``-o key=value`` pairs become a dict of strings that pydantic converts to the ``Config``'s declared
types; any failure is a :class:`deepcart.errors.ConfigError` naming the field.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from deepcart.errors import ConfigError, did_you_mean


def parse_options(pairs: Iterable[str]) -> dict[str, str]:
    """Turn ``["hidden=500", "lr=0.001"]`` into ``{"hidden": "500", "lr": "0.001"}``.

    :raises ConfigError: a pair without ``=`` or with an empty key, or a key given twice.
    """
    options: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or not key:
            raise ConfigError(f"option {pair!r} is not of the form key=value")
        if key in options:
            raise ConfigError(f"option {key!r} is given twice")
        options[key] = value.strip()
    return options


def make_config(config_cls: type, options: Mapping[str, Any], *, what: str) -> Any:
    """Validate ``options`` into ``config_cls``, naming each failing field.

    Unknown keys are errors listing the valid ones: ``-o hiden=500`` must not train the default model.
    """
    import pydantic

    fields = getattr(config_cls, "model_fields", {})
    unknown = sorted(set(options) - set(fields))
    if unknown:
        hint = did_you_mean(unknown[0], fields)
        raise ConfigError(f"{what} has no option {', '.join(map(repr, unknown))}.{hint} "
                          f"Valid options: {', '.join(fields) or 'none'}")
    try:
        return config_cls(**options)
    except pydantic.ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, err['loc'])) or 'config'}: {err['msg']}" for err in exc.errors()
        )
        raise ConfigError(f"invalid options for {what}: {problems}") from None


def config_to_dict(config: Any) -> dict[str, Any]:
    """A JSON-ready dict of a config (for manifests)."""
    return config.model_dump(mode="json")

"""Turn plain dicts (hydra/OmegaConf containers, JSON) into typed, nested dataclasses.

Hydra composes YAML; at the entry point the result becomes dataclasses here, so the library never sees a
DictConfig and a typo'd key fails at parse time with the dotted path of the offending field.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any, TypeVar

T = TypeVar("T")


class ConfigError(ValueError):
    """A config value or key that does not fit its schema; the message names the dotted field path."""


def dataclass_from_dict(cls: type[T], data: dict[str, Any] | None, path: str = "") -> T:
    """Build ``cls`` from ``data``, recursing into dataclass-typed fields and converting lists to tuples.

    Args:
        cls: a dataclass type.
        data: mapping of field names to values (None → all defaults).
        path: dotted prefix used in error messages.
    Raises:
        ConfigError: on unknown keys (listing the valid ones) or a value the field's __post_init__ rejects.
    """
    data = dict(data or {})
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        where = f" in {path.rstrip('.')}" if path else ""
        raise ConfigError(f"unknown config key(s) {unknown}{where}; valid keys: {sorted(fields)}")
    kwargs = {name: _convert(hints[name], value, f"{path}{name}") for name, value in data.items()}
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as err:
        if isinstance(err, ConfigError):
            raise
        raise ConfigError(f"{path.rstrip('.') or cls.__name__}: {err}") from err


def _convert(hint: Any, value: Any, path: str) -> Any:
    origin = typing.get_origin(hint)
    if dataclasses.is_dataclass(hint) and isinstance(value, dict):
        return dataclass_from_dict(hint, value, f"{path}.")
    if origin in (typing.Union, types.UnionType):
        for arm in typing.get_args(hint):
            if dataclasses.is_dataclass(arm) and isinstance(value, dict):
                return dataclass_from_dict(arm, value, f"{path}.")
        return value
    if origin is tuple and isinstance(value, (list, tuple)):
        return tuple(value)
    return value


def dataclass_to_dict(obj: Any) -> dict[str, Any]:
    """A JSON-ready dict of a (nested) dataclass; tuples become lists."""
    return _jsonable(dataclasses.asdict(obj))


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value

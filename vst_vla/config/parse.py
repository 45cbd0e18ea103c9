"""Turn plain dicts (hydra/OmegaConf containers, JSON) into typed, nested dataclasses.

Hydra composes YAML; at the entry point the result becomes dataclasses here, so the library never sees a
DictConfig, and a typo'd key or a value of the wrong type (``trainer.lr=abc``) fails at parse time with the
dotted path of the offending field, before any ``__post_init__`` range check compares it with a number.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any

from vst_vla.errors import ConfigError

__all__ = ["ConfigError", "container_from_hydra", "dataclass_from_dict", "dataclass_to_dict", "jsonable"]


def container_from_hydra(cfg: Any) -> dict[str, Any]:
    """The resolved plain container of a composed hydra config, refusing mandatory values left unset (``???``).

    Raises:
        ConfigError: naming every missing key (``model=local`` without ``model.pretrained_path``, ``eval`` without
            ``policy_path``), or an interpolation that does not resolve.
    """
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    missing = sorted(OmegaConf.missing_keys(cfg))
    if missing:
        raise ConfigError(f"missing required config value(s) {missing}; set them on the command line, e.g. "
                          f"{missing[0]}=<value>")
    try:
        return OmegaConf.to_container(cfg, resolve=True)  # type: ignore[return-value]
    except OmegaConfBaseException as err:
        raise ConfigError(f"cannot resolve the config: {err}") from None


def dataclass_from_dict[T](cls: type[T], data: dict[str, Any] | None, path: str = "") -> T:
    """Build ``cls`` from ``data``, recursing into dataclass-typed fields and converting lists to tuples.

    Every value is checked against its field's type hint first (ints for ``int``, numbers for ``float``, true /
    false for ``bool``, strings, lists for tuples, null only where the hint allows it), so ``__post_init__`` range
    checks only ever see values of the right type.

    Args:
        cls: a dataclass type.
        data: mapping of field names to values (None → all defaults).
        path: dotted prefix used in error messages.
    Raises:
        ConfigError: on unknown keys (listing the valid ones), a value of the wrong type (naming the field and the
            expected type) or a value the field's __post_init__ rejects.
    """
    if data is not None and not isinstance(data, dict):
        raise ConfigError(f"{path.rstrip('.') or cls.__name__} must be a mapping of {cls.__name__} fields, "
                          f"got {data!r}")
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
        raise ConfigError(_with_path(str(err), path.rstrip("."), cls.__name__)) from err


def _with_path(message: str, where: str, class_name: str) -> str:
    """``message`` from a ``__post_init__``, led by the dotted path of the config it is about (said once)."""
    if not where:
        return message
    if message.startswith(f"{class_name}."):  # "CollectConfig.num_episodes ..." -> "collect.num_episodes ..."
        return f"{where}.{message[len(class_name) + 1:]}"
    if message.startswith((f"{where}.", f"{where.rsplit('.', 1)[-1]}.")):
        return message
    return f"{where}: {message}"


def check_value(hint: Any, value: Any, path: str) -> Any:
    """``value`` as the type ``hint`` asks for, or a ConfigError naming ``path`` and the expected type."""
    return _convert(hint, value, path)


def _convert(hint: Any, value: Any, path: str) -> Any:
    """``value`` as the type ``hint`` asks for (nested dataclasses built, lists made tuples), or ConfigError."""
    if hint is Any or hint is object:
        return value
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        arms = typing.get_args(hint)
        if value is None and type(None) in arms:
            return None
        for arm in arms:
            if dataclasses.is_dataclass(arm) and isinstance(value, dict):
                return dataclass_from_dict(arm, value, f"{path}.")
        for arm in arms:
            if arm is type(None):
                continue
            try:
                return _convert(arm, value, path)
            except ConfigError:
                continue
        raise _wrong_type(hint, value, path)
    if dataclasses.is_dataclass(hint):
        if isinstance(value, dict):
            return dataclass_from_dict(hint, value, f"{path}.")
        if isinstance(value, hint):
            return value
        raise _wrong_type(hint, value, path)
    if hint is bool:
        if isinstance(value, bool):
            return value
        raise _wrong_type(hint, value, path)
    if hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise _wrong_type(hint, value, path)
    if hint is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        raise _wrong_type(hint, value, path)
    if hint is str:
        if isinstance(value, str):
            return value
        # hydra reads run_name=123 as an int; a number is a fine name. true / null are not.
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return str(value)
        raise _wrong_type(hint, value, path)
    if origin is tuple or hint is tuple:
        if not isinstance(value, (list, tuple)):
            raise _wrong_type(hint, value, path)
        args = typing.get_args(hint)
        if not args:
            return tuple(value)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_convert(args[0], item, f"{path}[{i}]") for i, item in enumerate(value))
        if len(value) != len(args):
            raise ConfigError(f"{path} must be a list of {len(args)} values ({_describe(hint)}), got {value!r}")
        return tuple(_convert(arg, item, f"{path}[{i}]") for i, (arg, item) in enumerate(zip(args, value)))
    if origin is dict or hint is dict:
        if isinstance(value, dict):
            return value
        raise _wrong_type(hint, value, path)
    if origin is list or hint is list:
        if not isinstance(value, (list, tuple)):
            raise _wrong_type(hint, value, path)
        args = typing.get_args(hint)
        return [_convert(args[0], item, f"{path}[{i}]") for i, item in enumerate(value)] if args else list(value)
    return value  # a hint this parser does not know: left to the dataclass's own validation


def _describe(hint: Any) -> str:
    """A reader's name for a type hint: ``a number``, ``an integer or null``, ``a list of strings``, ..."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        arms = [arm for arm in typing.get_args(hint) if arm is not type(None)]
        text = " or ".join(_describe(arm) for arm in arms)
        return f"{text} or null" if len(arms) < len(typing.get_args(hint)) else text
    if dataclasses.is_dataclass(hint):
        return f"a mapping of {hint.__name__} fields"
    if origin is tuple or hint is tuple:
        args = typing.get_args(hint)
        if len(args) == 2 and args[1] is Ellipsis:
            return f"a list of {_plural(args[0])}"
        return f"a list [{', '.join(_describe(a) for a in args)}]" if args else "a list"
    if origin is list or hint is list:
        args = typing.get_args(hint)
        return f"a list of {_plural(args[0])}" if args else "a list"
    if origin is dict or hint is dict:
        return "a mapping"
    return {bool: "true or false", int: "an integer", float: "a number", str: "a string"}.get(
        hint, getattr(hint, "__name__", str(hint)))


def _plural(hint: Any) -> str:
    return {bool: "booleans", int: "integers", float: "numbers", str: "strings"}.get(hint, _describe(hint))


def _wrong_type(hint: Any, value: Any, path: str) -> ConfigError:
    return ConfigError(f"{path} must be {_describe(hint)}, got {value!r} ({type(value).__name__})")


def dataclass_to_dict(obj: Any) -> dict[str, Any]:
    """A JSON-ready dict of a (nested) dataclass; tuples become lists."""
    return jsonable(dataclasses.asdict(obj))


def jsonable(value: Any) -> Any:
    """``value`` with every tuple made a list, recursively (what JSON and OmegaConf take)."""
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    return value

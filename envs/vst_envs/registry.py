"""The env registry: maps an env ``type`` name (as saved in configs and checkpoint metadata) to its config class,
and gives every registered type a gymnasium id.

``@ENVS.register("tabletop_pick")`` on a config class also registers ``vst_envs/TabletopPick-v0`` with
gymnasium, so adding a task adds its id. ``gymnasium.make(id, **fields)`` takes the config's fields as keyword
arguments (or a whole ``config=``); the spec's kwargs are the config dict itself (``{"type": ..., **fields}``),
so ``gymnasium.make(env.spec)`` makes the same env again. Importing this module never imports robosuite.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import gymnasium

GYM_NAMESPACE = "vst_envs"
GYM_VERSION = 0


def gym_id(env_type: str) -> str:
    """The gymnasium id of a registered env type: ``"pick_place_can"`` -> ``"vst_envs/PickPlaceCan-v0"``."""
    camel = "".join(part.capitalize() for part in env_type.split("_"))
    return f"{GYM_NAMESPACE}/{camel}-v{GYM_VERSION}"


class UnknownEnvTypeError(KeyError):
    """An env ``type`` name no one registered; the message lists the registered ones."""

    def __str__(self) -> str:  # KeyError's own str() would quote the whole message
        return str(self.args[0]) if self.args else ""


class EnvRegistry:
    """Maps env type names to their config classes, and gives each its gymnasium id.

    The same decorator-on-the-config shape as :class:`vst_vla.registry.Registry`, kept here rather than imported
    so that the simulation package depends on no other package of the project (vst_vla turns the KeyError into
    its own user error where a config enters). ``@ENVS.register("lift")`` on a config class records it and
    registers ``vst_envs/Lift-v0``; ``ENVS.get("lift")`` returns it and names the known types when unknown.
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, type] = {}

    def register(self, name: str) -> Callable[[type], type]:
        def decorator(config_class: type) -> type:
            if name in self._entries and self._entries[name] is not config_class:
                raise ValueError(f"{self.kind} type {name!r} is already registered to {self._entries[name]!r}")
            self._entries[name] = config_class
            env_id = gym_id(name)
            # No max_episode_steps: the env truncates itself, and gymnasium's TimeLimit would count a second time.
            if env_id not in gymnasium.registry:
                gymnasium.register(env_id, entry_point=f"{__name__}:make_gym_env", kwargs={"type": name})
            return config_class

        return decorator

    def get(self, name: str) -> type:
        try:
            return self._entries[name]
        except KeyError:
            known = ", ".join(sorted(self._entries)) or "none"
            raise UnknownEnvTypeError(f"unknown {self.kind} type {name!r}; registered types: {known}") from None

    def names(self) -> list[str]:
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def gym_ids(self) -> dict[str, str]:
        """Registered type name -> its gymnasium id."""
        return {name: gym_id(name) for name in self.names()}


ENVS = EnvRegistry("env")


def make_gym_env(
    type: str,  # noqa: A002 (shadows the builtin: it is the config field's name, so the spec kwargs are a config dict)
    config: Any = None,
    render_mode: str | None = "rgb_array",
    **fields: Any,
) -> gymnasium.Env:
    """The ``gymnasium.make`` entry point of every registered env type.

    Args:
        type: the registered env type (set by the id's spec; not meant to be passed).
        config: a whole config of that type; excludes ``fields``.
        render_mode: passed to the env; ``"rgb_array"`` makes ``env.render()`` return the first camera.
        **fields: config fields of that type, e.g. ``image_size=64, cameras=("agentview",)``. ``max_episode_steps``
            never arrives here: ``gymnasium.make`` takes it for its own TimeLimit wrapper (pass ``config=`` to
            set the env's own limit).
    Returns:
        The env the config describes (unwrapped; its own ``max_episode_steps`` handles truncation).
    Raises:
        ValueError: naming the id and the offending fields when a field is unknown, when both ``config`` and
            fields are given, or when ``config`` is of another type.
    """
    config_class = ENVS.get(type)
    env_id = gym_id(type)
    if config is not None:
        if fields:
            raise ValueError(
                f"{env_id}: pass either config or {config_class.__name__} fields, not both (got {sorted(fields)})"
            )
        if not isinstance(config, config_class):
            raise ValueError(f"{env_id}: config must be a {config_class.__name__}, got {config.__class__.__name__}")
    else:
        known = {f.name for f in dataclasses.fields(config_class)}
        unknown = sorted(set(fields) - known)
        if unknown:
            raise ValueError(
                f"{env_id} ({type!r} task) has no config field(s) {unknown}; "
                f"{config_class.__name__} fields are {sorted(known - {'type'})}"
            )
        # Lists (from JSON or the command line) are fine: the config's validation stores tuple fields as tuples.
        config = config_class(type=type, **fields)
    return config.env_class()(config, render_mode=render_mode)

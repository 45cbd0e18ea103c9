"""Several tasks in one dataset: naming them, checking they can share one dataset, and finding them again.

A multi-task dataset is one LeRobot dataset whose frames carry each episode's own instruction as the LeRobot
task string. Everything else is shared, so every task must produce the same features: the same cameras (same
names, same order), the same image size, the same frame rate (``control_freq``) and the same state / action
layout. :func:`check_same_layout` refuses anything else before a single episode is run.

``meta/vst_env.json`` (version 2) records every task's env config under ``"tasks"`` (name -> entry with
``"env"`` and the task's episodes); ``"env"`` keeps the first task's config for readers that know one env only.
:func:`env_configs_from_metadata` rebuilds all of them, from either version.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from vst_vla.errors import UserError

__all__ = [
    "LAYOUT_FIELDS",
    "TaskLayoutError",
    "check_same_layout",
    "check_same_spaces",
    "env_configs_from_metadata",
    "resolve_tasks",
]

# Env config fields that decide the dataset's features and frame rate: they must agree across tasks.
LAYOUT_FIELDS = ("cameras", "image_size", "control_freq", "robot")


class TaskLayoutError(UserError, ValueError):
    """Tasks that cannot share one dataset (or one policy): their cameras, image size, rate or spaces differ."""


def check_same_layout(env_cfgs: Mapping[str, Any]) -> None:
    """Refuse tasks whose :data:`LAYOUT_FIELDS` differ, naming each task's value of every differing field."""
    if not env_cfgs:
        raise ValueError("no tasks given")
    for name, cfg in env_cfgs.items():
        if not cfg.cameras:
            raise TaskLayoutError(f"task {name!r} has no cameras: a demonstration dataset records images")
    problems = []
    for field in LAYOUT_FIELDS:
        values = {name: getattr(cfg, field) for name, cfg in env_cfgs.items()}
        if len({repr(v) for v in values.values()}) > 1:
            listed = ", ".join(f"{name}={_show(v)}" for name, v in values.items())
            problems.append(f"{field} ({listed})")
    if problems:
        raise TaskLayoutError(
            "all tasks of one dataset must share the camera set, image size, frame rate and robot, but these "
            f"differ: {'; '.join(problems)}. Set them alike, e.g. task_overrides.cameras=[agentview] "
            "task_overrides.image_size=128"
        )


def check_same_spaces(name: str, state_shape: tuple, action_shape: tuple, first: str, first_shapes: tuple) -> None:
    """Refuse a task whose state / action shapes differ from the first task's (checked on the built envs)."""
    if (tuple(state_shape), tuple(action_shape)) != tuple(first_shapes):
        raise TaskLayoutError(
            f"task {name!r} has state shape {tuple(state_shape)} and action shape {tuple(action_shape)}, but task "
            f"{first!r} has {first_shapes[0]} and {first_shapes[1]}; tasks of one dataset must share the state "
            "and action layout"
        )


def _show(value: Any) -> str:
    return str(list(value)) if isinstance(value, tuple) else str(value)


def resolve_tasks(
    tasks: Sequence[Any] | Mapping[str, Any],
    overrides: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Turn a task list from a config into named env configs.

    Args:
        tasks: a list whose items are names or dicts, or a mapping name -> dict. A name is a registered env
            type, taken with its defaults (what ``env=<name>`` gives). A dict is an env config (``type`` plus
            fields), named by its optional ``name`` key, else by its type.
        overrides: env fields set on every task (e.g. ``{"image_size": 64}``); None values are skipped (a
            preset lists the usual fields as null so the command line can set them without ``+``).

    Returns:
        ``{name: env config}`` in the given order.

    Raises:
        ValueError: an unknown name, a duplicate name, or a field an env config refuses.
    """
    from vst_envs import ENVS
    from vst_envs.config import env_config_from_dict

    items: list[tuple[str | None, Any]]
    if isinstance(tasks, Mapping):
        items = list(tasks.items())
    elif isinstance(tasks, str) or not isinstance(tasks, Sequence):
        raise ValueError(f"tasks must be a list of task names / env dicts, or a mapping, got {tasks!r}")
    else:
        items = [(None, item) for item in tasks]
    if not items:
        raise ValueError("tasks is empty; give at least one task")

    overrides = {k: v for k, v in (overrides or {}).items() if v is not None}
    resolved: dict[str, Any] = {}
    for key, item in items:
        if isinstance(item, str):
            name, fields = key or item, _named_env_fields(item, ENVS.names())
        elif isinstance(item, Mapping):
            fields = dict(item)
            name = key or fields.pop("name", None) or fields.get("type")
            fields.pop("name", None)
        elif item is None and key is not None:  # mapping form: `tasks: {lift: null}` means "lift" as named
            name, fields = key, _named_env_fields(key, ENVS.names())
        else:
            raise ValueError(f"a task must be a name or an env config dict, got {item!r}")
        if not name:
            raise ValueError(f"task {item!r} has neither a name nor a type")
        if name in resolved:
            raise ValueError(f"task name {name!r} appears twice; give the tasks distinct `name`s")
        try:
            resolved[name] = env_config_from_dict({**fields, **overrides})
        except (KeyError, TypeError, ValueError) as err:
            raise ValueError(f"task {name!r}: {err}") from err
    return resolved


def _named_env_fields(name: str, known_types: list[str]) -> dict[str, Any]:
    """The fields of env ``name``: ``{"type": name}`` (its config's defaults) for a registered env type."""
    if name in known_types:
        return {"type": name}
    raise ValueError(f"unknown task {name!r}: not a registered env type ({known_types})")


def env_configs_from_metadata(metadata: Mapping[str, Any], overrides: Mapping[str, Any] | None = None) -> dict:
    """Every task's env config recorded in a dataset's ``meta/vst_env.json`` (or a checkpoint's ``env.json``).

    Args:
        metadata: the JSON contents; version 2 has ``"tasks"``, version 1 only ``"env"``.
        overrides: env fields set on every task (e.g. ``{"cheap_render": True}``).

    Returns:
        ``{task name: env config}``; a version-1 file gives one task named by its env type.
    """
    from vst_envs.config import env_config_from_dict

    tasks = metadata.get("tasks")
    if tasks:
        entries = {name: entry["env"] for name, entry in tasks.items()}
    elif "env" in metadata:
        entries = {metadata["env"].get("type", "env"): metadata["env"]}
    else:
        raise ValueError(f"env metadata has neither 'tasks' nor 'env' (keys: {sorted(metadata)})")
    return {name: env_config_from_dict({**env, **dict(overrides or {})}) for name, env in entries.items()}

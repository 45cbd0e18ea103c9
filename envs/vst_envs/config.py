"""Env configs: frozen, validated, JSON round-trippable dataclasses registered by ``type`` in :data:`ENVS`.

A dataset or checkpoint saves ``cfg.to_dict()`` as its env metadata; :func:`env_config_from_dict` rebuilds the
config from it, so the exact same env can be made again later. Importing this module never imports robosuite:
the env and expert classes are looked up lazily through each config's ``env_class()`` and ``expert_class()``.

Registered types: ``"lift"`` (:class:`LiftEnvConfig`) and ``"tabletop_pick"`` (:class:`TabletopEnvConfig`); both
share the fields of :class:`RobosuiteEnvConfig`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from vst_envs.registry import ENVS
from vst_envs.relations import RELATIONS

if TYPE_CHECKING:
    from vst_envs.experts import LiftExpert, PickExpert
    from vst_envs.lift import LiftEnv
    from vst_envs.tabletop import TabletopEnv

# Cameras robosuite's Lift scene defines for a single Panda (arena cameras + the robot's own).
LIFT_CAMERAS: tuple[str, ...] = (
    "agentview",
    "frontview",
    "birdview",
    "sideview",
    "robot0_robotview",
    "robot0_eye_in_hand",
)

# The 9-D agent_pos (eef pos + quat + two finger joints) and the scripted expert assume a Panda arm and gripper.
LIFT_ROBOTS: tuple[str, ...] = ("Panda",)


def _check_positive_int(name: str, value: object) -> None:
    # bool is an int subclass; True as an image size is always a mistake.
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"{name} must be a positive int, got {value!r}")


def _check_keys(cls: type, d: Mapping[str, Any]) -> None:
    """Raise naming the keys of ``d`` that are not fields of dataclass ``cls``."""
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(d) - known)
    if unknown:
        raise ValueError(f"unknown {cls.__name__} keys {unknown}; expected a subset of {sorted(known)}")


@dataclass(frozen=True)
class RobosuiteEnvConfig:
    """Fields and validation every vst_envs robosuite task shares (not registered itself).

    ``cameras=()`` turns rendering off entirely (no ``pixels`` in the observation, ~6x faster stepping); it is
    meant for state-only runs such as measuring the scripted expert. Subclasses set :attr:`TYPE`, redeclare
    ``type`` with that default, add their fields and validate them in :meth:`_validate`.
    """

    TYPE: ClassVar[str] = ""

    type: str = ""
    robot: str = "Panda"
    image_size: int = 128  # square camera images
    cameras: tuple[str, ...] = ("agentview",)  # add "robot0_eye_in_hand" for the wrist camera
    cheap_render: bool = False  # no shadows / reflections / multisampling
    control_freq: int = 20
    max_episode_steps: int = 200

    def __post_init__(self) -> None:
        if self.type != self.TYPE:
            raise ValueError(f"type must be {self.TYPE!r} for {type(self).__name__}, got {self.type!r}")
        if self.robot not in LIFT_ROBOTS:
            raise ValueError(f"robot must be one of {list(LIFT_ROBOTS)}, got {self.robot!r}")
        _check_positive_int("image_size", self.image_size)
        _check_positive_int("control_freq", self.control_freq)
        _check_positive_int("max_episode_steps", self.max_episode_steps)
        self._validate_cameras()
        if not isinstance(self.cheap_render, bool):
            raise ValueError(f"cheap_render must be a bool, got {self.cheap_render!r}")
        self._validate()

    def _validate(self) -> None:
        """Validate the subclass's own fields (raise ValueError naming the field)."""

    def _validate_cameras(self) -> None:
        # A bare string would otherwise be split into one-letter "cameras".
        if isinstance(self.cameras, str):
            raise ValueError(f"cameras must be a sequence of camera names, got the string {self.cameras!r}")
        cameras = tuple(self.cameras)
        # Lists arrive from JSON / Hydra; store a tuple so the config stays hashable and immutable.
        object.__setattr__(self, "cameras", cameras)
        unknown = [c for c in cameras if c not in LIFT_CAMERAS]
        if unknown:
            raise ValueError(f"cameras {unknown} are not Lift cameras; expected names from {list(LIFT_CAMERAS)}")
        if len(set(cameras)) != len(cameras):
            raise ValueError(f"cameras must not repeat a name, got {list(cameras)}")

    @property
    def use_camera(self) -> bool:
        """Whether the env renders at all (False when ``cameras`` is empty)."""
        return bool(self.cameras)

    def to_dict(self) -> dict[str, Any]:
        """The config as a JSON-safe dict (tuples become lists) that :meth:`from_dict` reads back."""
        d = dataclasses.asdict(self)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Any:
        """Build a config from a dict such as :meth:`to_dict` wrote; missing keys take defaults.

        Raises ValueError naming any key that is not a field.
        """
        _check_keys(cls, d)
        kwargs = dict(d)
        # Tuple fields come back from JSON as lists (a bare string is left for validation to reject).
        for f in dataclasses.fields(cls):
            value = kwargs.get(f.name)
            if isinstance(value, list):
                kwargs[f.name] = tuple(value)
        return cls(**kwargs)


@ENVS.register("lift")
@dataclass(frozen=True)
class LiftEnvConfig(RobosuiteEnvConfig):
    """Robosuite Lift with a Panda arm under delta end-effector (OSC_POSE) control.

    ``cameras=()`` turns rendering off entirely (no ``pixels`` in the observation, ~6x faster stepping); it is
    meant for state-only runs such as measuring the scripted expert.
    """

    TYPE: ClassVar[str] = "lift"

    type: str = "lift"
    instruction: str = "lift the red cube"

    def _validate(self) -> None:
        if not isinstance(self.instruction, str) or not self.instruction.strip():
            raise ValueError(f"instruction must be a non-empty string, got {self.instruction!r}")

    def env_class(self) -> type[LiftEnv]:
        """The gymnasium env class this config builds (imported lazily: it pulls in robosuite)."""
        from vst_envs.lift import LiftEnv

        return LiftEnv

    def expert_class(self) -> type[LiftExpert]:
        """The scripted expert class that solves this env."""
        from vst_envs.experts import LiftExpert

        return LiftExpert


# Cube colours tabletop_pick draws from: name -> RGB in [0, 1]. Hues far apart so each reads unambiguously at
# 64 px under the scene's lighting (no cyan / orange next to blue / red / yellow).
CUBE_COLORS: dict[str, tuple[float, float, float]] = {
    "red": (0.85, 0.08, 0.08),
    "green": (0.10, 0.65, 0.15),
    "blue": (0.10, 0.25, 0.90),
    "yellow": (0.95, 0.85, 0.10),
    "purple": (0.55, 0.15, 0.75),
    "orange": (1.00, 0.50, 0.05),
}

# Most cubes the tabletop_pick placement area holds with the spacing the expert's gripper needs.
MAX_TABLETOP_CUBES = 5


@ENVS.register("tabletop_pick")
@dataclass(frozen=True)
class TabletopEnvConfig(RobosuiteEnvConfig):
    """Several coloured cubes on robosuite's table; pick the one an instruction names by a spatial relation.

    Each episode places ``num_cubes`` cubes of distinct colours (drawn from ``colors``), then picks a relation
    from ``relations`` (see :mod:`vst_envs.relations`) that singles one cube out, e.g. "pick up the cube left
    of the green cube". Left / right are as seen in the agentview camera. Success: the target cube lifted.
    """

    TYPE: ClassVar[str] = "tabletop_pick"

    type: str = "tabletop_pick"
    num_cubes: int = 4
    colors: tuple[str, ...] = tuple(CUBE_COLORS)
    relations: tuple[str, ...] = RELATIONS

    def _validate(self) -> None:
        _check_positive_int("num_cubes", self.num_cubes)
        for name in ("colors", "relations"):
            value = getattr(self, name)
            if isinstance(value, str):
                raise ValueError(f"{name} must be a sequence of names, got the string {value!r}")
            object.__setattr__(self, name, tuple(value))
        unknown = [c for c in self.colors if c not in CUBE_COLORS]
        if unknown or len(set(self.colors)) != len(self.colors):
            raise ValueError(f"colors must be distinct names from {list(CUBE_COLORS)}, got {list(self.colors)}")
        if not 2 <= self.num_cubes <= min(len(self.colors), MAX_TABLETOP_CUBES):
            raise ValueError(
                f"num_cubes must be in [2, {min(len(self.colors), MAX_TABLETOP_CUBES)}] "
                f"(at most one cube per colour and {MAX_TABLETOP_CUBES} in all), got {self.num_cubes}"
            )
        unknown = [r for r in self.relations if r not in RELATIONS]
        if unknown or not self.relations or len(set(self.relations)) != len(self.relations):
            raise ValueError(f"relations must be distinct names from {list(RELATIONS)}, got {list(self.relations)}")

    def env_class(self) -> type[TabletopEnv]:
        """The gymnasium env class this config builds (imported lazily: it pulls in robosuite)."""
        from vst_envs.tabletop import TabletopEnv

        return TabletopEnv

    def expert_class(self) -> type[PickExpert]:
        """The scripted expert class that solves this env."""
        from vst_envs.experts import PickExpert

        return PickExpert


def env_config_from_dict(d: Mapping[str, Any]) -> Any:
    """Rebuild an env config from saved metadata by dispatching on ``d["type"]`` through :data:`ENVS`.

    Raises KeyError naming the registered types when the type is unknown, ValueError when ``type`` is missing.
    """
    if "type" not in d:
        raise ValueError(f"env config dict needs a 'type' key (one of {ENVS.names()}), got keys {sorted(d)}")
    return ENVS.get(d["type"]).from_dict(d)

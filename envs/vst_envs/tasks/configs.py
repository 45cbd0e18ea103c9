"""Configs of the :mod:`vst_envs.tasks` envs, registered in :data:`vst_envs.registry.ENVS` on import.

Each shares :class:`~vst_envs.config.RobosuiteEnvConfig`'s fields, adds a fixed ``instruction`` and sets a
``max_episode_steps`` that leaves its scripted expert about twice its usual episode length. Importing this
module never imports robosuite: env and expert classes are looked up lazily.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from vst_envs.config import RobosuiteEnvConfig
from vst_envs.registry import ENVS


@dataclass(frozen=True)
class InstructedEnvConfig(RobosuiteEnvConfig):
    """A task with one fixed language instruction (not registered itself).

    Subclasses set ``ENV`` / ``EXPERT`` to ``"module:Class"`` paths under ``vst_envs``.
    """

    ENV: ClassVar[str] = ""
    EXPERT: ClassVar[str] = ""
    # Model cameras this task's scene lacks (all the Lift cameras exist unless listed).
    MISSING_CAMERAS: ClassVar[tuple[str, ...]] = ()

    instruction: str = ""

    def _validate(self) -> None:
        if not isinstance(self.instruction, str) or not self.instruction.strip():
            raise ValueError(f"instruction must be a non-empty string, got {self.instruction!r}")
        missing = [c for c in self.cameras if c in self.MISSING_CAMERAS]
        if missing:
            raise ValueError(f"cameras {missing} do not exist in the {self.TYPE} scene")

    def env_class(self) -> type:
        """The gymnasium env class this config builds (imported lazily: it pulls in robosuite)."""
        return _load(self.ENV)

    def expert_class(self) -> type:
        """The scripted expert class that solves this env."""
        return _load(self.EXPERT)


def _load(path: str) -> Any:
    import importlib

    module, name = path.split(":")
    return getattr(importlib.import_module(module), name)


@ENVS.register("stack")
@dataclass(frozen=True)
class StackEnvConfig(InstructedEnvConfig):
    """Robosuite Stack: put the red 4 cm cube on the green 5 cm cube and let go."""

    TYPE: ClassVar[str] = "stack"
    ENV: ClassVar[str] = "vst_envs.tasks.stack:StackEnv"
    EXPERT: ClassVar[str] = "vst_envs.tasks.experts:StackExpert"

    type: str = "stack"
    instruction: str = "stack the red cube on the green cube"
    max_episode_steps: int = 200


@ENVS.register("pick_place_can")
@dataclass(frozen=True)
class PickPlaceCanEnvConfig(InstructedEnvConfig):
    """Robosuite PickPlaceCan: move the can from the left bin to its quadrant of the right bin and let go."""

    TYPE: ClassVar[str] = "pick_place_can"
    ENV: ClassVar[str] = "vst_envs.tasks.pick_place:PickPlaceCanEnv"
    EXPERT: ClassVar[str] = "vst_envs.tasks.experts:PickPlaceCanExpert"
    MISSING_CAMERAS: ClassVar[tuple[str, ...]] = ("sideview",)  # the bins arena has no side camera

    type: str = "pick_place_can"
    instruction: str = "put the can in the bin"
    max_episode_steps: int = 400


@ENVS.register("door")
@dataclass(frozen=True)
class DoorEnvConfig(InstructedEnvConfig):
    """Robosuite Door with the latch: turn the lever handle, then pull the door open (hinge > 0.3 rad)."""

    TYPE: ClassVar[str] = "door"
    ENV: ClassVar[str] = "vst_envs.tasks.door:DoorEnv"
    EXPERT: ClassVar[str] = "vst_envs.tasks.experts:DoorExpert"

    type: str = "door"
    instruction: str = "open the door"
    max_episode_steps: int = 250


@ENVS.register("nut_assembly_square")
@dataclass(frozen=True)
class NutAssemblySquareEnvConfig(InstructedEnvConfig):
    """Robosuite NutAssemblySquare: lift the square nut by its handle and drop it over the square peg."""

    TYPE: ClassVar[str] = "nut_assembly_square"
    ENV: ClassVar[str] = "vst_envs.tasks.nut_assembly:NutAssemblySquareEnv"
    EXPERT: ClassVar[str] = "vst_envs.tasks.experts:NutAssemblyExpert"

    type: str = "nut_assembly_square"
    instruction: str = "put the square nut on the square peg"
    max_episode_steps: int = 400

"""Configuration of the simulated arm (``--robot.type=vst_sim``)."""

from __future__ import annotations

from dataclasses import dataclass, field

from lerobot.robots.config import RobotConfig


@RobotConfig.register_subclass("vst_sim")
@dataclass(kw_only=True)
class VSTSimRobotConfig(RobotConfig):
    """A vst_envs task (Panda under delta end-effector control) behind LeRobot's ``Robot`` interface.

    Attributes:
        task: the vst_envs env type (``lift``, ``tabletop_pick``, ``stack``, ...).
        camera_names: the robosuite cameras it streams; each becomes ``observation.images.<name>``. (Not
            ``cameras``: LeRobot reserves that name for real camera configs with width / height / fps.)
        image_size: square camera image size in pixels.
        cheap_render: no shadows / reflections / multisampling (faster on CPU rendering).
        seed: seed of the first episode; each later episode uses the next integer.
        max_episode_steps: steps before an episode counts as failed and the scene resets; None keeps the task's.
        reset_on_episode_end: start a new seeded episode when one succeeds or runs out of steps (a real arm's
            operator would reset the scene); False keeps stepping the finished scene.
        summary_path: where to write the episode tally (JSON) on disconnect; None only logs it.
    """

    id: str | None = "sim"  # LeRobot names the robot (and its calibration file) by id
    task: str = "lift"
    camera_names: list[str] = field(default_factory=lambda: ["agentview"])
    image_size: int = 128
    cheap_render: bool = False
    seed: int = 0
    max_episode_steps: int | None = None
    reset_on_episode_end: bool = True
    summary_path: str | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.camera_names:
            raise ValueError("robot.camera_names must name at least one camera, e.g. [agentview]")
        if self.image_size < 16:
            raise ValueError(f"robot.image_size must be at least 16 pixels, got {self.image_size}")
        if self.max_episode_steps is not None and self.max_episode_steps < 1:
            raise ValueError(f"robot.max_episode_steps must be >= 1 or None, got {self.max_episode_steps}")

    def env_fields(self) -> dict:
        """The vst_envs env config fields this robot sets (validated by ``env_config_from_dict``)."""
        fields = {
            "type": self.task,
            "image_size": self.image_size,
            "cameras": list(self.camera_names),
            "cheap_render": self.cheap_render,
        }
        if self.max_episode_steps is not None:
            fields["max_episode_steps"] = self.max_episode_steps
        return fields

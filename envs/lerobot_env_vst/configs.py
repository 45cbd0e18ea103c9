"""The LeRobot ``EnvConfig`` of the vst_envs tasks: ``--env.type=vst --env.task=lift`` (or ``lift,tabletop_pick``).

LeRobot builds eval envs through ``EnvConfig.create_envs(n_envs, use_async_envs)``, which must return
``{suite: {task_id: VectorEnv}}``; policies get their input / output features from ``features`` and
``features_map`` (``lerobot.envs.utils.env_to_policy_features``). Our observation layout is already LeRobot's
(``{"pixels": {camera: HxWx3 uint8}, "agent_pos": (9,)}``, see ``vst_envs.base``), so ``preprocess_observation``
turns it into ``observation.images.<camera>`` / ``observation.state`` unchanged, and the env needs no
processors of its own.

Several tasks (comma-separated ``task``) give one suite per task (``{"lift": {0: vec}, "tabletop_pick": {0: vec}}``),
so ``lerobot-eval`` reports per-task metrics plus the overall average. All tasks share this config's cameras,
image size and rate, hence one set of policy features.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym
from lerobot.configs import FeatureType, PolicyFeature
from lerobot.envs.configs import EnvConfig
from lerobot.utils.constants import ACTION, OBS_IMAGES, OBS_STATE
from vst_envs.layout import ACTION_DIM  # the layout every vst_envs task shares
from vst_envs.layout import AGENT_POS_DIM as STATE_DIM

from lerobot_env_vst.gym_env import GYM_ID, PACKAGE_NAME


def _split(names: str | None, what: str) -> list[str]:
    """``"a, b"`` -> ``["a", "b"]``; refuses an empty list."""
    items = [n.strip() for n in (names or "").split(",") if n.strip()]
    if not items:
        raise ValueError(f"env.{what} must name at least one {what.rstrip('s')}, got {names!r}")
    return items


@EnvConfig.register_subclass("vst")
@dataclass
class VSTEnvConfig(EnvConfig):
    """vst_envs robosuite tasks (Panda, OSC_POSE delta control) for LeRobot's env factory and ``lerobot-eval``.

    Attributes:
        task: a registered vst_envs env type (``lift``, ``tabletop_pick``, ``stack``, ...), or several,
            comma-separated (one suite each).
        fps: control frequency (Hz); also the frame rate of LeRobot's eval videos.
        episode_length: step limit per episode; None keeps each task's own ``max_episode_steps``.
        image_size: square camera image size (pixels).
        cameras: comma-separated camera names, e.g. ``"agentview,robot0_eye_in_hand"``.
        cheap_render: no shadows / reflections / multisampling (several times faster on CPU rendering).
        task_kwargs: JSON object of further env config fields, e.g. ``'{"num_cubes": 3}'``, set on every task.
    """

    task: str | None = "lift"
    fps: int = 20
    episode_length: int | None = None
    image_size: int = 128
    cameras: str = "agentview"
    cheap_render: bool = False
    task_kwargs: str | None = None
    features: dict[str, PolicyFeature] = field(default_factory=dict)
    features_map: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        cameras = _split(self.cameras, "cameras")
        # Validate every task's full env config now, so a typo fails at parse time, not after LeRobot has
        # built the policy.
        for task in self.tasks:
            self.env_config(task)
        self.features = {
            ACTION: PolicyFeature(type=FeatureType.ACTION, shape=(ACTION_DIM,)),
            "agent_pos": PolicyFeature(type=FeatureType.STATE, shape=(STATE_DIM,)),
            **{
                f"pixels/{cam}": PolicyFeature(type=FeatureType.VISUAL, shape=(self.image_size, self.image_size, 3))
                for cam in cameras
            },
        }
        self.features_map = {
            ACTION: ACTION,
            "agent_pos": OBS_STATE,
            **{f"pixels/{cam}": f"{OBS_IMAGES}.{cam}" for cam in cameras},
        }

    @property
    def tasks(self) -> list[str]:
        """The task names ``task`` lists."""
        return _split(self.task, "task")

    @property
    def package_name(self) -> str:
        """The module that registers :attr:`gym_id` (LeRobot imports it when the id is unknown)."""
        return PACKAGE_NAME

    @property
    def gym_id(self) -> str:
        return GYM_ID

    def env_fields(self, task: str) -> dict[str, Any]:
        """The vst_envs env config fields of ``task`` this config sets."""
        fields: dict[str, Any] = {
            "type": task,
            "image_size": self.image_size,
            "cameras": _split(self.cameras, "cameras"),
            "cheap_render": self.cheap_render,
            "control_freq": self.fps,
        }
        if self.episode_length is not None:
            fields["max_episode_steps"] = self.episode_length
        if self.task_kwargs:
            extra = json.loads(self.task_kwargs)
            if not isinstance(extra, dict):
                raise ValueError(f"env.task_kwargs must be a JSON object, got {self.task_kwargs!r}")
            fields.update(extra)
        return fields

    def env_config(self, task: str) -> Any:
        """The validated vst_envs env config of ``task`` (raises ValueError / KeyError naming the problem)."""
        from vst_envs.config import env_config_from_dict

        return env_config_from_dict(self.env_fields(task))

    @property
    def gym_kwargs(self) -> dict:
        """``gym.make(gym_id, **gym_kwargs)`` arguments of the first task (LeRobot's single-env path)."""
        return {"fields": self.env_fields(self.tasks[0])}

    def create_envs(self, n_envs: int, use_async_envs: bool = False) -> dict[str, dict[int, gym.vector.VectorEnv]]:
        """One vector env of ``n_envs`` copies per task: ``{task: {0: VectorEnv}}``.

        Sub-envs freeze once their episode ends (LeRobot's ``FreezeAfterEpisodeEnd``), so a batch whose other
        episodes are still running does not keep simulating and rendering a finished one. Async vector envs
        start their workers with ``forkserver``, as LeRobot's own do: no worker inherits a GL context.
        """
        from gymnasium.vector import AutoresetMode
        from lerobot.envs.utils import freeze_after_episode_end

        import lerobot_env_vst.gym_env  # noqa: F401  (registers GYM_ID)

        use_async = use_async_envs and n_envs > 1
        env_cls = gym.vector.AsyncVectorEnv if use_async else gym.vector.SyncVectorEnv
        extra: dict[str, Any] = {"context": "forkserver"} if use_async else {}
        envs: dict[str, dict[int, gym.vector.VectorEnv]] = {}
        for task in self.tasks:
            fields = self.env_fields(task)

            def make_one(fields: dict[str, Any] = fields) -> gym.Env:
                return gym.make(GYM_ID, disable_env_checker=self.disable_env_checker, fields=fields)

            env_fns = [freeze_after_episode_end(make_one) for _ in range(n_envs)]
            envs[task] = {0: env_cls(env_fns, autoreset_mode=AutoresetMode.SAME_STEP, **extra)}
        return envs

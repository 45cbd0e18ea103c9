"""Shared machinery of the vst_envs robosuite tasks: a gymnasium wrapper with LeRobot-style observations.

Observation: ``{"pixels": {camera: uint8 (H, W, 3)}, "agent_pos": float32 (9,)}`` where agent_pos is the
end-effector position (3, world frame, metres), its quaternion (4, xyzw as robosuite reports it) and the two
Panda finger joint positions (2). Images are upright (robosuite's OpenGL frames are bottom-up) and contiguous.
With ``cameras=()`` nothing is rendered and ``pixels`` is absent.

Action: 7 numbers in [-1, 1]: position delta (3; 1 = 5 cm in the robot base frame, which is aligned with the
world), rotation delta as axis-angle (3; 1 = 0.5 rad) and gripper (1; -1 open, +1 close), executed by
robosuite's OSC_POSE controller.

A task subclasses :class:`RobosuiteGymEnv` and supplies the robosuite env (:meth:`~RobosuiteGymEnv._build_sim_env`),
its instruction (:attr:`~RobosuiteGymEnv.task_description`), its privileged state and the objects of its scene
ground truth (:meth:`~RobosuiteGymEnv._scene_objects`). Importing this module imports robosuite.
"""

from __future__ import annotations

import logging
import warnings
from typing import TYPE_CHECKING, Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from vst_envs.layout import ACTION_DIM, AGENT_POS_DIM, GYM_AGENT_POS, GYM_PIXELS
from vst_envs.scene import (
    CameraInfo,
    ObjectInfo,
    SceneGroundTruth,
    camera_info_from_model,
)

if TYPE_CHECKING:
    from vst_envs.views import ViewRenderer

logger = logging.getLogger(__name__)


# robosuite's logger and the import-time messages it always emits on a plain pip install (no private macro
# file, no optional robosuite_models / mink packages). Only these exact messages are dropped.
_ROBOSUITE_LOGGER = "robosuite_logs"
_BENIGN_ROBOSUITE_MESSAGES = (
    "No private macro file found",
    "It is recommended to use a private macro file",
    "To setup, run: python",
    "Could not import robosuite_models",
    "Could not load the mink-based whole-body IK",
)

# Seed robosuite is constructed with: it fixes anything drawn once when the model is built (e.g. Lift's cube
# size), so every env in every process has the same model. Episode randomness comes from reset(seed=...).
CONSTRUCTION_SEED = 0


class _BenignRobosuiteFilter(logging.Filter):
    """Drops robosuite's known, harmless import-time warnings; every other record passes."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not any(m in message for m in _BENIGN_ROBOSUITE_MESSAGES)


def _import_robosuite() -> Any:
    """Import robosuite with its import-time noise removed, and its INFO chatter turned off.

    The logger stays at WARNING so real robosuite warnings and errors still reach the console. Returns the
    robosuite module.
    """
    rs_logger = logging.getLogger(_ROBOSUITE_LOGGER)
    if not any(isinstance(f, _BenignRobosuiteFilter) for f in rs_logger.filters):
        rs_logger.addFilter(_BenignRobosuiteFilter())
    with warnings.catch_warnings():
        # robosuite/__init__.py has an invalid escape in its ASCII-art logo, reported whenever it is compiled.
        warnings.filterwarnings("ignore", message="invalid escape sequence", category=SyntaxWarning)
        import robosuite
    # robosuite sets its logger to INFO at import, which logs every controller config it loads.
    rs_logger.setLevel(logging.WARNING)
    return robosuite


robosuite = _import_robosuite()
# E402: below the quiet import above, so that nothing here imports robosuite first, with its noise.
import mujoco  # noqa: E402
from robosuite import macros  # noqa: E402


class CheapRenderMixin:
    """Mixin for a robosuite env that can strip the model's render cost before the offscreen GL context exists.

    Put it before the robosuite env class in the bases; the subclass's ``__init__`` must set
    ``self._cheap_render`` before calling the robosuite constructor.
    """

    _cheap_render: bool = False

    def _initialize_sim(self, xml_string: str | None = None) -> None:
        super()._initialize_sim(xml_string)  # type: ignore[misc]
        if self._cheap_render:
            model = self.sim.model._model  # type: ignore[attr-defined]
            # MjrContext reads offsamples when it is created (right after this), so it must be set here.
            model.vis.quality.offsamples = 0
            model.light_castshadow[:] = 0


# Scene flags that cost render time and add nothing a policy needs; cheap_render turns them off.
CHEAP_RENDER_OFF_FLAGS = (
    mujoco.mjtRndFlag.mjRND_SHADOW,
    mujoco.mjtRndFlag.mjRND_REFLECTION,
    mujoco.mjtRndFlag.mjRND_SKYBOX,
)


def _disable_scene_effects(env: Any) -> None:
    """Turn off shadows, reflections and the skybox in the offscreen renderer's scene (persist across steps)."""
    scene = env.sim._render_context_offscreen.scn
    for flag in CHEAP_RENDER_OFF_FLAGS:
        scene.flags[flag] = 0


def make_robosuite_env(env_cls: type, config: Any, **task_kwargs: Any) -> Any:
    """Build a robosuite env of class ``env_cls`` (a :class:`CheapRenderMixin` subclass) the way every task wants.

    Panda under OSC_POSE, soft resets, no on-screen viewer, cameras from ``config``. ``task_kwargs`` go to the
    env class on top of the common arguments. The env is built once; the gym wrapper soft-resets it per episode.
    """
    controller = robosuite.controllers.load_composite_controller_config(controller="BASIC", robot=config.robot)
    # BASIC also configures torso / head / base / legs / a left arm, which a single-arm Panda lacks and for
    # which robosuite logs a warning each; keep only the arm (with its gripper) the robot has.
    controller["body_parts"] = {"right": controller["body_parts"]["right"]}
    cameras = list(config.cameras)
    env = env_cls(
        robots=config.robot,
        controller_configs=controller,
        cheap_render=config.cheap_render,
        use_camera_obs=config.use_camera,
        has_renderer=False,
        has_offscreen_renderer=config.use_camera,
        camera_names=cameras or "agentview",  # robosuite wants a name even when it renders nothing
        camera_heights=config.image_size,
        camera_widths=config.image_size,
        control_freq=config.control_freq,
        horizon=config.max_episode_steps,
        # The gym wrapper does its own termination / truncation; robosuite would otherwise refuse to step after
        # its horizon.
        ignore_done=True,
        # A soft reset (sim.reset + re-sampling) takes ~35 ms against ~190 ms for rebuilding the model, and
        # keeps the GL context (and the cheap-render settings) alive.
        hard_reset=False,
        # "mujoco" skips robosuite's interactive-viewer set-up; nothing is shown on screen either way.
        renderer="mujoco",
        seed=CONSTRUCTION_SEED,
        **task_kwargs,
    )
    if config.use_camera and config.cheap_render:
        _disable_scene_effects(env)
    return env


class RobosuiteGymEnv(gym.Env):
    """Gymnasium wrapper of a robosuite task (Panda, OSC_POSE delta control); see the module docstring.

    Subclasses implement :meth:`_build_sim_env`, :attr:`task_description`, :meth:`privileged_state` and
    :meth:`_scene_objects`, and may override :meth:`_is_success` (default: robosuite's ``_check_success``).

    Args:
        config: the env config (a ``RobosuiteEnvConfig`` subclass).
        render_mode: ``"rgb_array"`` (default when the config has cameras) or None.
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 20}

    def __init__(self, config: Any, render_mode: str | None = "rgb_array") -> None:
        self.config = config
        if render_mode not in (None, "rgb_array"):
            raise ValueError(f"render_mode must be 'rgb_array' or None, got {render_mode!r}")
        if render_mode == "rgb_array" and not self.config.use_camera:
            # Without cameras there is nothing to render; silently dropping the mode keeps cameras=() usable
            # through gymnasium.make, which passes no render_mode either way.
            render_mode = None
        self.render_mode = render_mode
        self.metadata = {**type(self).metadata, "render_fps": self.config.control_freq}

        self._env: Any | None = self._build_sim_env()
        # The camera sensors flip frames only under the "opencv" convention, fixed when they were created.
        self._flip_images = macros.IMAGE_CONVENTION == "opengl"
        self._raw_obs: dict[str, np.ndarray] | None = None
        self._elapsed_steps = 0
        self._view_renderer: ViewRenderer | None = None

        self.action_space = spaces.Box(-1.0, 1.0, shape=(ACTION_DIM,), dtype=np.float32)
        self.observation_space = self._make_observation_space()

    # --- hooks for subclasses --------------------------------------------------------------------------------

    def _build_sim_env(self) -> Any:
        """Build the robosuite env (once per gym env); typically ``make_robosuite_env(cls, self.config)``."""
        raise NotImplementedError

    @property
    def task_description(self) -> str:
        """The language instruction of the current episode (LeRobot's gym envs expose it under this name)."""
        raise NotImplementedError

    def privileged_state(self) -> dict[str, Any]:
        """Simulator state for scripted experts (not for policies)."""
        raise NotImplementedError

    def _scene_objects(self) -> list[ObjectInfo]:
        """The task's objects for :meth:`scene_ground_truth`, in the current state."""
        raise NotImplementedError

    def _scene_task_fields(self) -> dict[str, Any]:
        """Extra :class:`SceneGroundTruth` fields (e.g. the target's name); none by default."""
        return {}

    def _is_success(self) -> bool:
        return bool(self.sim_env._check_success())

    # --- gymnasium API ---------------------------------------------------------------------------------------

    def _make_observation_space(self) -> spaces.Dict:
        obs_spaces: dict[str, spaces.Space] = {
            GYM_AGENT_POS: spaces.Box(-np.inf, np.inf, shape=(AGENT_POS_DIM,), dtype=np.float32)
        }
        if self.config.use_camera:
            size = self.config.image_size
            obs_spaces[GYM_PIXELS] = spaces.Dict(
                {cam: spaces.Box(0, 255, shape=(size, size, 3), dtype=np.uint8) for cam in self.config.cameras}
            )
        return spaces.Dict(obs_spaces)

    @property
    def task(self) -> str:
        """Alias of :attr:`task_description` (LeRobot also reads ``env.task``)."""
        return self.task_description

    @property
    def sim_env(self) -> Any:
        """The underlying robosuite env; raises RuntimeError after :meth:`close`."""
        if self._env is None:
            raise RuntimeError(f"{type(self).__name__} is closed")
        return self._env

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """Start an episode; the same ``seed`` gives the same object poses, task and robot start.

        Returns ``(observation, info)`` with ``info["is_success"] = False``.
        """
        super().reset(seed=seed)
        env = self.sim_env
        # Robosuite draws the object placement and the robot's joint noise from env.rng (the sampler keeps its
        # own reference). Pointing both at gymnasium's np_random seeds them on every reset, not only at
        # construction, and an unseeded reset continues the last seeded stream as gymnasium expects.
        env.rng = self.np_random
        env.placement_initializer.rng = self.np_random
        self._make_gl_current()
        self._raw_obs = env.reset()
        self._elapsed_steps = 0
        return self._observation(), {"is_success": False}

    def step(self, action: np.ndarray) -> tuple[dict[str, Any], float, bool, bool, dict[str, Any]]:
        """Apply one 7-D action (see the module docstring) for one control step.

        Returns ``(observation, reward, terminated, truncated, info)``: reward is 1 on success (0 otherwise),
        terminated is True on success, truncated is True once ``max_episode_steps`` steps have run, and
        ``info["is_success"]`` says whether the task is solved. Raises ValueError on a malformed action.
        """
        env = self.sim_env
        if self._raw_obs is None:
            raise RuntimeError("call reset() before step()")
        checked = self._check_action(action)
        self._make_gl_current()
        self._raw_obs, reward, _, _ = env.step(checked)
        self._elapsed_steps += 1
        success = self._is_success()
        truncated = not success and self._elapsed_steps >= self.config.max_episode_steps
        return self._observation(), float(reward), success, truncated, {"is_success": success}

    def _make_gl_current(self) -> None:
        """Make this env's GL context current before robosuite renders (robosuite itself never does).

        With several envs in one process, the context current is the one made or released last: rendering
        without this draws through another env's context, or through none once any env was closed (robosuite's
        context teardown calls eglReleaseThread), and returns garbage frames.
        """
        context = self.sim_env.sim._render_context_offscreen
        if context is not None:
            context.gl_ctx.make_current()

    @staticmethod
    def _check_action(action: np.ndarray) -> np.ndarray:
        """Validate shape and finiteness, and clip to [-1, 1]; returns a float64 copy for robosuite."""
        arr = np.asarray(action, dtype=np.float64)
        if arr.shape != (ACTION_DIM,):
            raise ValueError(f"action must have shape ({ACTION_DIM},), got shape {arr.shape}")
        if not np.all(np.isfinite(arr)):
            raise ValueError(f"action must be finite (no NaN or inf), got {arr.tolist()}")
        return np.clip(arr, -1.0, 1.0)

    def _observation(self) -> dict[str, Any]:
        raw = self._raw_obs
        assert raw is not None
        agent_pos = np.concatenate([raw["robot0_eef_pos"], raw["robot0_eef_quat"], raw["robot0_gripper_qpos"]])
        obs: dict[str, Any] = {GYM_AGENT_POS: agent_pos.astype(np.float32)}
        if self.config.use_camera:
            obs[GYM_PIXELS] = {cam: self._image(raw[f"{cam}_image"]) for cam in self.config.cameras}
        return obs

    def _image(self, frame: np.ndarray) -> np.ndarray:
        if self._flip_images:
            frame = frame[::-1]
        return np.ascontiguousarray(frame)

    def render(self) -> np.ndarray | None:
        """The first camera's current frame, upright uint8 (H, W, 3); None when ``render_mode`` is None.

        The frame is the one already rendered for the last observation, so rendering costs nothing extra.
        """
        if self.render_mode is None:
            return None
        if self._raw_obs is None:
            raise RuntimeError("call reset() before render()")
        return self._image(self._raw_obs[f"{self.config.cameras[0]}_image"])

    def _robot_state(self) -> dict[str, np.ndarray]:
        """float64 copies of ``eef_pos`` (3), ``eef_quat`` (4, xyzw), ``gripper_qpos`` (2) and ``table_height``."""
        if self._raw_obs is None:
            raise RuntimeError("call reset() before privileged_state()")
        raw = self._raw_obs
        state = {name: np.array(raw[f"robot0_{name}"], dtype=np.float64) for name in ("eef_pos", "eef_quat")}
        state["gripper_qpos"] = np.array(raw["robot0_gripper_qpos"], dtype=np.float64)
        state["table_height"] = np.float64(self.table_height_m)
        return state

    @property
    def table_height_m(self) -> float:
        """World z (metres) of the table top."""
        return float(self.sim_env.model.mujoco_arena.table_offset[2])

    @property
    def robot_base_pos(self) -> np.ndarray:
        """World position (3,) of the robot's base body (metres)."""
        sim = self.sim_env.sim
        return np.array(sim.data.body_xpos[sim.model.body_name2id(self.sim_env.robots[0].robot_model.root_body)])

    # --- ground truth ----------------------------------------------------------------------------------------

    def camera_info(self, name: str, width: int | None = None, height: int | None = None) -> CameraInfo:
        """Intrinsics and pose of the model camera ``name`` for ``width`` x ``height`` images (default: obs size)."""
        sim = self.sim_env.sim
        size = self.config.image_size
        return camera_info_from_model(sim.model._model, sim.data._data, name, width or size, height or size)

    def scene_ground_truth(self) -> SceneGroundTruth:
        """Objects, observation cameras (at the observation image size), table and end-effector, right now.

        With ``cameras=()`` the agentview camera is described (at ``image_size``) so projections still work.
        """
        if self._raw_obs is None:
            raise RuntimeError("call reset() before scene_ground_truth()")
        cameras = {name: self.camera_info(name) for name in (self.config.cameras or ("agentview",))}
        eef_site = self.sim_env.robots[0].eef_site_id["right"]
        return SceneGroundTruth(
            objects=self._scene_objects(),
            cameras=cameras,
            table_height=self.table_height_m,
            robot_eef_pos=np.array(self.sim_env.sim.data.site_xpos[eef_site], dtype=np.float64),
            robot_base_pos=self.robot_base_pos,
            **self._scene_task_fields(),
        )

    def view_renderer(self) -> ViewRenderer:
        """The renderer behind :func:`vst_envs.views.render_views` (made on first use, freed by :meth:`close`)."""
        from vst_envs.views import ViewRenderer

        if self._view_renderer is None:
            self._view_renderer = ViewRenderer(self)
        return self._view_renderer

    def close(self) -> None:
        """Free the simulator, the view renderer and the GL contexts; safe to call twice."""
        if self._view_renderer is not None:
            self._view_renderer.close()
            self._view_renderer = None
        if self._env is not None:
            # MjrContext.free releases GL objects of whichever context is current, so make it ours first.
            self._make_gl_current()
            self._env.close()
            self._env = None
            self._raw_obs = None

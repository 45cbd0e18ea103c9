"""Dataset generation: scenes from the simulator, every selected skill asked about each, as VST samples.

Scene ``i`` of a run with seed ``s`` is ``env.reset(seed=s + i)`` followed by a short, deterministic gripper
move (so gripper heights and positions vary; even scene seeds park the gripper low beside the cubes, odd ones
above them, which balances "above / below" questions by construction). Skills then draw with their own
generator ``default_rng([s, i, crc32(skill)])``, so a skill's samples do not depend on which other skills run,
and the same seed gives byte-identical samples.

One env per process is kept and reused across scenes and calls (building one takes seconds); it renders only
on demand (``cameras=()``: stepping skips robosuite's per-step observation render) with cheap rendering, which
also makes segmentation exact.
"""

from __future__ import annotations

import logging
import zlib
from collections.abc import Iterator, Sequence
from typing import Any

import mujoco
import numpy as np
from vst_envs import env_config_from_dict, make_env
from vst_envs.scene import box_object_info

from vst_vla.spatial.engine.base import SKILLS, AnswerBalancer, default_skill_names
from vst_vla.spatial.engine.scene import FREE_FOVY_DEG, SceneBundle
from vst_vla.spatial.schema import SpatialSample

logger = logging.getLogger(__name__)

MAX_IMAGE_SIZE = 480  # robosuite's offscreen framebuffer is 640 x 480
GRIPPER_STEPS = 15
GRIPPER_LOW_M = 0.012  # target grip-point height above the table for "low" scenes (cube tops are at 0.04)
GRIPPER_HIGH_RANGE_M = (0.08, 0.30)
GRIPPER_CLEARANCE_M = 0.10  # a low gripper stays this far (xy) from cube centres so it does not push them
_GRIPPER_STREAM = 0xA2

_ENV_CACHE: dict[tuple[str, bool], Any] = {}


def shared_env(env_type: str = "tabletop_pick", cheap_render: bool = True) -> Any:
    """The process's env of this type (built on first use, then reused: one env per process)."""
    key = (env_type, cheap_render)
    if key not in _ENV_CACHE:
        cfg = env_config_from_dict({"type": env_type, "cameras": [], "cheap_render": cheap_render,
                                    "max_episode_steps": 10_000})
        logger.info("building the %s env for spatial QA generation", env_type)
        _ENV_CACHE[key] = make_env(cfg, render_mode=None)
    return _ENV_CACHE[key]


def close_shared_envs() -> None:
    """Close the cached envs (e.g. at the end of a CLI run)."""
    while _ENV_CACHE:
        _, env = _ENV_CACHE.popitem()
        env.close()


def _move_gripper(env: Any, scene_seed: int) -> None:
    """Drive the gripper (open) to a seeded target with a P-controller; low targets on even seeds."""
    unwrapped = env.unwrapped
    gt = unwrapped.scene_ground_truth()
    rng = np.random.default_rng([scene_seed, _GRIPPER_STREAM])
    centres = np.array([o.position_world[:2] for o in gt.objects]).reshape(-1, 2)
    target = None
    if scene_seed % 2 == 0:
        for _ in range(100):
            xy = np.array([rng.uniform(-0.10, 0.15), rng.uniform(-0.22, 0.22)])
            if len(centres) == 0 or np.min(np.linalg.norm(centres - xy, axis=1)) >= GRIPPER_CLEARANCE_M:
                target = np.array([xy[0], xy[1], gt.table_height + GRIPPER_LOW_M])
                break
    if target is None:
        xy = np.array([rng.uniform(-0.12, 0.12), rng.uniform(-0.18, 0.18)])
        target = np.array([xy[0], xy[1], gt.table_height + rng.uniform(*GRIPPER_HIGH_RANGE_M)])
    action = np.zeros(7)
    action[6] = -1.0  # open
    for _ in range(GRIPPER_STEPS):
        eef = unwrapped.scene_ground_truth().robot_eef_pos
        action[:3] = np.clip((target - eef) / 0.05, -1.0, 1.0)  # 1 = 5 cm per step
        env.step(action)


def _table(env: Any) -> tuple[Any, tuple[int, ...]]:
    """The table top as a box object and the table body's geom ids (for segmentation checks)."""
    sim = env.unwrapped.sim_env.sim
    model, data = sim.model._model, sim.data._data
    table = box_object_info(model, data, "table", "table", "table", "white", (1.0, 1.0, 1.0))
    body = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_BODY, "table")
    return table, tuple(int(g) for g in np.flatnonzero(model.geom_bodyid == body))


def prepare_scene(env: Any, scene_seed: int, move_gripper: bool = True) -> None:
    """Reset the env to the scene of ``scene_seed``, move its gripper, and sync derived kinematics."""
    env.reset(seed=scene_seed)
    if move_gripper:
        _move_gripper(env, scene_seed)
    # mj_step leaves positions (xpos, geom_xpos, ...) one physics substep behind qpos, and the first render of a
    # camera-free env runs mj_forward while attaching its GL context; without a forward here that first scene
    # would render (and read ground truth) differently from the same scene later, breaking determinism.
    env.unwrapped.sim_env.sim.forward()


def skill_rng(seed: int, scene_index: int, skill: str) -> np.random.Generator:
    """The generator a skill draws with for one scene (independent of the other skills)."""
    return np.random.default_rng([seed, scene_index, zlib.crc32(skill.encode())])


def _check_args(num_scenes: int, seed: int, image_size: int, skills: Sequence[str] | None,
                max_per_scene: int | None = None) -> list[str]:
    if max_per_scene is not None and max_per_scene < 1:
        raise ValueError(f"max_per_scene must be >= 1 (or None for each skill's own), got {max_per_scene}")
    if num_scenes < 0:
        raise ValueError(f"num_scenes must be >= 0, got {num_scenes}")
    if seed < 0:
        raise ValueError(f"seed must be >= 0 (it seeds numpy generators), got {seed}")
    if not 16 <= image_size <= MAX_IMAGE_SIZE:
        raise ValueError(f"image_size must be in [16, {MAX_IMAGE_SIZE}], got {image_size}")
    names = list(skills) if skills is not None else default_skill_names()
    for name in names:
        SKILLS.get(name)  # raises naming the registered skills
    return names


def iter_scene_samples(
    num_scenes: int,
    seed: int,
    env_type: str = "tabletop_pick",
    image_size: int = 128,
    skills: Sequence[str] | None = None,
    max_per_scene: int | None = None,
    free_fovy_deg: float = FREE_FOVY_DEG,
) -> Iterator[tuple[SceneBundle, list[SpatialSample]]]:
    """``(scene, samples)`` per scene; a scene is released (no more renders) once the loop moves on.

    ``max_per_scene`` overrides every skill's own cap on questions per scene (more questions per render is the
    cheap way to a large single-skill set). Arguments are checked (and the env built) when this is called, not at
    the first iteration, so a bad skill name raises here. ``free_fovy_deg`` is the vertical field of view of the
    skills' free cameras (a narrower one makes the objects larger in the image; questions state each image's fov).
    """
    names = _check_args(num_scenes, seed, image_size, skills, max_per_scene)
    if not 5.0 <= free_fovy_deg <= 120.0:
        raise ValueError(f"free_fovy_deg must be in [5, 120] degrees, got {free_fovy_deg}")
    env = shared_env(env_type)
    return _scenes(env, names, num_scenes, seed, env_type, image_size, max_per_scene, free_fovy_deg)


def _scenes(env: Any, names: list[str], num_scenes: int, seed: int, env_type: str, image_size: int,
            max_per_scene: int | None, free_fovy_deg: float = FREE_FOVY_DEG,
            ) -> Iterator[tuple[SceneBundle, list[SpatialSample]]]:
    table, table_geoms = _table(env)
    balancer = AnswerBalancer()
    for index in range(num_scenes):
        scene_seed = seed + index
        prepare_scene(env, scene_seed)
        scene = SceneBundle(env.unwrapped.scene_ground_truth(), env, image_size, seed, index, scene_seed,
                            env_type, balancer, table, table_geoms, free_fovy_deg)
        samples: list[SpatialSample] = []
        for name in names:
            produced = SKILLS.get(name).generate(scene, skill_rng(seed, index, name), max_per_scene)
            if not produced:
                logger.debug("skill %s produced nothing for scene %d (seed %d)", name, index, scene_seed)
            samples.extend(produced)
        try:
            yield scene, samples
        finally:
            scene.release()


def generate_dataset(
    num_scenes: int,
    seed: int,
    env_type: str = "tabletop_pick",
    image_size: int = 128,
    skills: Sequence[str] | None = None,
    max_per_scene: int | None = None,
    free_fovy_deg: float = FREE_FOVY_DEG,
) -> list[SpatialSample]:
    """VST-style spatial QA samples about ``num_scenes`` scenes (``env.reset(seed=seed + i)``).

    Args:
        num_scenes: how many scenes.
        seed: the run's seed; the same seed (and arguments) gives byte-identical samples.
        env_type: a registered vst_envs config type ("tabletop_pick"; "lift" has one cube, so few skills apply).
        image_size: square render size in pixels (at most 480).
        skills: skill names to run (default: every skill of the default mix, see :func:`default_skill_names`).
        max_per_scene: questions per skill and scene, overriding each skill's own cap (default: keep them).
        free_fovy_deg: vertical field of view of the skills' free cameras (narrower: objects larger in the image).

    Returns:
        The samples, scene by scene and, within a scene, skill by skill.
    """
    scenes = iter_scene_samples(num_scenes, seed, env_type, image_size, skills, max_per_scene, free_fovy_deg)
    return [s for _, samples in scenes for s in samples]

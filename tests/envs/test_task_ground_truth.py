"""Ground-truth consistency of the vst_envs.tasks envs (stack, pick_place_can, door, nut_assembly_square), the
check tests/envs/test_scene.py makes for lift / tabletop_pick: a point known to lie on each object, projected
with the scene's camera model, lands on that object's pixels in a segmentation render of the same camera (the
env's agentview and one orbit view framing the task's table), and each object's box holds its geoms.

The probe point is the object's centre (``position_world``) where that lies on the object, and otherwise the
centre of one of its geoms: the square nut's ring centre is its hole and the door handle's body origin is its
pivot inside the door panel, so those use the nut's handle bar and the lever bar. One 96 px cheap-render env
per task (cheap_render keeps segmentation edges free of blended ids), built once for the module.
"""

from __future__ import annotations

import mujoco
import numpy as np
import pytest
from vst_envs import ENVS, make_env
from vst_envs.scene import BOX_CORNER_SIGNS, ObjectInfo, SceneGroundTruth, pixel_index, project
from vst_envs.views import ViewSpec, object_masks, render_segmentations

IMAGE_SIZE = 96
SEEDS = (0, 1)
# Probe geom (by name) of objects whose centre may not lie on them; the others use position_world.
PROBE_GEOMS: dict[str, dict[str, str]] = {
    "nut_assembly_square": {"square_nut": "SquareNut_g4_visual"},  # the handle bar
    "door": {"handle": "Door_handle_visual"},  # the lever bar
}
# One orbit view per task framing its table from a side where no object hides another: the door's lever
# faces world +y, so its view looks from +x/+y; the bins straddle y = 0 at x = 0.1.
ORBIT_VIEWS: dict[str, ViewSpec] = {
    "stack": ViewSpec(name="orbit", azimuth_deg=150.0, elevation_deg=-50.0, distance_m=1.3, lookat=(0.0, 0.0, 0.82)),
    "pick_place_can": ViewSpec(
        name="orbit", azimuth_deg=180.0, elevation_deg=-55.0, distance_m=1.7, lookat=(0.1, 0.0, 0.82)
    ),
    "door": ViewSpec(name="orbit", azimuth_deg=-120.0, elevation_deg=-30.0, distance_m=1.6, lookat=(-0.2, -0.35, 1.0)),
    "nut_assembly_square": ViewSpec(
        name="orbit", azimuth_deg=160.0, elevation_deg=-50.0, distance_m=1.3, lookat=(0.0, 0.0, 0.85)
    ),
}
TASKS = list(ORBIT_VIEWS)


@pytest.fixture(scope="module")
def task_env():
    """``task_env(name)``: the module's 96 px cheap-render agentview env of task ``name`` (built on first use)."""
    envs: dict[str, object] = {}

    def get(name: str):
        if name not in envs:
            envs[name] = make_env(ENVS.get(name)(image_size=IMAGE_SIZE, cheap_render=True))
        return envs[name]

    yield get
    for env in envs.values():
        env.close()


def _geom_id(model: mujoco.MjModel, obj: ObjectInfo, geom_name: str) -> int:
    gid = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_GEOM, geom_name)
    assert gid in obj.geom_ids, f"{geom_name!r} is not among {obj.name}'s geoms {obj.geom_ids}"
    return gid


def _probe_points(env, name: str, gt: SceneGroundTruth) -> dict[str, np.ndarray]:
    """World point (3,) on each object's surface or inside it, by object name."""
    model, data = env.unwrapped._mj()
    probes = PROBE_GEOMS.get(name, {})
    return {
        obj.name: (
            np.array(data.geom_xpos[_geom_id(model, obj, probes[obj.name])])
            if obj.name in probes
            else obj.position_world
        )
        for obj in gt.objects
    }


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("name", TASKS)
def test_projected_points_land_on_their_objects_in_segmentation(task_env, name: str, seed: int) -> None:
    env = task_env(name)
    env.reset(seed=seed)
    gt = env.unwrapped.scene_ground_truth()
    probes = _probe_points(env, name, gt)
    views = [ViewSpec(camera="agentview"), ORBIT_VIEWS[name]]
    renders = render_segmentations(env, views, IMAGE_SIZE)
    # The agentview render is the observation camera the ground truth describes.
    np.testing.assert_allclose(renders[0][1].world_from_camera, gt.cameras["agentview"].world_from_camera, atol=1e-5)
    np.testing.assert_allclose(renders[0][1].intrinsics, gt.cameras["agentview"].intrinsics, atol=1e-4)
    checked: dict[str, list[str]] = {obj.name: [] for obj in gt.objects}
    for seg, camera in renders:
        masks = object_masks(seg, gt.objects)
        for obj in gt.objects:
            pixel, depth = project(probes[obj.name], camera)
            row, col = pixel_index(pixel)
            if depth <= 0 or not (0 <= row < camera.height and 0 <= col < camera.width):
                continue  # out of this camera's frame (e.g. the door's lever from agentview)
            window = masks[obj.name][max(row - 1, 0) : row + 2, max(col - 1, 0) : col + 2]
            assert window.any(), (
                f"{name} seed {seed}: {obj.name}'s point misses its mask in {camera.name} at {(row, col)}: "
                f"seen geom {seg[row, col]}, the object's geoms {obj.geom_ids}, mask size {masks[obj.name].sum()}"
            )
            assert masks[obj.name].sum() >= 4, (name, camera.name, obj.name)
            checked[obj.name].append(camera.name)
    # Not vacuous: every object was checked in some view, and the orbit view frames all of them.
    assert all(checked.values()), checked
    assert all("orbit" in cams for cams in checked.values()), checked


@pytest.mark.parametrize("name", TASKS)
def test_boxes_hold_their_objects_geoms(task_env, name: str) -> None:
    env = task_env(name)
    for seed in SEEDS:
        env.reset(seed=seed)
        # A few steps under gravity and noise, so objects move and turn (boxes must follow in the world frame).
        for _ in range(3):
            env.step(env.action_space.sample())
        model, data = env.unwrapped._mj()
        for obj in env.unwrapped.scene_ground_truth().objects:
            corners = obj.box_corners_world
            # Corner order is BOX_CORNER_SIGNS (x slowest): corners 4, 2, 1 are corner 0 moved along x, y, z.
            edges = corners[[4, 2, 1]] - corners[0]
            lengths = np.linalg.norm(edges, axis=1)
            np.testing.assert_allclose(lengths, obj.box_size, atol=1e-9)
            # Collision geoms make the physical extent; visual-only ones may be decorative (the bins' legs).
            solid = [g for g in obj.geom_ids if model.geom_contype[g] or model.geom_conaffinity[g]]
            assert solid, (name, obj.name)
            axes = edges / lengths[:, None]
            local = (data.geom_xpos[solid] - corners[0]) @ axes.T
            assert np.all(local >= -0.01) and np.all(local <= lengths + 0.01), (
                f"{name} seed {seed}: {obj.name}'s geom centres {local} fall outside its box {lengths}"
            )
            # The geoms' own extents too (MuJoCo's per-geom boxes, turned with the geoms): a box left in the
            # wrong frame (e.g. world-aligned for the turned nut) cuts them off.
            for g in solid:
                in_geom = model.geom_aabb[g, :3] + BOX_CORNER_SIGNS * model.geom_aabb[g, 3:]
                extent = data.geom_xpos[g] + in_geom @ data.geom_xmat[g].reshape(3, 3).T
                local = (extent - corners[0]) @ axes.T
                assert np.all(local >= -0.01) and np.all(local <= lengths + 0.01), (
                    f"{name} seed {seed}: geom {g} of {obj.name} sticks out of its box: {local} vs {lengths}"
                )
            # Every geom of the object's body is listed (visual ones too: they are what segmentation reports).
            body = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_BODY, obj.body_name)
            body_geoms = set(np.flatnonzero(np.asarray(model.geom_bodyid) == body).tolist())
            assert body_geoms <= set(obj.geom_ids) and set(obj.geom_ids) - set(solid), (name, obj.name)

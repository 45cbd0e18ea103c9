"""Tests of the scene ground truth (cameras, projections, object boxes) and of extra-viewpoint rendering."""

from __future__ import annotations

import numpy as np
import pytest
from vst_envs import LiftEnvConfig, make_env
from vst_envs.scene import (
    BOX_CORNER_SIGNS,
    CameraInfo,
    intrinsics_from_fovy,
    pixel_index,
    project,
    to_camera_frame,
)
from vst_envs.views import (
    ViewSpec,
    object_masks,
    orbit_views,
    render_segmentations,
    render_views,
)

# Views in front of the table (the agentview side), where the robot never hides a cube.
FRONT_VIEWS = [ViewSpec(camera="agentview"), *orbit_views(2, elevation_deg=-50.0, start_azimuth_deg=150, span_deg=60)]


def _camera(pose: np.ndarray, size: int = 100, fovy_deg: float = 60.0) -> CameraInfo:
    return CameraInfo("synthetic", size, size, intrinsics_from_fovy(fovy_deg, size, size), pose, fovy_deg)


# --- pure geometry -------------------------------------------------------------------------------------------


def test_projection_conventions_on_a_synthetic_camera() -> None:
    # A camera at the origin looking along world +x with world z up: OpenCV x (right) = -y, y (down) = -z.
    pose = np.eye(4)
    pose[:3, :3] = np.stack([[0.0, -1.0, 0.0], [0.0, 0.0, -1.0], [1.0, 0.0, 0.0]], axis=1)
    cam = _camera(pose)
    points = np.array([[2.0, 0.0, 0.0], [2.0, -0.5, 0.0], [2.0, 0.0, 0.5]])
    np.testing.assert_allclose(to_camera_frame(points, cam), [[0, 0, 2], [0.5, 0, 2], [0, -0.5, 2]], atol=1e-12)
    pixels, depth = project(points, cam)
    np.testing.assert_allclose(depth, [2.0, 2.0, 2.0])
    np.testing.assert_allclose(pixels[0], [50.0, 50.0])  # the optical axis hits the image centre
    assert pixels[1, 0] > 50 and pixels[1, 1] == pytest.approx(50)  # world -y is image right
    assert pixels[2, 1] < 50  # world up is image up
    # The centre (50.0, 50.0) is the corner between pixels; floor picks row 50, column 50.
    np.testing.assert_array_equal(pixel_index(np.array([[50.0, 50.0], [0.2, 99.9]])), [[50, 50], [99, 0]])
    single_px, single_depth = project(points[0], cam)
    assert single_px.shape == (2,) and np.ndim(single_depth) == 0
    np.testing.assert_allclose(cam.camera_from_world @ cam.world_from_camera, np.eye(4), atol=1e-12)


# --- ground truth of a real scene ----------------------------------------------------------------------------


def test_ground_truth_objects_are_consistent_boxes(tabletop_env) -> None:
    tabletop_env.reset(seed=0)
    gt = tabletop_env.unwrapped.scene_ground_truth()
    assert len(gt.objects) == 4 and gt.table_height == pytest.approx(0.8)
    state = tabletop_env.unwrapped.privileged_state()
    np.testing.assert_allclose(gt.robot_eef_pos, state["eef_pos"], atol=1e-6)
    for obj in gt.objects:
        np.testing.assert_allclose(obj.box_size, [0.04, 0.04, 0.04])
        assert obj.box_corners_world.shape == (8, 3)
        np.testing.assert_allclose(obj.box_corners_world.mean(axis=0), obj.position_world, atol=1e-9)
        # Resting on the table: the lowest corners touch the table top.
        assert obj.box_corners_world[:, 2].min() == pytest.approx(gt.table_height, abs=2e-3)
        assert np.linalg.norm(obj.quat_world) == pytest.approx(1.0)
        # Corners follow BOX_CORNER_SIGNS: opposite corners are a full diagonal apart.
        assert np.linalg.norm(obj.box_corners_world[0] - obj.box_corners_world[7]) == pytest.approx(0.04 * 3**0.5)
        assert obj.geom_ids and obj.color_name in obj.to_dict()["color_name"]
    assert BOX_CORNER_SIGNS.shape == (8, 3)
    assert gt.object(gt.target_name).name == gt.target_name
    with pytest.raises(KeyError, match="cube0"):
        gt.object("nope")


def test_agentview_view_matches_the_observation_and_its_camera(tabletop_env) -> None:
    obs, _ = tabletop_env.reset(seed=1)
    gt = tabletop_env.unwrapped.scene_ground_truth()
    size = tabletop_env.unwrapped.config.image_size
    [(image, camera)] = render_views(tabletop_env, [ViewSpec(camera="agentview")], size)
    np.testing.assert_array_equal(image, obs["pixels"]["agentview"])
    reference = gt.cameras["agentview"]
    np.testing.assert_allclose(camera.intrinsics, reference.intrinsics, atol=1e-4)
    np.testing.assert_allclose(camera.world_from_camera, reference.world_from_camera, atol=1e-5)
    assert camera.fovy_deg == pytest.approx(45.0, abs=1e-3)


@pytest.mark.parametrize("seed", [0, 2])
def test_projected_centres_land_on_their_objects_in_segmentation(tabletop_env, seed: int) -> None:
    tabletop_env.reset(seed=seed)
    gt = tabletop_env.unwrapped.scene_ground_truth()
    renders = render_segmentations(tabletop_env, FRONT_VIEWS, tabletop_env.unwrapped.config.image_size)
    for seg, camera in renders:
        masks = object_masks(seg, gt.objects)
        for obj in gt.objects:
            pixel, depth = project(obj.position_world, camera)
            row, col = pixel_index(pixel)
            assert depth > 0 and 0 <= row < camera.height and 0 <= col < camera.width, (camera.name, obj.name)
            assert masks[obj.name][row, col], f"{obj.name} centre misses its mask in {camera.name}"
            assert masks[obj.name].sum() >= 4, (camera.name, obj.name)


def _hue_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Distance between two RGB colours with brightness divided out."""
    return float(np.linalg.norm(a / max(a.max(), 1e-6) - b / max(b.max(), 1e-6)))


def test_projected_centres_have_the_object_colour(tabletop_env) -> None:
    obs, _ = tabletop_env.reset(seed=0)
    gt = tabletop_env.unwrapped.scene_ground_truth()
    image = obs["pixels"]["agentview"].astype(np.float64) / 255.0
    for obj in gt.objects:
        row, col = pixel_index(gt.project(obj.position_world, "agentview")[0])
        seen = image[row, col]
        # Lighting scales brightness; the hue must match: the seen colour is closest to this object's colour.
        distances = {o.name: _hue_distance(seen, np.array(o.color_rgb)) for o in gt.objects}
        assert min(distances, key=distances.get) == obj.name, (obj.color_name, seen)


def test_orbit_views_change_the_viewpoint_but_not_the_env(tabletop_env) -> None:
    obs, _ = tabletop_env.reset(seed=3)
    step_plain = tabletop_env.step(np.zeros(7))[0]
    tabletop_env.reset(seed=3)
    views = orbit_views(3, elevation_deg=-40.0, fovy_deg=50.0)
    renders = render_views(tabletop_env, views, (48, 32))
    step_after_views = tabletop_env.step(np.zeros(7))[0]
    np.testing.assert_array_equal(step_after_views["pixels"]["agentview"], step_plain["pixels"]["agentview"])
    np.testing.assert_array_equal(step_after_views["agent_pos"], step_plain["agent_pos"])
    for (image, camera), view in zip(renders, views):
        assert image.shape == (32, 48, 3) and image.dtype == np.uint8
        assert camera.name == view.name and camera.fovy_deg == pytest.approx(50.0, abs=1e-3)
        # The free camera sits distance_m from its look-at point and looks at it.
        lookat = np.array(view.lookat)
        assert np.linalg.norm(camera.position - lookat) == pytest.approx(view.distance_m, abs=1e-5)
        np.testing.assert_allclose(project(lookat, camera)[0], [24.0, 16.0], atol=1e-6)
    assert not np.array_equal(renders[0][0], renders[1][0])
    with pytest.raises(ValueError, match="at most"):
        render_views(tabletop_env, views[:1], 4096)


def test_lift_ground_truth_and_views_without_env_cameras() -> None:
    # A camera-free env has no GL context of its own: the view renderer makes one.
    env = make_env(LiftEnvConfig(cameras=(), max_episode_steps=5))
    try:
        env.reset(seed=0)
        gt = env.unwrapped.scene_ground_truth()
        [cube] = gt.objects
        assert (cube.name, cube.color_name) == ("cube", "red") and gt.target_name is None
        np.testing.assert_allclose(cube.position_world, env.unwrapped.privileged_state()["cube_pos"], atol=1e-9)
        assert set(gt.cameras) == {"agentview"}
        [(seg, camera)] = render_segmentations(env, [ViewSpec(camera="agentview")], 64)
        row, col = pixel_index(project(cube.position_world, camera)[0])
        assert seg[row, col] in cube.geom_ids
    finally:
        env.close()

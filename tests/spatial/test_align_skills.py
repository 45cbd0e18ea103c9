"""The alignment captions (vst_vla.spatial.engine.align) say what the scene's ground truth says."""

from __future__ import annotations

import numpy as np
import pytest
from vst_envs.scene import CameraInfo

from vst_vla.spatial.engine import default_skill_names, iter_scene_samples
from vst_vla.spatial.engine.align import ALIGN_SKILLS, GRID, grid_cell
from vst_vla.spatial.engine.geometry import depth, pixel


@pytest.fixture(scope="module")
def scenes():
    return [(scene.gt, samples) for scene, samples in iter_scene_samples(2, 7, image_size=96, skills=ALIGN_SKILLS)]


def _camera(query: dict) -> CameraInfo:
    cam = query["camera"]
    return CameraInfo(name=cam["name"], width=cam["width"], height=cam["height"],
                      intrinsics=np.array(cam["intrinsics"]), world_from_camera=np.array(cam["world_from_camera"]),
                      fovy_deg=0.0)  # not used by pixel() or depth()


def _cell(gt, name: str, camera: CameraInfo) -> str:
    column, row = grid_cell(camera.width, camera.height, pixel(gt.object(name).position_world, camera))
    return f"({column}, {row})"


def test_align_skills_are_asked_by_name_only() -> None:
    assert not set(ALIGN_SKILLS) & set(default_skill_names())


def test_grid_cells_number_from_one_at_the_top_left() -> None:
    assert grid_cell(128, 128, np.array([0.0, 0.0])) == (1, 1)
    assert grid_cell(128, 128, np.array([127.9, 127.9])) == (GRID, GRID)
    assert grid_cell(128, 128, np.array([16.0, 47.9])) == (2, 3)


def test_every_caption_agrees_with_the_scene(scenes) -> None:
    seen = set()
    for gt, samples in scenes:
        for s in samples:
            meta, skill = s.meta_info, s.meta_info["skill"]
            camera, names = _camera(meta["query"]), meta["query"]["objects"]
            objects = [gt.object(n) for n in names]
            if skill == "object_location":
                assert s.answer == _cell(gt, names[0], camera)
            elif skill == "scene_layout":
                columns = [pixel(o.position_world, camera)[0] for o in objects]
                assert columns == sorted(columns)  # left to right
                assert s.answer == "; ".join(f"{o.color_name} {o.category} {_cell(gt, o.name, camera)}"
                                             for o in objects)
            elif skill in ("object_inventory", "object_order"):
                phrases = [f"{o.color_name} {o.category}" for o in objects]
                if skill == "object_inventory":
                    assert phrases == sorted(phrases)  # alphabetical: what is there, not where
                else:
                    columns = [pixel(o.position_world, camera)[0] for o in objects]
                    assert columns == sorted(columns)  # left to right
                assert s.answer == ", ".join(phrases) and len(objects) >= 2
            else:
                depths = [depth(o.position_world, camera) for o in objects]
                assert depths == sorted(depths)  # nearest first
                assert s.answer == ", ".join(f"{o.color_name} {o.category}" for o in objects)
            assert meta["answer_kind"] == "text" and meta["ground_truth"] == s.answer
            seen.add(skill)
    assert seen == set(ALIGN_SKILLS)


def test_a_narrower_free_fovy_zooms_the_free_cameras_and_captions_stay_exact() -> None:
    """``--fovy``: the skills' free cameras render with it (focal length (H/2)/tan(fovy/2)), agentview keeps its
    own, and the captions still agree with the scene."""
    [(scene, samples)] = list(iter_scene_samples(1, 7, image_size=96, skills=["object_location"], max_per_scene=8,
                                                 free_fovy_deg=25.0))
    focal = {s.meta_info["query"]["camera"]["name"]: s.meta_info["query"]["camera"]["intrinsics"][1][1]
             for s in samples}
    free = [name for name in focal if name != "agentview"]
    assert free, "expected at least one free-camera view among 8 questions"
    for name in free:
        assert focal[name] == pytest.approx(48.0 / np.tan(np.radians(12.5)), rel=1e-3)
    for s in samples:
        camera, [name] = _camera(s.meta_info["query"]), s.meta_info["query"]["objects"]
        assert s.answer == _cell(scene.gt, name, camera)
    with pytest.raises(ValueError, match="free_fovy_deg"):
        iter_scene_samples(1, 7, free_fovy_deg=0.0)

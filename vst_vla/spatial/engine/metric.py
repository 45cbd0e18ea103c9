"""Metric measurement skills (VST-P single-image distance and size estimation): distance between two objects,
an object's size (longest side) and the gripper's height above the table.

Metric answers need the camera's intrinsics to be recoverable, so every question carries VST's FoV sentence
(section 3.1; see :func:`~vst_vla.spatial.engine.scene.fov_sentence`). Answers are metres rounded to
millimetres, and the ground truth is rounded identically so a perfect answer scores 1.
"""

from __future__ import annotations

import itertools

import numpy as np

from vst_vla.spatial.engine.base import (
    Draft,
    Skill,
    format_number,
    number_text,
    object_phrase,
    register_skill,
    vector,
)
from vst_vla.spatial.engine.geometry import camera_dict, centre_in_frame
from vst_vla.spatial.engine.scene import SceneBundle, fov_sentence, pick_view

# Below this, a distance would round to a handful of millimetres and MRA would punish any rounding.
MIN_DISTANCE_M = 0.05
TABLE_SIZE_SHARE = 0.3  # share of size questions about the table (the cubes all share one size)


@register_skill
class ObjectDistance(Skill):
    """Distance between the centres of two objects, metres."""

    name = "object_distance"
    family = "metric"
    answer_kind = "number"
    STEMS = (
        "What is the distance between the centres of {0} and {1}?",
        "How far apart are {0} and {1} (centre to centre)?",
        "Measure the straight-line distance from the centre of {0} to the centre of {1}.",
    )

    def draft(self, scene: SceneBundle, rng: np.random.Generator, taken: set[str]) -> Draft | None:
        view = pick_view(rng)
        pairs = [
            (a, b) for a, b in itertools.combinations(scene.visible_objects(view), 2)
            if f"{a.name}/{b.name}" not in taken
            and np.linalg.norm(a.position_world - b.position_world) >= MIN_DISTANCE_M
        ]
        if not pairs:
            return None
        a, b = pairs[int(rng.integers(len(pairs)))]
        key = f"{a.name}/{b.name}"
        if rng.random() < 0.5:  # which object is named first carries no information
            a, b = b, a
        camera = scene.view(view).camera
        text, value = format_number(float(np.linalg.norm(a.position_world - b.position_world)))
        fov, scale = fov_sentence(camera)
        template = self.pick_template(scene, rng)
        pa, pb = np.round(a.position_world, 3), np.round(b.position_world, 3)
        steps = [
            f"The centre of {object_phrase(a)} is at {vector(pa)} m in the world frame.",
            f"The centre of {object_phrase(b)} is at {vector(pb)} m.",
            f"The difference vector is {vector(pb - pa)} m.",
            f"Its length is the distance: about {text} m.",
        ]
        return Draft(
            key=key,
            images=[scene.png(view)],
            question=number_text(f"{fov} {self.STEMS[template].format(object_phrase(a), object_phrase(b))}", template),
            answer=text,
            ground_truth=value,
            template=template,
            query={"camera": camera_dict(camera), "view": view, "objects": [a.name, b.name], "fov_scale": scale},
            reasoning=steps,
        )


@register_skill
class ObjectSize(Skill):
    """Length of an object's longest side (a cube, or the table top), metres."""

    name = "object_size"
    family = "metric"
    answer_kind = "number"
    max_per_scene = 1
    STEMS = (
        "How long is the longest side of {0}?",
        "What is the largest dimension of {0}?",
        "Estimate the length of the longest edge of {0}.",
    )

    def draft(self, scene: SceneBundle, rng: np.random.Generator, taken: set[str]) -> Draft | None:
        view = pick_view(rng)
        visible = scene.visible_objects(view)
        if not visible or rng.random() < TABLE_SIZE_SHARE:
            obj = scene.table
            phrase = "the table top"
        else:
            obj = visible[int(rng.integers(len(visible)))]
            phrase = object_phrase(obj)
        camera = scene.view(view).camera
        text, value = format_number(float(np.max(obj.box_size)))
        fov, scale = fov_sentence(camera)
        template = self.pick_template(scene, rng)
        size = " x ".join(format_number(v)[0] for v in obj.box_size)
        steps = [f"{phrase.capitalize()} measures {size} m along its three axes.",
                 f"The largest of these is {text} m, so its longest side is about {text} m."]
        return Draft(
            key=obj.name,
            images=[scene.png(view)],
            question=number_text(f"{fov} {self.STEMS[template].format(phrase)}", template),
            answer=text,
            ground_truth=value,
            template=template,
            query={"camera": camera_dict(camera), "view": view, "object": obj.name, "fov_scale": scale},
            reasoning=steps,
        )


@register_skill
class GripperHeight(Skill):
    """Height of the robot's gripper (its grip point between the fingertips) above the table top, metres."""

    name = "gripper_height"
    family = "metric"
    answer_kind = "number"
    max_per_scene = 1
    STEMS = (
        "How high above the table top is the robot's gripper (the point between its fingertips)?",
        "What is the height of the gripper's fingertip centre above the table surface?",
        "Estimate the vertical distance from the table top up to the robot gripper's grasp point.",
    )

    def draft(self, scene: SceneBundle, rng: np.random.Generator, taken: set[str]) -> Draft | None:
        view = pick_view(rng)
        camera = scene.view(view).camera
        if not centre_in_frame(scene.gt.robot_eef_pos, camera, margin_px=4.0):
            return None
        text, value = format_number(float(scene.gt.robot_eef_pos[2] - scene.gt.table_height))
        fov, scale = fov_sentence(camera)
        template = self.pick_template(scene, rng)
        # The gripper's height is written as table + answer, so the arithmetic in the steps is exact.
        table = round(float(scene.gt.table_height), 3)
        grip = format_number(table + value)[0]
        steps = [f"The table top is at height {format_number(table)[0]} m.",
                 f"The gripper's grip point is at height about {grip} m.",
                 f"{grip} m - {format_number(table)[0]} m = {text} m, so the gripper is about {text} m above the "
                 "table top."]
        return Draft(
            key="gripper",
            images=[scene.png(view)],
            question=number_text(f"{fov} {self.STEMS[template]}", template),
            answer=text,
            ground_truth=value,
            template=template,
            query={"camera": camera_dict(camera), "view": view, "fov_scale": scale},
            reasoning=steps,
        )

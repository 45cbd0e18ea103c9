"""3D grounding skills (VST-P 3D object detection and 3D visual grounding): boxes in VST's 9-DoF camera-frame
format ``[x, y, z, x_size, y_size, z_size, pitch, yaw, roll]`` (see :mod:`vst_vla.spatial.boxes`).

Each box comes from the object's ground-truth corners moved into the render's OpenCV camera frame, written with
canonical Euler angles. The answer is a JSON list ``[{"bbox_3d": [...], "label": "red cube"}, ...]``, the
format the box reward and metrics parse; numbers are rounded (0.1 mm, 1e-4 x 180 deg) so a verbatim answer
scores IoU 1. Questions carry VST's FoV sentence, since a metric box is only defined given the intrinsics.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
from vst_envs.scene import CameraInfo, ObjectInfo

from vst_vla.spatial.engine.base import Draft, Skill, object_phrase, register_skill
from vst_vla.spatial.engine.geometry import box_in_camera, camera_dict
from vst_vla.spatial.engine.scene import SceneBundle, fov_sentence, pick_view

FORMAT_HINT = (
    'Output a JSON list of {"bbox_3d": [x, y, z, x_size, y_size, z_size, pitch, yaw, roll], "label": name} '
    "entries: the box centre and sizes in metres in the camera frame (x right, y down, z forward) and the "
    "rotation angles in units of 180 degrees."
)


def box_entry(obj: ObjectInfo, camera: CameraInfo) -> dict[str, Any]:
    """One answer entry: the object's rounded VST box in this camera and its label."""
    label = f"{obj.color_name} {obj.category}"
    values = box_in_camera(obj, camera, label).to_vst()
    rounded = [round(v, 4) + 0.0 for v in values]  # + 0.0 turns -0.0 into 0.0
    return {"bbox_3d": rounded, "label": label}


def _answer(entries: list[dict[str, Any]]) -> str:
    return json.dumps(entries)


def _number(value: float) -> str:
    return f"{value:.4f}".rstrip("0").rstrip(".")


def box_step(entry: dict[str, Any]) -> str:
    """One reasoning sentence: a box's centre, size and yaw, with the answer's rounding."""
    x, y, z, sx, sy, sz, _, yaw, _ = entry["bbox_3d"]
    return (f"The {entry['label']}'s centre is at ({_number(x)}, {_number(y)}, {_number(z)}) m in the camera frame, "
            f"its size is {_number(sx)} x {_number(sy)} x {_number(sz)} m and its yaw is {_number(yaw)} x 180 deg.")


@register_skill
class Box3DDetection(Skill):
    """Detect every cube: one box per cube, listed left to right in the image."""

    name = "box3d_detection"
    family = "grounding_3d"
    answer_kind = "boxes"
    max_per_scene = 1
    STEMS = (
        "Detect all cubes in the image and give their 3D bounding boxes.",
        "Find every cube on the table and output a 3D bounding box for each.",
        "Locate each cube in 3D.",
    )

    def draft(self, scene: SceneBundle, rng: np.random.Generator, taken: set[str]) -> Draft | None:
        view = pick_view(rng)
        cubes = [o for o in scene.gt.objects if o.category == "cube"]
        # Every cube must be seen: a hidden cube missing from the answer would teach the model to miss it.
        if not cubes or any(not scene.object_visible(o, view) for o in cubes):
            return None
        camera = scene.view(view).camera
        entries = sorted((box_entry(o, camera) for o in cubes), key=lambda e: e["bbox_3d"][0])
        fov, scale = fov_sentence(camera)
        template = self.pick_template(scene, rng)
        labels = ", ".join(e["label"] for e in entries)
        boxes = [box_step(e) for e in entries]
        per_step = -(-len(boxes) // 4)  # at most 5 steps in all, whatever the cube count
        steps = [f"There are {len(entries)} cubes in view; one box each, listed left to right: {labels}.",
                 *(" ".join(boxes[i:i + per_step]) for i in range(0, len(boxes), per_step))]
        return Draft(
            key=view,
            images=[scene.png(view)],
            question=f"{fov} {self.STEMS[template]} {FORMAT_HINT}",
            answer=_answer(entries),
            ground_truth=entries,
            template=template,
            query={"camera": camera_dict(camera), "view": view, "objects": [o.name for o in cubes],
                   "fov_scale": scale},
            reasoning=steps,
        )


@register_skill
class Box3DGrounding(Skill):
    """Ground one named cube: its single 3D box."""

    name = "box3d_grounding"
    family = "grounding_3d"
    answer_kind = "boxes"
    STEMS = (
        "Give the 3D bounding box of {0}.",
        "Where is {0} in 3D? Output its bounding box.",
        "Locate {0} and output its 3D bounding box.",
    )

    def draft(self, scene: SceneBundle, rng: np.random.Generator, taken: set[str]) -> Draft | None:
        view = pick_view(rng)
        candidates = [o for o in scene.visible_objects(view) if o.name not in taken]
        if not candidates:
            return None
        obj = candidates[int(rng.integers(len(candidates)))]
        camera = scene.view(view).camera
        entries = [box_entry(obj, camera)]
        fov, scale = fov_sentence(camera)
        template = self.pick_template(scene, rng)
        steps = [f"{object_phrase(obj).capitalize()} is in view.", box_step(entries[0]),
                 "Its 3D bounding box is therefore the answer below."]
        return Draft(
            key=obj.name,
            images=[scene.png(view)],
            question=f"{fov} {self.STEMS[template].format(object_phrase(obj))} {FORMAT_HINT}",
            answer=_answer(entries),
            ground_truth=entries,
            template=template,
            query={"camera": camera_dict(camera), "view": view, "objects": [obj.name], "fov_scale": scale},
            reasoning=steps,
        )

"""The spatial QA engine: VST-P-style questions (Yang et al. 2025, section 3) generated from simulator scenes.

Skill families, one module each (``SKILLS.names()`` lists them all):

* :mod:`.depth` -- depth_order_points, closer_object, point_depth (single image)
* :mod:`.metric` -- object_distance, object_size, gripper_height (single image, metres, FoV prompt)
* :mod:`.boxes3d` -- box3d_detection, box3d_grounding (single image, VST 9-DoF camera-frame boxes)
* :mod:`.relation` -- left_right, relative_direction (single image)
* :mod:`.robot` -- gripper_above_below, approach_direction, closest_to_robot (single image)
* :mod:`.counting` -- count_objects (single image)
* :mod:`.multiview` -- camera_motion, point_correspondence, multiview_object_relation (multi image)
* :mod:`.video` -- appearance_order, video_count, video_camera_turn (video frames)
* :mod:`.align` -- object_inventory, object_order, object_location, scene_layout, depth_ranking (dense captions
  for the alignment stage; asked for by name only, not in the default mix)

Every answer is computed from the scene's ground truth (never from pixels) and stored with the entities it
refers to in ``meta_info["query"]``, so it can be re-derived. Entry points: :func:`generate_dataset` and
``python -m vst_vla.spatial.generate``.
"""

from vst_vla.spatial.engine import (  # noqa: F401
    align,
    boxes3d,
    counting,
    depth,
    metric,
    multiview,
    relation,
    robot,
    video,
)
from vst_vla.spatial.engine.base import (
    SKILLS,
    AnswerBalancer,
    Draft,
    Skill,
    default_skill_names,
    register_skill,
)
from vst_vla.spatial.engine.generator import (
    generate_dataset,
    iter_scene_samples,
    shared_env,
)
from vst_vla.spatial.engine.scene import SINGLE_VIEWS, SceneBundle

__all__ = [
    "SINGLE_VIEWS",
    "SKILLS",
    "AnswerBalancer",
    "Draft",
    "SceneBundle",
    "Skill",
    "default_skill_names",
    "generate_dataset",
    "iter_scene_samples",
    "register_skill",
    "shared_env",
]

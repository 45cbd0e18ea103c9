"""Counting skills (VST-P object counting): all cubes, cubes of a colour, and relational counts (cubes left of a
reference in the image, cubes closer to the camera than a reference).

Counts are over the scene's ground-truth objects; a view is used only when every object is visible in it, so
the count in the picture is the count in the scene. Relational counts skip references with any other cube
inside the margin, so each cube is clearly on one side.
"""

from __future__ import annotations

import numpy as np
from vst_envs.scene import CameraInfo, ObjectInfo

from vst_vla.spatial.engine.base import (
    Draft,
    Skill,
    metres,
    number_text,
    object_phrase,
    register_skill,
)
from vst_vla.spatial.engine.geometry import camera_dict, depth, pixel
from vst_vla.spatial.engine.scene import SceneBundle, pick_view

IMAGE_MARGIN_FRACTION = 0.04
DEPTH_MARGIN_M = 0.04
# Colour words a colour question may ask about (the tabletop palette), present or absent in the scene.
PALETTE = ("red", "green", "blue", "yellow", "purple", "orange")


@register_skill
class CountObjects(Skill):
    """How many cubes (of a colour / left of a cube / closer than a cube) are there?"""

    name = "count_objects"
    family = "counting"
    answer_kind = "number"
    STEMS = (
        "How many cubes are on the table?",
        "How many {0} cubes are there in the image?",
        "How many cubes appear to the left of {0} in the image?",
        "How many cubes are closer to the camera than {0}?",
    )
    num_templates = 4

    def draft(self, scene: SceneBundle, rng: np.random.Generator, taken: set[str]) -> Draft | None:
        view = pick_view(rng)
        objects = scene.gt.objects
        if not objects or len(scene.visible_objects(view)) != len(objects):
            return None
        camera = scene.view(view).camera
        measures = {2: self._clear_references(objects, camera, image=True),
                    3: self._clear_references(objects, camera, image=False)}
        feasible = [t for t in range(self.num_templates)
                    if f"{view}/{t}" not in taken and (t < 2 or measures[t][0])]
        if not feasible:
            return None
        template = self.pick_template(scene, rng, feasible)
        query: dict = {"camera": camera_dict(camera), "view": view, "form": template}
        seen = f"The cubes in view are: {listing(objects)}."
        if template == 0:
            count, stem = len(objects), self.STEMS[0]
            steps = [seen, f"That makes {count} cubes on the table."]
        elif template == 1:
            present = sorted({o.color_name for o in objects})
            absent = [c for c in PALETTE if c not in present]
            # Half the colour questions ask about an absent colour (answer 0), so "1" is not a free guess.
            ask_present = not absent or scene.balancer.pick(f"{self.name}/colour_present", [True, False], rng)
            pool = present if ask_present else absent
            color = pool[int(rng.integers(len(pool)))]
            count = sum(o.color_name == color for o in objects)
            stem = self.STEMS[1].format(color)
            query["color"] = color
            matching = [o for o in objects if o.color_name == color]
            steps = [seen, f"The {color} ones among them: {listing(matching)}.",
                     f"So there {'is' if count == 1 else 'are'} {count} {color} cube{'' if count == 1 else 's'}."]
        else:
            clear, values = measures[template]
            ref = clear[int(rng.integers(len(clear)))]
            count = sum(values[p.name] < values[ref.name] for p in objects if p is not ref)
            stem = self.STEMS[template].format(object_phrase(ref))
            query["objects"] = [ref.name]
            show = (lambda v: f"column {v:.0f} px") if template == 2 else (lambda v: f"depth {metres(v)}")
            below = [p for p in objects if p is not ref and values[p.name] < values[ref.name]]
            word = "left of" if template == 2 else "closer than"
            rest = ", ".join(f"{object_phrase(p)} ({show(values[p.name])})" for p in objects if p is not ref)
            steps = [
                f"{object_phrase(ref).capitalize()} is at {show(values[ref.name])}.",
                f"The other cubes: {rest}.",
                f"The cubes {word} it: {listing(below)}.",
                f"So the count is {count}.",
            ]
        return Draft(
            key=f"{view}/{template}",
            images=[scene.png(view)],
            question=number_text(stem, template, count=True),
            answer=str(count),
            ground_truth=count,
            template=template,
            query=query,
            reasoning=steps,
        )

    @staticmethod
    def _clear_references(objects: list[ObjectInfo], camera: CameraInfo, image: bool) -> tuple[list, dict]:
        """Cubes no other cube comes within the margin of (image x or depth), and every cube's value."""
        if image:
            values = {o.name: float(pixel(o.position_world, camera)[0]) for o in objects}
            margin = IMAGE_MARGIN_FRACTION * camera.width
        else:
            values = {o.name: depth(o.position_world, camera) for o in objects}
            margin = DEPTH_MARGIN_M
        clear = [o for o in objects
                 if all(abs(values[o.name] - values[p.name]) >= margin for p in objects if p is not o)]
        return clear, values


def listing(objects: list[ObjectInfo]) -> str:
    """ "the red cube, the blue cube", or "none" for reasoning sentences."""
    return ", ".join(object_phrase(o) for o in objects) or "none"

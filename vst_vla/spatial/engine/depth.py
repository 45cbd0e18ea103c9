"""Depth skills (VST-P single-image depth perception): marked-point depth order, which object is closer to the
camera, and the metric depth of a marked point.

Depth is the camera-frame z of a point (distance along the optical axis), computed from ground truth. Order
questions require a clear gap (:data:`DEPTH_MARGIN_M` and :data:`DEPTH_MARGIN_REL`) so the answer is never a
coin flip at image resolution.
"""

from __future__ import annotations

import itertools

import numpy as np

from vst_vla.spatial.engine.base import (
    LETTERS,
    Draft,
    Skill,
    choice_draft,
    choice_text,
    conclusion,
    distinguishing_names,
    format_number,
    marked_order,
    number_text,
    object_phrase,
    register_skill,
    surface_phrase,
    vector,
)
from vst_vla.spatial.engine.geometry import camera_dict, depth, pixel, to_camera_frame
from vst_vla.spatial.engine.marks import draw_markers, visible_points
from vst_vla.spatial.engine.scene import SceneBundle, fov_sentence, pick_view

DEPTH_MARGIN_M = 0.05
DEPTH_MARGIN_REL = 0.06
OBJECT_DEPTH_MARGIN_M = 0.04


def _clear_gap(a: float, b: float, absolute: float = DEPTH_MARGIN_M) -> bool:
    return abs(a - b) >= max(absolute, DEPTH_MARGIN_REL * min(a, b))


@register_skill
class DepthOrderPoints(Skill):
    """Two labelled points on the image: which is closer to (or farther from) the camera?"""

    name = "depth_order_points"
    family = "depth"
    answer_kind = "choice"
    STEMS = (
        "Two points are marked in the image with the labels 1 and 2. Which point is closer to the camera?",
        "Look at the marked points 1 and 2. Which of them is nearer to the viewer?",
        "Two points are marked in the image with the labels 1 and 2. Which point is farther from the camera?",
    )

    def draft(self, scene: SceneBundle, rng: np.random.Generator, taken: set[str]) -> Draft | None:
        view = pick_view(rng)
        points = visible_points(scene, rng, [view], count=2, min_separation_px=14.0)
        if len(points) < 2:
            return None
        camera = scene.view(view).camera
        depths = [depth(p.position, camera) for p in points]
        if not _clear_gap(*depths):
            return None
        template = self.pick_template(scene, rng)
        relation = "farther" if template == 2 else "closer"
        target = int(np.argmax(depths) if relation == "farther" else np.argmin(depths))
        # Which label the answer carries is balanced, so "1" is not more often the answer than "2".
        answer_label = scene.balancer.pick(f"{self.name}/answer_label", ["1", "2"], rng)
        labels = [answer_label if i == target else ("2" if answer_label == "1" else "1") for i in range(2)]
        options, letter = self.arrange(scene, rng, answer_label, ["2" if answer_label == "1" else "1"])
        near_to_far = [label for _, label in sorted(zip(depths, labels, strict=True))]
        steps = point_order_steps(near_to_far, relation, answer_label)
        steps.append(conclusion(letter, f"point {answer_label}"))
        image = draw_markers(scene.view(view).image,
                             [(pixel(p.position, camera), label) for p, label in zip(points, labels, strict=True)])
        return choice_draft(
            key=f"{view}/{points[0].position.round(4).tolist()}/{points[1].position.round(4).tolist()}",
            images=[image],
            stem=self.STEMS[template],
            options=options,
            letter=letter,
            template=template,
            option_text=lambda o: f"point {o}",
            query={"camera": camera_dict(camera), "view": view, "relation": relation,
                   "points": {label: p.position.tolist() for p, label in zip(points, labels, strict=True)},
                   "surfaces": {label: p.surface for p, label in zip(points, labels, strict=True)}},
            reasoning=steps,
        )


def point_order_steps(near_to_far: list[str], relation: str, answer_label: str) -> list[str]:
    """The reasoning of a depth_order_points answer before its conclusion: the marked points' labels from nearest
    to farthest, then the point the question asks for. closer_object's caption form (:func:`nearer_steps`) on
    labels instead of objects; no depths, which the image does not show to a model (experiments/perception)."""
    where = "closer to" if relation == "closer" else "farther from"
    return [f"From nearest to farthest: {', '.join(f'point {label}' for label in near_to_far)}.",
            f"So point {answer_label} is {where} the camera."]


@register_skill
class CloserObject(Skill):
    """Which of two named objects is closer to (or farther from) the camera?"""

    name = "closer_object"
    family = "depth"
    answer_kind = "choice"
    STEMS = (
        "Which object is closer to the camera: {0} or {1}?",
        "Between {0} and {1}, which one is nearer to the viewer?",
        "Which object is farther away from the camera: {0} or {1}?",
    )

    def draft(self, scene: SceneBundle, rng: np.random.Generator, taken: set[str]) -> Draft | None:
        view = pick_view(rng)
        camera = scene.view(view).camera
        visible = scene.visible_objects(view)
        pairs = [
            (a, b) for a, b in itertools.combinations(visible, 2)
            if f"{view}/{a.name}/{b.name}" not in taken
            and abs(depth(a.position_world, camera) - depth(b.position_world, camera)) >= OBJECT_DEPTH_MARGIN_M
        ]
        if not pairs:
            return None
        a, b = pairs[int(rng.integers(len(pairs)))]
        template = self.pick_template(scene, rng)
        relation = "farther" if template == 2 else "closer"
        da, db = depth(a.position_world, camera), depth(b.position_world, camera)
        correct, other = (a, b) if (da < db) == (relation == "closer") else (b, a)
        options, letter = self.arrange(scene, rng, correct, [other])
        phrases = [object_phrase(o) for o in options]
        ranked = sorted(visible, key=lambda o: depth(o.position_world, camera))
        names = dict(zip((o.name for o in ranked), distinguishing_names(ranked), strict=True))
        # The first object the question names is the subject: the stem lists the options in their order.
        steps = nearer_steps([names[o.name] for o in ranked], names[options[0].name], names[options[1].name],
                             phrases[0], phrases[1])
        steps.append(conclusion(letter, object_phrase(correct)))
        return Draft(
            key=f"{view}/{a.name}/{b.name}",
            images=[scene.png(view)],
            question=choice_text(self.STEMS[template].format(*phrases), [p.capitalize() for p in phrases], template),
            answer=letter,
            ground_truth=letter,
            template=template,
            query={"camera": camera_dict(camera), "view": view, "relation": relation, "objects": [a.name, b.name]},
            options={LETTERS[i]: o.name for i, o in enumerate(options)},
            reasoning=steps,
        )


def nearer_steps(order: list[str], subject: str, reference: str, subject_phrase: str,
                 reference_phrase: str) -> list[str]:
    """The reasoning of a closer_object answer before its conclusion, from the view's objects nearest to farthest
    (``order``, by :func:`distinguishing_names`): left_right's form (:func:`~.relation.left_right_steps`) along
    depth instead of across the image. The marked list (depth_ranking's caption, marked), the subject's mark
    restated, then which of the two is closer; the letter then depends on that and on whether the question asked
    for the closer or the farther one."""
    marked, mark = marked_order(order, subject, reference)
    relation = "closer" if mark == "first" else "farther"
    return [f"From nearest to farthest: {marked}.", f"Asked: {subject} {mark}.",
            f"So {subject_phrase} is {relation} than {reference_phrase}."]


@register_skill
class PointDepth(Skill):
    """Metric depth of one marked point (with VST's FoV prompt, since metric answers need the intrinsics)."""

    name = "point_depth"
    family = "depth"
    answer_kind = "number"
    STEMS = (
        "A point is marked with the label P. What is its depth, i.e. its distance from the camera along the "
        "viewing direction?",
        "How far from the camera is the point labelled P, measured along the camera's optical axis?",
        "Estimate the depth of the marked point P relative to the camera.",
    )

    def draft(self, scene: SceneBundle, rng: np.random.Generator, taken: set[str]) -> Draft | None:
        view = pick_view(rng)
        points = visible_points(scene, rng, [view], count=1)
        if not points:
            return None
        point = points[0]
        camera = scene.view(view).camera
        text, value = format_number(depth(point.position, camera))
        fov, scale = fov_sentence(camera)
        template = self.pick_template(scene, rng)
        steps = [
            f"Point P lies on {surface_phrase(scene, point.surface)} at world position {vector(point.position)} m.",
            f"In the camera frame (x right, y down, z forward) it is at "
            f"{vector(to_camera_frame(point.position, camera))} m.",
            f"Its depth is the camera-frame z, so the depth of P is about {text} m.",
        ]
        return Draft(
            key=f"{view}/{point.position.round(4).tolist()}",
            images=[draw_markers(scene.view(view).image, [(pixel(point.position, camera), "P")])],
            question=number_text(f"{fov} {self.STEMS[template]}", template),
            answer=text,
            ground_truth=value,
            template=template,
            query={"camera": camera_dict(camera), "view": view, "point": point.position.tolist(),
                   "surface": point.surface, "fov_scale": scale},
            reasoning=steps,
        )

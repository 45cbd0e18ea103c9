"""Multi-image skills (VST-P multi-view: camera motion, cross-view correspondence, cross-view object relations).

Each sample renders its own pair of free cameras around the table. Answers are computed from the *rendered*
cameras' exact poses (:class:`~vst_envs.scene.CameraInfo`), never from the parameters the views were designed
with, so a convention slip in view construction cannot leak into the labels.

* camera_motion: did the camera turn left / right (pure rotation about its position), move left / right or
  forward / backward (pure translation)?
* point_correspondence: which labelled point in image 2 is the 3D point marked P in image 1?
* multiview_object_relation: which image was taken closer to X / shows X left of Y / shows X nearer than Y?
"""

from __future__ import annotations

import math

import numpy as np
from vst_envs.views import ViewSpec

from vst_vla.spatial.engine.base import (
    LETTERS,
    Draft,
    Skill,
    choice_draft,
    choice_text,
    conclusion,
    distinguishing_names,
    marked_order,
    metres,
    object_phrase,
    register_skill,
    surface_phrase,
    vector,
)
from vst_vla.spatial.engine.geometry import (
    camera_dict,
    camera_forward,
    camera_right,
    depth,
    heading_turn_deg,
    pixel,
    view_looking,
)
from vst_vla.spatial.engine.marks import draw_markers, visible_points
from vst_vla.spatial.engine.scene import FREE_FOVY_DEG, SceneBundle

TURN_MARGIN_DEG = 8.0
MOVE_MARGIN_M = 0.05
CAMERA_DISTANCE_MARGIN_M = 0.05
IMAGE_MARGIN_FRACTION = 0.04
DEPTH_MARGIN_M = 0.04
CORRESPONDENCE_CANDIDATES = 4
POOL_SIZE = 6
POOL_STREAM = 7_002


def orbit_view(rng: np.random.Generator, name: str, azimuth_deg: float, distance_m: float | None = None) -> ViewSpec:
    """A free camera looking at (near) the table centre from ``azimuth_deg``, random elevation and distance."""
    lookat = (float(rng.uniform(-0.04, 0.06)), float(rng.uniform(-0.05, 0.05)), 0.8)
    return ViewSpec(name, azimuth_deg=float(azimuth_deg), elevation_deg=float(rng.uniform(-55.0, -35.0)),
                    distance_m=float(distance_m if distance_m is not None else rng.uniform(0.85, 1.05)),
                    lookat=lookat, fovy_deg=FREE_FOVY_DEG)


def view_pool(scene: SceneBundle) -> list[ViewSpec]:
    """The scene's shared multi-view viewpoints: :data:`POOL_SIZE` cameras spread over the front and sides.

    Skills pick pairs from this pool instead of designing fresh cameras, so pairs share renders (a render
    costs ~20 ms on CPU). Views are rendered only when a skill uses them.
    """
    def build() -> list[ViewSpec]:
        rng = np.random.default_rng([scene.scene_seed, POOL_STREAM])
        azimuths = np.linspace(105.0, 255.0, POOL_SIZE) + rng.uniform(-8.0, 8.0, size=POOL_SIZE)
        return [orbit_view(rng, f"pool{i}", az) for i, az in enumerate(azimuths)]

    return scene.cached("multiview_pool", build)


def pool_pair(
    scene: SceneBundle, rng: np.random.Generator, min_deg: float, max_deg: float
) -> tuple[ViewSpec, ViewSpec]:
    """Two pool views whose azimuths differ by ``min_deg`` to ``max_deg``, in random order."""
    pool = view_pool(scene)
    pairs = [(a, b) for a in pool for b in pool
             if a is not b and min_deg <= abs(a.azimuth_deg - b.azimuth_deg) <= max_deg]
    return pairs[int(rng.integers(len(pairs)))]


def _position(spec: ViewSpec) -> np.ndarray:
    az, el = math.radians(spec.azimuth_deg), math.radians(spec.elevation_deg)
    direction = np.array([math.cos(el) * math.cos(az), math.cos(el) * math.sin(az), math.sin(el)])
    return np.asarray(spec.lookat) - spec.distance_m * direction


def _option_draft(skill: Skill, scene: SceneBundle, rng: np.random.Generator, key: str, images: list[bytes],
                  stem: str, correct: str, others: list[str], template: int, query: dict,
                  steps: list[str]) -> Draft:
    options, letter = skill.arrange(scene, rng, correct, others)
    return choice_draft(key=key, images=images, stem=stem, options=options, letter=letter, template=template,
                        query=query, reasoning=[*steps, conclusion(letter, correct)])


@register_skill
class CameraMotion(Skill):
    """How did the camera move between two images: turn left / right, move left / right, forward / backward?"""

    name = "camera_motion"
    family = "multiview"
    sample_type = "multi_image"
    answer_kind = "choice"
    STEMS = (
        "The camera stayed in place between image 1 and image 2 but turned. Did it turn to the left or to the right?",
        "From image 1 to image 2 the camera moved sideways without turning. Did it move to its left or to its right?",
        "From image 1 to image 2 the camera moved along its viewing direction. Did it move forward (towards the "
        "scene) or backward?",
    )
    WORDS = (("left", "right"), ("left", "right"), ("forward", "backward"))

    def draft(self, scene: SceneBundle, rng: np.random.Generator, taken: set[str]) -> Draft | None:
        template = self.pick_template(scene, rng)
        wanted = scene.balancer.pick(f"{self.name}/{template}", list(self.WORDS[template]), rng)
        pool = view_pool(scene)
        first = pool[int(rng.integers(len(pool)))]
        sign = 1.0 if wanted in ("left", "forward") else -1.0
        if template == 0:  # pure rotation: same position, heading changes (CCW = left)
            heading = first.azimuth_deg + sign * rng.uniform(15.0, 30.0)
            looking = view_looking(_position(first), heading, first.elevation_deg, first.distance_m)
            second = ViewSpec("motion_2", **looking, fovy_deg=FREE_FOVY_DEG)
        elif template == 1:  # pure sideways translation: the look-at point shifts with the camera
            az = math.radians(first.azimuth_deg)
            left = np.array([-math.sin(az), math.cos(az), 0.0])
            lookat = tuple(float(x) for x in np.asarray(first.lookat) + sign * rng.uniform(0.08, 0.15) * left)
            second = ViewSpec("motion_2", azimuth_deg=first.azimuth_deg, elevation_deg=first.elevation_deg,
                              distance_m=first.distance_m, lookat=lookat, fovy_deg=FREE_FOVY_DEG)
        else:  # pure forward / backward translation: same look-at point, distance changes
            second = ViewSpec("motion_2", azimuth_deg=first.azimuth_deg, elevation_deg=first.elevation_deg,
                              distance_m=first.distance_m - sign * rng.uniform(0.12, 0.25), lookat=first.lookat,
                              fovy_deg=FREE_FOVY_DEG)
        cam1, cam2 = scene.view(first).camera, scene.view(second).camera
        truth = motion_answer(cam1, cam2, template)
        if truth is None:
            return None
        return _option_draft(
            self, scene, rng, f"{template}/{first}", [scene.png(first), scene.png(second)], self.STEMS[template],
            truth, [w for w in self.WORDS[template] if w != truth], template,
            {"cameras": [camera_dict(cam1), camera_dict(cam2)], "form": template}, motion_steps(cam1, cam2, template),
        )


def motion_answer(cam1, cam2, form: int) -> str | None:
    """The motion word from the two cameras' poses (None when the motion is within the margin)."""
    if form == 0:
        turn = heading_turn_deg(cam1, cam2)
        return None if abs(turn) < TURN_MARGIN_DEG else ("left" if turn > 0 else "right")
    delta = cam2.position - cam1.position
    along = float(delta @ (camera_right(cam1) if form == 1 else camera_forward(cam1)))
    if abs(along) < MOVE_MARGIN_M:
        return None
    if form == 1:
        return "right" if along > 0 else "left"
    return "forward" if along > 0 else "backward"


def motion_steps(cam1, cam2, form: int) -> list[str]:
    """Reasoning for :func:`motion_answer`: the heading change and the translation along the asked axis."""
    turn = heading_turn_deg(cam1, cam2)
    delta = cam2.position - cam1.position
    steps = [f"From image 1 to image 2 the camera's heading changes by {turn:+.1f} deg (positive is "
             f"counter-clockwise seen from above) and its position moves by {vector(delta)} m."]
    if form == 0:
        sense, side = ("counter-clockwise", "left") if turn > 0 else ("clockwise", "right")
        steps.append(f"It moves only {metres(np.linalg.norm(delta))} but turns {abs(turn):.1f} deg {sense}, i.e. to "
                     f"the {side}.")
        return steps
    if form == 1:
        axis, words = camera_right(cam1), ("right", "left")
    else:
        axis, words = camera_forward(cam1), ("forward", "backward")
    along = float(delta @ axis)
    steps.append(f"Along image 1's {'right' if form == 1 else 'viewing'} axis that is {along:+.2f} m, so the camera "
                 f"moved {words[0] if along > 0 else words[1]}.")
    return steps


@register_skill
class PointCorrespondence(Skill):
    """Which labelled point in image 2 is the same 3D point as the point P marked in image 1?"""

    name = "point_correspondence"
    family = "multiview"
    sample_type = "multi_image"
    answer_kind = "choice"
    STEMS = (
        "A point is marked P in image 1. Which of the labelled points in image 2 shows the same 3D point?",
        "Image 2 shows the same scene from another viewpoint. Which labelled point in it corresponds to point P "
        "in image 1?",
        "Find the point in image 2 that matches the marked point P of image 1.",
    )

    def draft(self, scene: SceneBundle, rng: np.random.Generator, taken: set[str]) -> Draft | None:
        first, second = pool_pair(scene, rng, 20.0, 70.0)
        query_points = visible_points(scene, rng, [first, second], count=1)
        if not query_points:
            return None
        target = query_points[0]
        cam1, cam2 = scene.view(first).camera, scene.view(second).camera
        target_px = pixel(target.position, cam2)
        distractors = [
            p for p in visible_points(scene, rng, [second], count=8)
            if np.linalg.norm(pixel(p.position, cam2) - target_px) >= 12.0
            and np.linalg.norm(p.position - target.position) >= 0.03
        ]
        chosen: list = []
        for p in distractors:  # keep the labels apart from each other too
            if all(np.linalg.norm(pixel(p.position, cam2) - pixel(q.position, cam2)) >= 12.0 for q in chosen):
                chosen.append(p)
        chosen = chosen[: CORRESPONDENCE_CANDIDATES - 1]
        if len(chosen) < 2:
            return None
        options, letter = self.arrange(scene, rng, target, chosen)
        image1 = draw_markers(scene.view(first).image, [(pixel(target.position, cam1), "P")])
        image2 = draw_markers(scene.view(second).image,
                              [(pixel(p.position, cam2), LETTERS[i]) for i, p in enumerate(options)])
        template = self.pick_template(scene, rng)
        u, v = pixel(target.position, cam2)
        steps = [
            f"Point P is the 3D point {vector(target.position)} m on {surface_phrase(scene, target.surface)}.",
            f"Projected into image 2 it lands at pixel ({u:.0f}, {v:.0f}).",
            f"Label {letter} is drawn there; every other label marks a point at least 3 cm away from P.",
            conclusion(letter, f"point {letter}"),
        ]
        return Draft(
            key=f"{target.position.round(4).tolist()}",
            images=[image1, image2],
            question=choice_text(self.STEMS[template], [f"Point {LETTERS[i]}" for i in range(len(options))], template),
            answer=letter,
            ground_truth=letter,
            template=template,
            query={"cameras": [camera_dict(cam1), camera_dict(cam2)], "point": target.position.tolist(),
                   "candidates": {LETTERS[i]: p.position.tolist() for i, p in enumerate(options)}},
            options={LETTERS[i]: p.surface for i, p in enumerate(options)},
            reasoning=steps,
        )


@register_skill
class MultiviewObjectRelation(Skill):
    """Relations that need both views: which image's camera is closer to X, which image shows X left of Y /
    X nearer than Y."""

    name = "multiview_object_relation"
    family = "multiview"
    sample_type = "multi_image"
    answer_kind = "choice"
    STEMS = (
        "Which of the two images was taken from a position closer to {0}?",
        "In which of the two images does {0} appear to the left of {1}?",
        "In which of the two images is {0} closer to the camera than {1}?",
    )

    def draft(self, scene: SceneBundle, rng: np.random.Generator, taken: set[str]) -> Draft | None:
        views = list(pool_pair(scene, rng, 55.0, 160.0))
        cams = [scene.view(v).camera for v in views]
        visible = [o for o in scene.gt.objects if all(scene.object_visible(o, v) for v in views)]
        candidates: dict[int, list] = {}  # form -> [(objects, index of the image that is the answer)]
        for a in visible:
            gap = [float(np.linalg.norm(c.position - a.position_world)) for c in cams]
            if abs(gap[0] - gap[1]) >= CAMERA_DISTANCE_MARGIN_M:
                candidates.setdefault(0, []).append(([a], int(np.argmin(gap))))
            for b in visible:
                if a is b:
                    continue
                for form in (1, 2):
                    which = relation_image(a.position_world, b.position_world, cams, form)
                    if which is not None:
                        candidates.setdefault(form, []).append(([a, b], which))
        if not candidates:
            return None
        template = self.pick_template(scene, rng, sorted(candidates))
        objects, which = candidates[template][int(rng.integers(len(candidates[template])))]
        # Balance "Image 1" vs "Image 2" by presenting the views in the order that makes the wanted one right.
        wanted = scene.balancer.pick(f"{self.name}/image", [0, 1], rng)
        order = [0, 1] if which == wanted else [1, 0]
        truth = f"image {wanted + 1}"
        return _option_draft(
            self, scene, rng, f"{template}/{[o.name for o in objects]}", [scene.png(views[i]) for i in order],
            self.STEMS[template].format(*(object_phrase(o) for o in objects)), truth,
            [f"image {2 - wanted}"], template,
            {"cameras": [camera_dict(cams[i]) for i in order], "objects": [o.name for o in objects], "form": template},
            relation_steps(scene, objects, [views[i] for i in order], template, wanted),
        )


def relation_steps(scene: SceneBundle, objects: list, views: list, form: int, answer: int) -> list[str]:
    """Reasoning for :class:`MultiviewObjectRelation`, over the images in presented order.

    The left-of and nearer-than forms reason in left_right's and closer_object's caption form, once per image: the
    image's objects from left to right (or nearest to farthest) with the two named ones marked in the order met,
    the subject's mark in each image, then the image where it comes first. The camera-distance form states the
    distances (an apparent-size difference of a few percent, not something a list can say)."""
    cams = [scene.view(v).camera for v in views]
    a = objects[0].position_world
    pa = object_phrase(objects[0])
    if form == 0:
        gaps = [float(np.linalg.norm(c.position - a)) for c in cams]
        steps = [f"The camera of image {i + 1} is {metres(g)} from {pa}." for i, g in enumerate(gaps)]
        return [*steps, f"{metres(gaps[answer])} < {metres(gaps[1 - answer])}, so image {answer + 1} was taken "
                        "closer."]
    shown = {o.name: o for v in views for o in scene.visible_objects(v)}
    names = dict(zip(shown, distinguishing_names(list(shown.values())), strict=True))
    subject, reference = names[objects[0].name], names[objects[1].name]
    key = (lambda o, c: pixel(o.position_world, c)[0]) if form == 1 else (lambda o, c: depth(o.position_world, c))
    axis = "from left to right" if form == 1 else "from nearest to farthest"
    steps, marks = [], []
    for i, (view, cam) in enumerate(zip(views, cams, strict=True)):
        order = [names[o.name] for o in sorted(scene.visible_objects(view), key=lambda o: key(o, cam))]
        marked, mark = marked_order(order, subject, reference)
        steps.append(f"Image {i + 1}, {axis}: {marked}.")
        marks.append(mark)
    relation = "to the left of" if form == 1 else "closer than"
    return [*steps, f"Asked: {subject} {marks[0]} in image 1, {marks[1]} in image 2.",
            f"So only image {answer + 1} shows {pa} {relation} {object_phrase(objects[1])}."]


def relation_image(a: np.ndarray, b: np.ndarray, cams: list, form: int) -> int | None:
    """Index of the only camera in which a is left of b (form 1) / nearer than b (form 2), with margins."""
    if form == 1:
        values = [float(pixel(a, c)[0] - pixel(b, c)[0]) for c in cams]
        margin = IMAGE_MARGIN_FRACTION * cams[0].width
    else:
        values = [depth(a, c) - depth(b, c) for c in cams]
        margin = DEPTH_MARGIN_M
    holds = [v <= -margin for v in values]
    fails = [v >= margin for v in values]
    if sum(holds) == 1 and sum(fails) == 1:
        return holds.index(True)
    return None

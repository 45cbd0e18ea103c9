"""Object-object relation skills (VST-P spatial relations): left / right in the image, and relative direction
from an imagined viewpoint ("standing at the red cube facing the green cube, where is the blue cube?").

Left / right is the *image's* (horizontal pixel coordinate of the object centres, with a margin). Relative
direction is metric and top-down: forward is the horizontal direction from the standing object to the facing
object, left is forward turned 90 deg counter-clockwise (world z up); the queried object must clear both axes
by :data:`DIRECTION_MARGIN_M`, so no answer sits on a quadrant boundary.
"""

from __future__ import annotations

import itertools

import numpy as np

from vst_vla.spatial.engine.base import (
    Draft,
    Skill,
    choice_draft,
    conclusion,
    distinguishing_names,
    marked_order,
    metres,
    object_phrase,
    register_skill,
)
from vst_vla.spatial.engine.geometry import camera_dict, pixel
from vst_vla.spatial.engine.scene import SceneBundle, pick_view

IMAGE_MARGIN_FRACTION = 0.04  # of the image width; 5 px at 128 px
DIRECTION_MARGIN_M = 0.025
QUADRANTS = ("front-left", "front-right", "back-left", "back-right")


@register_skill
class LeftRight(Skill):
    """Is X left or right of Y in the image (or: is X left of Y, yes / no)?"""

    name = "left_right"
    family = "relation"
    answer_kind = "choice"
    STEMS = (
        "In the image, is {0} to the left or to the right of {1}?",
        "From the camera's point of view, is {0} on the left side or the right side of {1}?",
        "In the image, is {0} to the left of {1}?",
    )

    def draft(self, scene: SceneBundle, rng: np.random.Generator, taken: set[str]) -> Draft | None:
        view = pick_view(rng)
        camera = scene.view(view).camera
        margin = IMAGE_MARGIN_FRACTION * camera.width
        u = {o.name: float(pixel(o.position_world, camera)[0]) for o in scene.visible_objects(view)}
        objects = {o.name: o for o in scene.gt.objects}
        pairs = [
            (a, b) for a, b in itertools.combinations(sorted(u), 2)
            if abs(u[a] - u[b]) >= margin and f"{view}/{a}/{b}" not in taken
        ]
        if not pairs:
            return None
        a, b = pairs[int(rng.integers(len(pairs)))]
        template = self.pick_template(scene, rng)
        # Balance the answer's content: order the pair so the subject is on the side the balancer asks for.
        form = "yes_no" if template == 2 else "left_right"
        values = ("yes", "no") if form == "yes_no" else ("left", "right")
        wanted = scene.balancer.pick(f"{self.name}/{form}", list(values), rng)
        subject_left = wanted in ("left", "yes")
        subject, reference = (a, b) if (u[a] < u[b]) == subject_left else (b, a)
        options, letter = self.arrange(scene, rng, wanted, [v for v in values if v != wanted])
        stem = self.STEMS[template].format(object_phrase(objects[subject]), object_phrase(objects[reference]))
        ordered = sorted(u, key=u.__getitem__)
        names = dict(zip(ordered, distinguishing_names([objects[name] for name in ordered]), strict=True))
        steps = left_right_steps([names[name] for name in ordered], names[subject], names[reference],
                                 object_phrase(objects[subject]), object_phrase(objects[reference]))
        steps.append(conclusion(letter, wanted))
        return choice_draft(
            key=f"{view}/{a}/{b}",
            images=[scene.png(view)],
            stem=stem,
            options=options,
            letter=letter,
            template=template,
            query={"camera": camera_dict(camera), "view": view, "objects": [subject, reference],
                   "form": form},
            reasoning=steps,
        )


def left_right_steps(order: list[str], subject: str, reference: str, subject_phrase: str,
                     reference_phrase: str) -> list[str]:
    """The reasoning of a left_right answer before its conclusion, from the view's objects left to right (``order``,
    by :func:`distinguishing_names`; ``subject`` and ``reference`` among them, the phrases the question used).

    Each word needs one lookup by content or one at a fixed distance, the only kind a small model learned to chain
    (experiments/perception, ``--reason restated``; a side read off where two names sit in a list stayed at
    chance). The list is object_order's caption with the two named objects marked in the order met ("purple,
    yellow first, blue second"), each mark needing only the question's names and whether a "first" was written.
    Then the subject is restated with its mark, copied from the list ("Asked: yellow first."), and the side
    follows from the word just before it.
    """
    marked, mark = marked_order(order, subject, reference)
    side = "left" if mark == "first" else "right"
    return [f"From left to right: {marked}.", f"Asked: {subject} {mark}.",
            f"So {subject_phrase} is to the {side} of {reference_phrase}."]


def offsets(stand: np.ndarray, face: np.ndarray, target: np.ndarray) -> tuple[float, float]:
    """``(ahead, leftward)`` metres of ``target`` for a viewer at ``stand`` facing ``face`` (horizontal plane)."""
    forward = (face - stand)[:2]
    forward = forward / np.linalg.norm(forward)
    left = np.array([-forward[1], forward[0]])
    rel = (target - stand)[:2]
    return float(rel @ forward), float(rel @ left)


def quadrant(stand: np.ndarray, face: np.ndarray, target: np.ndarray, margin: float = DIRECTION_MARGIN_M) -> str | None:
    """Quadrant of ``target`` for a viewer at ``stand`` facing ``face`` (horizontal plane), None if ambiguous."""
    ahead, leftward = offsets(stand, face, target)
    if abs(ahead) < margin or abs(leftward) < margin:
        return None
    return f"{'front' if ahead > 0 else 'back'}-{'left' if leftward > 0 else 'right'}"


@register_skill
class RelativeDirection(Skill):
    """Standing at A facing B, is C front-left / front-right / back-left / back-right?"""

    name = "relative_direction"
    family = "relation"
    answer_kind = "choice"
    STEMS = (
        "Imagine you are standing at {0} and facing {1}. Is {2} to your front-left, front-right, back-left "
        "or back-right?",
        "If you stood at the position of {0}, looking towards {1}, in which direction would {2} be?",
        "Viewed from {0} with {1} straight ahead, where is {2}?",
    )

    def draft(self, scene: SceneBundle, rng: np.random.Generator, taken: set[str]) -> Draft | None:
        view = pick_view(rng)
        visible = scene.visible_objects(view)
        by_quadrant: dict[str, list[tuple]] = {}
        for stand, face, target in itertools.permutations(visible, 3):
            key = f"{stand.name}/{face.name}/{target.name}"
            q = quadrant(stand.position_world, face.position_world, target.position_world)
            if q is not None and key not in taken:
                by_quadrant.setdefault(q, []).append((stand, face, target))
        if not by_quadrant:
            return None
        wanted = scene.balancer.pick(f"{self.name}/quadrant", sorted(by_quadrant, key=QUADRANTS.index), rng)
        triples = by_quadrant[wanted]
        stand, face, target = triples[int(rng.integers(len(triples)))]
        template = self.pick_template(scene, rng)
        options, letter = self.arrange(scene, rng, wanted, [q for q in QUADRANTS if q != wanted])
        stem = self.STEMS[template].format(object_phrase(stand), object_phrase(face), object_phrase(target))
        ahead, leftward = offsets(stand.position_world, face.position_world, target.position_world)
        steps = [
            f"Seen from above, forward is the direction from {object_phrase(stand)} to {object_phrase(face)}.",
            f"Relative to {object_phrase(stand)}, {object_phrase(target)} is {metres(abs(ahead))} "
            f"{'ahead' if ahead > 0 else 'behind'} and {metres(abs(leftward))} to the "
            f"{'left' if leftward > 0 else 'right'}.",
            f"So {object_phrase(target)} is to the {wanted}.",
            conclusion(letter, wanted),
        ]
        return choice_draft(
            key=f"{stand.name}/{face.name}/{target.name}",
            images=[scene.png(view)],
            stem=stem,
            options=options,
            letter=letter,
            template=template,
            query={"view": view, "objects": [stand.name, face.name, target.name]},
            reasoning=steps,
        )

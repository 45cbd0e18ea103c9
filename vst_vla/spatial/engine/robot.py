"""Robot-centric skills (VST-P spatial relations anchored on the embodiment): is the gripper above or below a
cube's top, from which side the gripper should approach a cube to keep clear of its nearest neighbour, and
which cube is closest to (or farthest from) the robot.

The robot's base frame is aligned with the world: the Panda faces +x, so its left is +y. Distances to the
robot are horizontal (xy) distances to its base, as in :mod:`vst_envs.relations`.
"""

from __future__ import annotations

import math

import numpy as np

from vst_vla.spatial.engine.base import (
    LETTERS,
    Draft,
    Skill,
    choice_draft,
    choice_text,
    conclusion,
    distinguishing_names,
    metres,
    object_phrase,
    register_skill,
    vector,
)
from vst_vla.spatial.engine.geometry import camera_dict, centre_in_frame, top_height
from vst_vla.spatial.engine.scene import SceneBundle, pick_view

HEIGHT_MARGIN_M = 0.008
ROBOT_DISTANCE_MARGIN_M = 0.03
NEIGHBOUR_MARGIN_M = 0.015
SECTOR_MARGIN_DEG = 10.0
# Approach sides in the robot's frame, by the heading (degrees, CCW from +x) of the side's outward normal.
SIDES = {"far": 0.0, "left": 90.0, "near": 180.0, "right": -90.0}
SIDE_TEXT = {
    "far": "from the far side (away from the robot)",
    "near": "from the near side (facing the robot)",
    "left": "from the robot's left",
    "right": "from the robot's right",
}
OPPOSITE = {"far": "near", "near": "far", "left": "right", "right": "left"}
# Where a neighbour lies, as reasoning words it.
NEIGHBOUR_TEXT = {
    "far": "on the far side of it (away from the robot)",
    "near": "on the near side of it (towards the robot)",
    "left": "to the robot's left of it",
    "right": "to the robot's right of it",
}


def side_of(delta_xy: np.ndarray, margin_deg: float = SECTOR_MARGIN_DEG) -> str | None:
    """Which side (robot frame) a horizontal offset points to, None within ``margin_deg`` of a sector boundary."""
    heading = math.degrees(math.atan2(float(delta_xy[1]), float(delta_xy[0])))
    for side, centre in SIDES.items():
        off = abs((heading - centre + 180.0) % 360.0 - 180.0)
        if off <= 45.0 - margin_deg:
            return side
    return None


@register_skill
class GripperAboveBelow(Skill):
    """Is the gripper higher or lower than a cube's top face (three framings with balanced answers)?"""

    name = "gripper_above_below"
    family = "robot"
    answer_kind = "choice"
    max_per_scene = 1
    STEMS = (
        "Is the robot's gripper above or below the top face of {0}?",
        "Is the top face of {0} higher or lower than the robot's gripper?",
        "Is the robot's gripper lower than the top face of {0}?",
    )
    # Per framing: the option words, and which one is true when the gripper is higher than the top face.
    FORMS = ((("above", "below"), "above"), (("higher", "lower"), "lower"), (("yes", "no"), "no"))

    def draft(self, scene: SceneBundle, rng: np.random.Generator, taken: set[str]) -> Draft | None:
        view = pick_view(rng)
        camera = scene.view(view).camera
        eef = scene.gt.robot_eef_pos
        if not centre_in_frame(eef, camera, margin_px=4.0):
            return None
        cubes = [o for o in scene.visible_objects(view) if abs(eef[2] - top_height(o)) >= HEIGHT_MARGIN_M]
        if not cubes:
            return None
        obj = cubes[int(rng.integers(len(cubes)))]
        gripper_higher = bool(eef[2] > top_height(obj))
        # Balance the displayed answer: choose a framing whose correct word is the one used least so far.
        truth = {t: (words[0] if (true_if_higher == words[0]) == gripper_higher else words[1])
                 for t, (words, true_if_higher) in enumerate(self.FORMS)}
        wanted_first = scene.balancer.pick(f"{self.name}/first_word", [True, False], rng)
        templates = [t for t, (words, _) in enumerate(self.FORMS) if (truth[t] == words[0]) == wanted_first]
        template = self.pick_template(scene, rng, templates)
        words = self.FORMS[template][0]
        options, letter = self.arrange(scene, rng, truth[template], [w for w in words if w != truth[template]])
        grip, top = metres(eef[2], 3), metres(top_height(obj), 3)
        steps = [
            f"The gripper's grip point is at height {grip}.",
            f"The top face of {object_phrase(obj)} is at height {top}.",
            f"{grip} {'>' if gripper_higher else '<'} {top}, so the gripper is "
            f"{'above' if gripper_higher else 'below'} the top face.",
            conclusion(letter, truth[template]),
        ]
        return choice_draft(
            key=obj.name,
            images=[scene.png(view)],
            stem=self.STEMS[template].format(object_phrase(obj)),
            options=options,
            letter=letter,
            template=template,
            query={"camera": camera_dict(camera), "view": view, "objects": [obj.name], "form": template},
            reasoning=steps,
        )


@register_skill
class ApproachDirection(Skill):
    """From which side should the gripper approach a cube to stay away from its nearest neighbour?"""

    name = "approach_direction"
    family = "robot"
    answer_kind = "choice"
    STEMS = (
        "The robot wants to grasp {0} without bumping into the cube nearest to it. From which side should the "
        "gripper approach {0}?",
        "To pick up {0} while staying clear of its closest neighbouring cube, which side should the gripper "
        "come from?",
        "Which approach direction keeps the gripper farthest from the cube next to {0}?",
    )

    def draft(self, scene: SceneBundle, rng: np.random.Generator, taken: set[str]) -> Draft | None:
        view = pick_view(rng)
        visible = scene.visible_objects(view)
        if len(visible) != len(scene.gt.objects) or len(visible) < 2:
            return None  # the neighbour must be in the picture too
        by_side: dict[str, list] = {}
        for obj in visible:
            if obj.name in taken:
                continue
            others = sorted((float(np.linalg.norm((o.position_world - obj.position_world)[:2])), o.name)
                            for o in visible if o is not obj)
            if len(others) > 1 and others[1][0] - others[0][0] < NEIGHBOUR_MARGIN_M:
                continue  # two neighbours nearly as close: no single one to avoid
            neighbour = scene.gt.object(others[0][1])
            side = side_of((neighbour.position_world - obj.position_world)[:2])
            if side is not None:
                by_side.setdefault(OPPOSITE[side], []).append((obj, neighbour, others))
        if not by_side:
            return None
        wanted = scene.balancer.pick(f"{self.name}/side", sorted(by_side), rng)
        obj, neighbour, others = by_side[wanted][int(rng.integers(len(by_side[wanted])))]
        template = self.pick_template(scene, rng)
        options, letter = self.arrange(scene, rng, wanted, [s for s in SIDES if s != wanted])
        runner_up = f" (the next is {metres(others[1][0], 3)} away)" if len(others) > 1 else ""
        offset = (neighbour.position_world - obj.position_world)[:2]
        steps = [
            f"The cube nearest to {object_phrase(obj)} is {object_phrase(neighbour)}, "
            f"{metres(others[0][0], 3)} away{runner_up}.",
            f"Its horizontal offset is {vector(offset)} m in the robot's frame (x away from the robot, y to its "
            f"left), so it lies {NEIGHBOUR_TEXT[OPPOSITE[wanted]]}.",
            f"Approaching from the opposite side, {SIDE_TEXT[wanted]}, keeps the gripper clear of it.",
            conclusion(letter, SIDE_TEXT[wanted]),
        ]
        return choice_draft(
            key=obj.name,
            images=[scene.png(view)],
            stem=self.STEMS[template].format(object_phrase(obj)),
            options=options,
            letter=letter,
            template=template,
            query={"view": view, "objects": [obj.name]},
            reasoning=steps,
            option_text=lambda o: SIDE_TEXT[o].capitalize(),
        )


@register_skill
class ClosestToRobot(Skill):
    """Which cube is closest to (or farthest from) the robot? All cubes are the options."""

    name = "closest_to_robot"
    family = "robot"
    answer_kind = "choice"
    STEMS = (
        "Which cube is closest to the robot?",
        "Which of the cubes is nearest to the robot arm's base?",
        "Which cube is farthest from the robot?",
    )

    def draft(self, scene: SceneBundle, rng: np.random.Generator, taken: set[str]) -> Draft | None:
        view = pick_view(rng)
        visible = scene.visible_objects(view)
        base = scene.gt.robot_base_pos
        if base is None or len(visible) != len(scene.gt.objects) or len(visible) < 2:
            return None
        dist = np.array([np.linalg.norm((o.position_world - base)[:2]) for o in visible])
        ranks = np.argsort(dist)
        feasible = []
        if dist[ranks[1]] - dist[ranks[0]] >= ROBOT_DISTANCE_MARGIN_M and "closest" not in taken:
            feasible += [0, 1]
        if dist[ranks[-1]] - dist[ranks[-2]] >= ROBOT_DISTANCE_MARGIN_M and "farthest" not in taken:
            feasible += [2]
        if not feasible:
            return None
        template = self.pick_template(scene, rng, feasible)
        relation = "farthest" if template == 2 else "closest"
        correct = visible[int(ranks[-1] if relation == "farthest" else ranks[0])]
        options, letter = self.arrange(scene, rng, correct, [o for o in visible if o is not correct])
        steps = robot_order_steps(distinguishing_names([visible[i] for i in ranks]), relation,
                                  object_phrase(correct))
        steps.append(conclusion(letter, object_phrase(correct)))
        return Draft(
            key=relation,
            images=[scene.png(view)],
            question=choice_text(self.STEMS[template], [object_phrase(o).capitalize() for o in options], template),
            answer=letter,
            ground_truth=letter,
            template=template,
            query={"view": view, "relation": relation, "objects": [o.name for o in visible]},
            options={LETTERS[i]: o.name for i, o in enumerate(options)},
            reasoning=steps,
        )


def robot_order_steps(order: list[str], relation: str, answer_phrase: str) -> list[str]:
    """The reasoning of a closest_to_robot answer before its conclusion: the cubes from nearest the robot's base to
    farthest (horizontal distance; names by :func:`distinguishing_names`), then the end of that list the question
    asks for. The pairwise order skills' caption form (:func:`~.depth.nearer_steps`), with the robot as the
    reference; no distances, which the image does not show to a model (experiments/perception)."""
    end = "closest to" if relation == "closest" else "farthest from"
    return [f"From nearest the robot to farthest: {', '.join(order)}.", f"So {answer_phrase} is {end} the robot."]

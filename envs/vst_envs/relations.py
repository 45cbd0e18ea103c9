"""Spatial relations between tabletop objects, and the referring tasks they make unique.

A task names its target only through a relation: to another object (``left_of`` / ``right_of`` the reference,
e.g. "pick up the cube left of the green cube") or to the robot (``closest_to_robot`` /
``farthest_from_robot``). Relations are computed from ground-truth positions (metres, world frame):

* left / right are the *viewer's* left / right in a fixed camera (the agentview camera for tabletop_pick),
  described by a :class:`ViewFrame`. Two measures must agree: the metric coordinate along the camera's
  horizontal right axis (what a person standing at the camera means) and the horizontal image coordinate
  ``x / z`` in the camera frame (what the image shows; perspective can make a far object that is further
  right in 3D appear left of a near one). For robosuite's agentview, which looks from the far side of the table
  back at the robot, image-right is world +y, so "left of" in the image is the robot's right.
* "closest to / farthest from the robot" compare horizontal (xy) distances to the robot base.

A task is *unambiguous* only with margins: for left/right every other object must lie clearly on the other side
of the reference and the target clearly on its side, by ``lateral_margin_m`` metres *and* ``image_margin`` in
``x / z`` (0.04 is ~6 px in a 128 px agentview image); for closest/farthest the target must beat every other
object by ``distance_margin_m``.
Pure numpy; no simulator needed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

RELATIONS: tuple[str, ...] = ("left_of", "right_of", "closest_to_robot", "farthest_from_robot")
OBJECT_RELATIONS = frozenset({"left_of", "right_of"})

# Default margins: a cube is 4 cm wide, so a 3 cm gap between centres is visible at 64 px in agentview.
LATERAL_MARGIN_M = 0.03
IMAGE_MARGIN = 0.04
DISTANCE_MARGIN_M = 0.03

_TEMPLATES = {
    "left_of": "pick up the cube left of the {reference} cube",
    "right_of": "pick up the cube right of the {reference} cube",
    "closest_to_robot": "pick up the cube closest to the robot",
    "farthest_from_robot": "pick up the cube farthest from the robot",
}


@dataclass(frozen=True)
class SpatialTask:
    """A referring task: pick object ``target`` (an index into the scene's objects).

    Attributes:
        relation: one of :data:`RELATIONS`.
        target: index of the target object.
        reference: index of the reference object for ``left_of`` / ``right_of``, None for robot relations.
        instruction: the language instruction (names the target only through the relation).
    """

    relation: str
    target: int
    reference: int | None
    instruction: str


def instruction_for(relation: str, reference_color: str | None = None) -> str:
    """The instruction text of a relation (``reference_color`` is needed for object relations)."""
    if relation not in _TEMPLATES:
        raise ValueError(f"unknown relation {relation!r}; expected one of {list(RELATIONS)}")
    if relation in OBJECT_RELATIONS and not reference_color:
        raise ValueError(f"relation {relation!r} needs a reference colour")
    return _TEMPLATES[relation].format(reference=reference_color)


@dataclass(frozen=True, eq=False)
class ViewFrame:
    """The viewpoint left / right are judged from.

    Attributes:
        right_axis: (3,) unit, horizontal: the camera's right axis with its vertical component removed.
        camera_from_world: (4, 4) world -> OpenCV camera transform (x right, y down, z forward).
    """

    right_axis: np.ndarray
    camera_from_world: np.ndarray

    @classmethod
    def from_pose(cls, world_from_camera: np.ndarray) -> ViewFrame:
        """From an OpenCV camera pose (4, 4) (camera -> world), e.g. ``CameraInfo.world_from_camera``."""
        pose = np.asarray(world_from_camera, dtype=np.float64)
        right = pose[:3, 0].copy()
        right[2] = 0.0  # "left of" must not depend on height
        norm = float(np.linalg.norm(right))
        if norm < 1e-6:
            raise ValueError("the camera looks straight down or up; its right axis has no horizontal direction")
        rot, pos = pose[:3, :3], pose[:3, 3]
        inverse = np.eye(4)
        inverse[:3, :3] = rot.T
        inverse[:3, 3] = -rot.T @ pos
        return cls(right_axis=right / norm, camera_from_world=inverse)

    def lateral_m(self, positions: np.ndarray) -> np.ndarray:
        """Coordinate (N,) of positions (N, 3) along the right axis, metres (larger = further right)."""
        return np.asarray(positions, dtype=np.float64) @ self.right_axis

    def image_x(self, positions: np.ndarray) -> np.ndarray:
        """Horizontal image coordinate ``x / z`` (N,) of positions (N, 3) in the camera (larger = further right)."""
        pts = np.asarray(positions, dtype=np.float64) @ self.camera_from_world[:3, :3].T + self.camera_from_world[:3, 3]
        return pts[:, 0] / pts[:, 2]

    def side_offsets(self, positions: np.ndarray, reference: int, relation: str) -> tuple[np.ndarray, np.ndarray]:
        """How far (metres, image units) each position lies towards the relation's side of the reference.

        Positive = on the side the relation names (left for ``left_of``); both (N,).
        """
        sign = -1.0 if relation == "left_of" else 1.0
        lateral = self.lateral_m(positions)
        image = self.image_x(positions)
        return sign * (lateral - lateral[reference]), sign * (image - image[reference])


def robot_distances(positions: np.ndarray, robot_base_pos: np.ndarray) -> np.ndarray:
    """Horizontal (xy) distance (N,) of each position (N, 3) to the robot base, metres."""
    delta = np.asarray(positions, dtype=np.float64)[:, :2] - np.asarray(robot_base_pos, dtype=np.float64)[:2]
    return np.linalg.norm(delta, axis=1)


def unique_answer(
    relation: str,
    positions: np.ndarray,
    reference: int | None,
    view: ViewFrame,
    robot_base_pos: np.ndarray,
    lateral_margin_m: float = LATERAL_MARGIN_M,
    image_margin: float = IMAGE_MARGIN,
    distance_margin_m: float = DISTANCE_MARGIN_M,
) -> int | None:
    """The single object the relation picks out with the margins, or None when the answer is not unique.

    Args:
        relation: one of :data:`RELATIONS`.
        positions: (N, 3) object centres, world, metres.
        reference: index of the reference object (object relations only).
        view: the viewpoint for left / right.
        robot_base_pos: (3,) robot base position for the robot relations.
    """
    n = len(positions)
    if relation in OBJECT_RELATIONS:
        if reference is None:
            raise ValueError(f"relation {relation!r} needs a reference object")
        metric, image = view.side_offsets(positions, reference, relation)
        others = [i for i in range(n) if i != reference]
        # Both measures must agree with margin; anything in between makes the instruction ambiguous.
        on_side = [i for i in others if metric[i] >= lateral_margin_m and image[i] >= image_margin]
        off_side = [i for i in others if metric[i] <= -lateral_margin_m and image[i] <= -image_margin]
        if len(on_side) == 1 and len(on_side) + len(off_side) == len(others):
            return on_side[0]
        return None
    if relation in ("closest_to_robot", "farthest_from_robot"):
        dist = robot_distances(positions, robot_base_pos)
        score = dist if relation == "closest_to_robot" else -dist
        order = np.argsort(score)
        if n >= 2 and score[order[1]] - score[order[0]] >= distance_margin_m:
            return int(order[0])
        return None
    raise ValueError(f"unknown relation {relation!r}; expected one of {list(RELATIONS)}")


def candidate_tasks(
    positions: np.ndarray,
    colors: Sequence[str],
    view: ViewFrame,
    robot_base_pos: np.ndarray,
    relations: Sequence[str] = RELATIONS,
    lateral_margin_m: float = LATERAL_MARGIN_M,
    image_margin: float = IMAGE_MARGIN,
    distance_margin_m: float = DISTANCE_MARGIN_M,
) -> list[SpatialTask]:
    """Every unambiguous task of the given relations in this arrangement (``colors[i]`` names object i)."""
    tasks = []
    for relation in relations:
        references: Sequence[int | None] = range(len(positions)) if relation in OBJECT_RELATIONS else [None]
        for ref in references:
            target = unique_answer(
                relation, positions, ref, view, robot_base_pos, lateral_margin_m, image_margin, distance_margin_m
            )
            if target is not None:
                color = colors[ref] if ref is not None else None
                tasks.append(SpatialTask(relation, target, ref, instruction_for(relation, color)))
    return tasks


def sample_task(tasks: Sequence[SpatialTask], rng: np.random.Generator) -> SpatialTask:
    """Pick a relation uniformly among those with a task, then one of its tasks uniformly.

    Two-stage so that object relations (which have many references) do not crowd out the robot relations.
    """
    if not tasks:
        raise ValueError("no task to sample from")
    relations = sorted({t.relation for t in tasks}, key=RELATIONS.index)
    relation = relations[int(rng.integers(len(relations)))]
    options = [t for t in tasks if t.relation == relation]
    return options[int(rng.integers(len(options)))]

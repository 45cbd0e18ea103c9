"""Alignment skills: dense, literal descriptions of where each object is, for the vision-language alignment stage.

A random-init model asked "is the red cube left of the blue cube?" gets one supervised letter per image and has to
discover, from that alone, how to find an object by its name and read its position. LLaVA's first stage solves the
same cold start with captions; here the captions come from the scene's ground truth, so every image gives many
supervised tokens that tie a name to a place (``stage=align``, before spatial SFT):

* ``object_inventory``: every visible object, in alphabetical order: what is there, no position (a function of
  the image alone, so the easiest start: on the probes, such captions are what made a question's colour word
  bindable to the image at all, see ``experiments/perception/``);
* ``object_order``: every visible object from left to right (names and order only, no grid cells);
* ``object_location``: the grid cell of one named object ("(3, 6)");
* ``scene_layout``: every visible object, left to right, with its colour, shape and grid cell;
* ``depth_ranking``: every visible object from the nearest to the camera to the farthest.

Grid cells split the image into :data:`GRID` x :data:`GRID` equal cells, numbered from 1 at the left (columns)
and at the top (rows). These skills are not part of the default spatial QA mix (:attr:`Skill.in_default_mix`):
they are asked for by name (``python -m vst_vla.spatial.generate --skills object_location scene_layout
depth_ranking``), and their answers are scored by exact match.
"""

from __future__ import annotations

import numpy as np
from vst_envs.scene import ObjectInfo

from vst_vla.spatial.engine.base import Draft, Skill, object_phrase, register_skill, short_phrase
from vst_vla.spatial.engine.geometry import camera_dict, depth, pixel
from vst_vla.spatial.engine.scene import SceneBundle, pick_view

GRID = 8
ALIGN_SKILLS = ("object_inventory", "object_order", "object_location", "scene_layout", "depth_ranking")


def grid_cell(width: int, height: int, u_v: np.ndarray) -> tuple[int, int]:
    """``(column, row)`` of a pixel in the :data:`GRID` x :data:`GRID` grid, both from 1."""
    u, v = float(u_v[0]), float(u_v[1])
    column = min(GRID, max(1, int(u / width * GRID) + 1))
    row = min(GRID, max(1, int(v / height * GRID) + 1))
    return column, row


def _located(scene: SceneBundle, view: str) -> list[tuple[ObjectInfo, np.ndarray, tuple[int, int]]]:
    """The view's visible objects with their centre pixel and grid cell."""
    camera = scene.view(view).camera
    rows = []
    for obj in scene.visible_objects(view):
        uv = pixel(obj.position_world, camera)
        rows.append((obj, uv, grid_cell(camera.width, camera.height, uv)))
    return rows


def _cell_text(cell: tuple[int, int]) -> str:
    return f"({cell[0]}, {cell[1]})"


def _view_caption(scene: SceneBundle, view: str, question: str, template: int, answer: str, located: list,
                  steps: list[str]) -> Draft:
    """A caption of a whole view: one per view (keyed by it), its objects in the order the answer names them."""
    return Draft(key=view, images=[scene.png(view)], question=question, answer=answer, ground_truth=answer,
                 template=template, reasoning=steps,
                 query={"camera": camera_dict(scene.view(view).camera), "view": view,
                        "objects": [obj.name for obj, _, _ in located]})


class AlignSkill(Skill):
    """Shared settings: single image, free-text answers scored by exact match, outside the default QA mix."""

    family = "align"
    answer_kind = "text"
    in_default_mix = False


class _ObjectList(AlignSkill):
    """Every visible object of one view (at least two), as "colour shape" phrases in the order :meth:`order` sets."""

    max_per_scene = 4
    STEMS: tuple[str, ...] = ()
    WHAT = ""  # the order, for the reasoning sentence

    def order(self, located: list[tuple[ObjectInfo, np.ndarray, tuple[int, int]]]) -> list:
        raise NotImplementedError

    def draft(self, scene: SceneBundle, rng: np.random.Generator, taken: set[str]) -> Draft | None:
        view = pick_view(rng)
        located = _located(scene, view)
        if len(located) < 2 or view in taken:
            return None
        ordered = self.order(located)
        template = self.pick_template(scene, rng)
        answer = ", ".join(short_phrase(obj) for obj, _, _ in ordered)
        steps = [f"The image shows {len(ordered)} objects.", f"{self.WHAT}: {answer}."]
        return _view_caption(scene, view, self.STEMS[template], template, answer, ordered, steps)


@register_skill
class ObjectInventory(_ObjectList):
    """What is in the image: every visible object's colour and shape, alphabetically."""

    name = "object_inventory"
    WHAT = "In alphabetical order"
    STEMS = (
        "Name the objects in the image, each as colour and shape, in alphabetical order.",
        "Which objects does the image show? List them as colour and shape, alphabetically.",
        "List every object you see by colour and shape, in alphabetical order.",
    )

    def order(self, located: list) -> list:
        return sorted(located, key=lambda row: short_phrase(row[0]))


@register_skill
class ObjectOrder(_ObjectList):
    """Every visible object's colour and shape, from left to right in the image."""

    name = "object_order"
    WHAT = "From left to right"
    STEMS = (
        "Name the objects in the image from left to right, each as colour and shape.",
        "From left to right, which objects does the image show? Give colour and shape.",
        "List the objects by colour and shape, starting from the leftmost.",
    )

    def order(self, located: list) -> list:
        return sorted(located, key=lambda row: float(row[1][0]))


@register_skill
class ObjectLocation(AlignSkill):
    """Where is X? Its grid cell."""

    name = "object_location"
    max_per_scene = 8
    STEMS = (
        "Where is {0} in the image? Answer with its grid cell as (column, row), each from 1 to 8.",
        "In an 8 x 8 grid over the image, which cell holds the centre of {0}? Reply as (column, row).",
        "Give the (column, row) cell of {0}, with the image split into 8 columns and 8 rows.",
    )

    def draft(self, scene: SceneBundle, rng: np.random.Generator, taken: set[str]) -> Draft | None:
        view = pick_view(rng)
        candidates = [row for row in _located(scene, view) if f"{view}/{row[0].name}" not in taken]
        if not candidates:
            return None
        obj, uv, cell = candidates[int(rng.integers(len(candidates)))]
        template = self.pick_template(scene, rng)
        answer = _cell_text(cell)
        steps = [f"The centre of {object_phrase(obj)} is at pixel ({uv[0]:.0f}, {uv[1]:.0f}).",
                 f"That is column {cell[0]} and row {cell[1]} of the 8 x 8 grid, so the answer is {answer}."]
        return Draft(key=f"{view}/{obj.name}", images=[scene.png(view)],
                     question=self.STEMS[template].format(object_phrase(obj)), answer=answer, ground_truth=answer,
                     template=template, query={"camera": camera_dict(scene.view(view).camera), "view": view,
                                               "objects": [obj.name]}, reasoning=steps)


@register_skill
class SceneLayout(AlignSkill):
    """Every visible object, left to right: colour, shape and grid cell."""

    name = "scene_layout"
    max_per_scene = 4
    STEMS = (
        "List the objects in the image from left to right, each with its colour, shape and grid cell "
        "(column, row) from 1 to 8.",
        "Describe the layout: every object from left to right as colour, shape and (column, row) in an 8 x 8 grid.",
        "Name each object from left to right with its (column, row) cell, the image split into 8 x 8 cells.",
    )

    def draft(self, scene: SceneBundle, rng: np.random.Generator, taken: set[str]) -> Draft | None:
        view = pick_view(rng)
        located = sorted(_located(scene, view), key=lambda row: float(row[1][0]))
        if not located or view in taken:
            return None
        template = self.pick_template(scene, rng)
        answer = "; ".join(f"{short_phrase(obj)} {_cell_text(cell)}" for obj, _, cell in located)
        steps = [f"The centre of {object_phrase(obj)} is at pixel ({uv[0]:.0f}, {uv[1]:.0f}), cell {_cell_text(cell)}."
                 for obj, uv, cell in located]
        steps.append(f"From left to right: {answer}.")
        return _view_caption(scene, view, self.STEMS[template], template, answer, located, steps)


@register_skill
class DepthRanking(AlignSkill):
    """Every visible object from the nearest to the camera to the farthest."""

    name = "depth_ranking"
    max_per_scene = 4
    STEMS = (
        "List the objects in the image from the nearest to the camera to the farthest.",
        "Order every object by its distance from the viewer, nearest first.",
        "Name the objects from closest to the camera to farthest away.",
    )

    def draft(self, scene: SceneBundle, rng: np.random.Generator, taken: set[str]) -> Draft | None:
        view = pick_view(rng)
        camera = scene.view(view).camera
        visible = scene.visible_objects(view)
        if len(visible) < 2 or view in taken:
            return None
        ranked = sorted(visible, key=lambda obj: depth(obj.position_world, camera))
        template = self.pick_template(scene, rng)
        answer = ", ".join(short_phrase(obj) for obj in ranked)
        steps = [f"{object_phrase(obj).capitalize()} is {depth(obj.position_world, camera):.2f} m from the camera."
                 for obj in ranked]
        steps.append(f"Nearest first: {answer}.")
        return Draft(key=view, images=[scene.png(view)], question=self.STEMS[template], answer=answer,
                     ground_truth=answer, template=template,
                     query={"camera": camera_dict(camera), "view": view, "objects": [obj.name for obj in ranked]},
                     reasoning=steps)

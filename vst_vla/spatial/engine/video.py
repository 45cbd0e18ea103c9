"""Video skills (VST-P video spatial reasoning): appearance order in a camera sweep, counting over a sweep, and
the sweep's turning direction.

Each scene gets one *sweep*: a camera at a fixed position above the front of the table pans horizontally in
:data:`SWEEP_FRAMES` steps with a narrow field of view, so cubes come into view one after another. The video
skills share it. "Appears" is geometric: an object is in a frame when its centre projects inside the image
with a margin; questions whose answer would hinge on a partly visible object are not asked, and an object that
is in frame but hidden (segmentation) disqualifies the question.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
from vst_envs.scene import ObjectInfo
from vst_envs.views import ViewSpec

from vst_vla.spatial.engine.base import (
    LETTERS,
    Draft,
    Skill,
    choice_draft,
    choice_text,
    conclusion,
    number_text,
    object_phrase,
    register_skill,
)
from vst_vla.spatial.engine.geometry import (
    any_corner_in_frame,
    camera_dict,
    centre_in_frame,
    heading_turn_deg,
    view_looking,
)
from vst_vla.spatial.engine.scene import SceneBundle

SWEEP_FRAMES = 8
SWEEP_STREAM = 7_001  # the sweep's own rng stream, so every video skill sees the same sweep
CENTRE_MARGIN_PX = 3.0
TURN_MARGIN_DEG = 8.0


@dataclass(frozen=True)
class Sweep:
    """The frames of a scene's camera sweep, and per object the frame it enters (None: never).

    ``first_in``: first frame with the object's centre inside the image (margin) and the object seen;
    ``first_any``: first frame any of its corners is (about) inside the image; ``hidden``: objects in frame
    somewhere but not seen there (occluded), which makes questions about them unsafe.
    """

    specs: tuple[ViewSpec, ...]
    first_in: dict[str, int | None]
    first_any: dict[str, int | None]
    hidden: frozenset[str]


def make_sweep(scene: SceneBundle) -> Sweep:
    """Design, render and annotate the scene's sweep (deterministic in the scene seed)."""
    rng = np.random.default_rng([scene.scene_seed, SWEEP_STREAM])
    # Alternate the turning direction over consecutive scene seeds: balanced left / right turns by design.
    turn_left = scene.scene_seed % 2 == 0
    elevation = rng.uniform(-55.0, -40.0)
    centre_az = 180.0 + rng.uniform(-15.0, 15.0)
    span = rng.uniform(50.0, 75.0)  # the end frames still catch the outer cubes: fewer "0 cubes" counts
    back_off = rng.uniform(0.6, 0.75)
    fovy = float(rng.uniform(30.0, 38.0))
    el, az = np.radians(elevation), np.radians(centre_az)
    direction = np.array([np.cos(el) * np.cos(az), np.cos(el) * np.sin(az), np.sin(el)])
    position = np.array([0.03, 0.0, 0.8]) - back_off * direction
    azimuths = np.linspace(centre_az - span / 2, centre_az + span / 2, SWEEP_FRAMES)
    if not turn_left:  # increasing azimuth turns the camera counter-clockwise, i.e. to the left
        azimuths = azimuths[::-1]
    specs = tuple(ViewSpec(f"sweep{i}", **view_looking(position, a, elevation, 0.6), fovy_deg=fovy)
                  for i, a in enumerate(azimuths))
    first_in: dict[str, int | None] = {}
    first_any: dict[str, int | None] = {}
    hidden = set()
    for obj in scene.gt.objects:
        inside = [centre_in_frame(obj.position_world, scene.view(s).camera, CENTRE_MARGIN_PX) for s in specs]
        partial = [any_corner_in_frame(obj, scene.view(s).camera) for s in specs]
        first_in[obj.name] = inside.index(True) if any(inside) else None
        first_any[obj.name] = partial.index(True) if any(partial) else None
        if first_in[obj.name] is not None:
            seg = scene.segmentation(specs[first_in[obj.name]])
            if np.isin(seg, obj.geom_ids).sum() < 3:
                hidden.add(obj.name)
    return Sweep(specs, first_in, first_any, frozenset(hidden))


def _sweep(scene: SceneBundle) -> Sweep:
    return scene.cached("video_sweep", lambda: make_sweep(scene))


def _frames(scene: SceneBundle, sweep: Sweep) -> list[bytes]:
    return [scene.png(s) for s in sweep.specs]


def _cameras(scene: SceneBundle, sweep: Sweep) -> list[dict]:
    return [camera_dict(scene.view(s).camera) for s in sweep.specs]


def appears_before(sweep: Sweep, a: str, b: str) -> bool:
    """a is clearly in view before any part of b is (b may never appear)."""
    ta, tb = sweep.first_in[a], sweep.first_any[b]
    return ta is not None and a not in sweep.hidden and (tb is None or ta < tb)


@register_skill
class AppearanceOrder(Skill):
    """Which object appears first (or last) as the camera sweeps across the table?"""

    name = "appearance_order"
    family = "video"
    sample_type = "video"
    answer_kind = "choice"
    STEMS = (
        "Which of these objects appears first in the video: {0} or {1}?",
        "As the camera sweeps across the table, which object comes into view first?",
        "Which of these objects comes into view later in the video: {0} or {1}?",
    )

    def draft(self, scene: SceneBundle, rng: np.random.Generator, taken: set[str]) -> Draft | None:
        sweep = _sweep(scene)
        objects: list[ObjectInfo] = list(scene.gt.objects)
        candidates: dict[int, list[tuple[ObjectInfo, list[ObjectInfo]]]] = {}
        for a, b in itertools.permutations(objects, 2):
            if appears_before(sweep, a.name, b.name) and f"0/{a.name}/{b.name}" not in taken:
                candidates.setdefault(0, []).append((a, [b]))
            # "Later" needs the later object to appear at all, and not hidden.
            if (appears_before(sweep, a.name, b.name) and sweep.first_in[b.name] is not None
                    and b.name not in sweep.hidden and f"2/{b.name}/{a.name}" not in taken):
                candidates.setdefault(2, []).append((b, [a]))
        for a, b, c in itertools.combinations(objects, 3):
            for first in (a, b, c):
                rest = [o for o in (a, b, c) if o is not first]
                if all(appears_before(sweep, first.name, o.name) for o in rest):
                    key = f"1/{first.name}/{'/'.join(sorted(o.name for o in rest))}"
                    if key not in taken:
                        candidates.setdefault(1, []).append((first, rest))
        if not candidates:
            return None
        template = self.pick_template(scene, rng, sorted(candidates))
        correct, others = candidates[template][int(rng.integers(len(candidates[template])))]
        options, letter = self.arrange(scene, rng, correct, others)
        phrases = [object_phrase(o) for o in options]
        early, late = (correct, others) if template < 2 else (others[0], [correct])
        steps = [f"{object_phrase(early).capitalize()} is fully in view from frame {sweep.first_in[early.name] + 1}."]
        for o in late:
            t = sweep.first_any[o.name]
            steps.append(f"{object_phrase(o).capitalize()} "
                         + ("never comes into view." if t is None else f"first comes into view in frame {t + 1}."))
        steps.append(f"So {object_phrase(correct)} appears {'later' if template == 2 else 'first'}.")
        steps.append(conclusion(letter, object_phrase(correct)))
        key = (f"1/{correct.name}/{'/'.join(sorted(o.name for o in others))}" if template == 1
               else f"{template}/{correct.name}/{others[0].name}")
        return Draft(
            key=key,
            images=_frames(scene, sweep),
            question=choice_text(self.STEMS[template].format(*phrases), [p.capitalize() for p in phrases], template),
            answer=letter,
            ground_truth=letter,
            template=template,
            query={"cameras": _cameras(scene, sweep), "relation": "later" if template == 2 else "first",
                   "objects": [o.name for o in options]},
            options={LETTERS[i]: o.name for i, o in enumerate(options)},
            reasoning=steps,
        )


@register_skill
class VideoCount(Skill):
    """How many cubes appear in the video / are in the first or last frame?"""

    name = "video_count"
    family = "video"
    sample_type = "video"
    answer_kind = "number"
    STEMS = (
        "How many different cubes appear during the video?",
        "How many cubes can be seen in the last frame of the video?",
        "How many cubes can be seen in the first frame of the video?",
    )

    def draft(self, scene: SceneBundle, rng: np.random.Generator, taken: set[str]) -> Draft | None:
        sweep = _sweep(scene)
        counts: dict[int, int] = {}
        steps: dict[int, list[str]] = {}
        names = [o.name for o in scene.gt.objects]
        if not any(n in sweep.hidden for n in names) and all(
            (sweep.first_in[n] is None) == (sweep.first_any[n] is None) for n in names
        ):
            counts[0] = sum(sweep.first_in[n] is not None for n in names)
            seen = [f"{object_phrase(o)} (from frame {sweep.first_in[o.name] + 1})" for o in scene.gt.objects
                    if sweep.first_in[o.name] is not None]
            steps[0] = [f"Cubes that come into view during the sweep: {', '.join(seen) or 'none'}.",
                        f"So {counts[0]} different cubes appear."]
        for template, frame in ((1, len(sweep.specs) - 1), (2, 0)):
            spec = sweep.specs[frame]
            camera = scene.view(spec).camera
            whole = [o for o in scene.gt.objects if scene.object_visible(o, spec)]
            partial = [o for o in scene.gt.objects if any_corner_in_frame(o, camera)]
            if len(whole) == len(partial):  # nobody cut by the border or hidden
                counts[template] = len(whole)
                which = "last" if template == 1 else "first"
                steps[template] = [
                    f"In the {which} frame (frame {frame + 1}) the cubes in view are: "
                    f"{', '.join(object_phrase(o) for o in whole) or 'none'}.",
                    f"No other cube is partly in that frame, so the count is {len(whole)}.",
                ]
        feasible = [t for t in sorted(counts) if str(t) not in taken]
        if not feasible:
            return None
        template = self.pick_template(scene, rng, feasible)
        return Draft(
            key=str(template),
            images=_frames(scene, sweep),
            question=number_text(self.STEMS[template], template, count=True),
            answer=str(counts[template]),
            ground_truth=counts[template],
            template=template,
            query={"cameras": _cameras(scene, sweep), "form": template},
            reasoning=steps[template],
        )


@register_skill
class VideoCameraTurn(Skill):
    """Which way does the camera turn during the sweep?"""

    name = "video_camera_turn"
    family = "video"
    sample_type = "video"
    answer_kind = "choice"
    max_per_scene = 1
    STEMS = (
        "During the video, is the camera turning to the left or to the right?",
        "In which direction does the camera pan over the course of the video?",
        "Seen from above, does the camera rotate clockwise or counter-clockwise during the video?",
    )
    WORDS = (("left", "right"), ("left", "right"), ("counter-clockwise", "clockwise"))

    def draft(self, scene: SceneBundle, rng: np.random.Generator, taken: set[str]) -> Draft | None:
        sweep = _sweep(scene)
        turn = heading_turn_deg(scene.view(sweep.specs[0]).camera, scene.view(sweep.specs[-1]).camera)
        if abs(turn) < TURN_MARGIN_DEG:
            return None
        template = self.pick_template(scene, rng)
        words = self.WORDS[template]
        truth = words[0] if turn > 0 else words[1]  # positive heading change = counter-clockwise = left
        options, letter = self.arrange(scene, rng, truth, [w for w in words if w != truth])
        steps = [
            f"From the first to the last frame the camera's heading changes by {turn:+.1f} deg (positive is "
            "counter-clockwise seen from above), while its position stays fixed.",
            f"So it rotates {'counter-clockwise' if turn > 0 else 'clockwise'}, i.e. it turns to the "
            f"{'left' if turn > 0 else 'right'}.",
            conclusion(letter, truth),
        ]
        return choice_draft(
            key="turn",
            images=_frames(scene, sweep),
            stem=self.STEMS[template],
            options=options,
            letter=letter,
            template=template,
            query={"cameras": _cameras(scene, sweep), "form": template},
            reasoning=steps,
        )

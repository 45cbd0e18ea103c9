"""Tests of the spatial QA engine (vst_vla.spatial.engine): determinism, coverage of every skill, every answer
re-derived here from the scene's ground truth, scoring, parquet round trip, images and answer balance.

The answer checks below deliberately re-implement the geometry (projection, depth, headings, quadrants) with
plain numpy instead of calling the engine's helpers, so a convention slip in the engine shows up as a mismatch.
"""

from __future__ import annotations

import io
import math
import re
from collections import Counter
from collections.abc import Callable

import numpy as np
import pytest
from PIL import Image

from vst_vla.rl.rewards import format_reward, overall_reward
from vst_vla.sft.cot import to_cot_sample
from vst_vla.spatial.boxes import Box3D
from vst_vla.spatial.engine import default_skill_names, generate_dataset, iter_scene_samples
from vst_vla.spatial.engine.video import SWEEP_FRAMES
from vst_vla.spatial.formats import read_parquet, write_parquet
from vst_vla.spatial.generate import parse_args, run
from vst_vla.spatial.metrics import score_answer

SEED = 3
NUM_SCENES = 4
IMAGE_SIZE = 128
IMAGES_PER_TYPE = {"single_image": 1, "multi_image": 2, "video": SWEEP_FRAMES}


@pytest.fixture(scope="module")
def generated():
    """``[(ground truth, samples)]`` for NUM_SCENES scenes, plus extra scenes for any skill that had none."""
    scenes = [(scene.gt, samples) for scene, samples in iter_scene_samples(NUM_SCENES, SEED, image_size=IMAGE_SIZE)]
    missing = set(default_skill_names()) - {s.meta_info["skill"] for _, samples in scenes for s in samples}
    extra_seed = SEED + 1000
    while missing and extra_seed < SEED + 1006:  # skip-free coverage: try further seeds for the missing skills
        for scene, samples in iter_scene_samples(1, extra_seed, image_size=IMAGE_SIZE, skills=sorted(missing)):
            scenes.append((scene.gt, samples))
            missing -= {s.meta_info["skill"] for s in samples}
        extra_seed += 1
    return scenes


def _samples(generated):
    return [s for _, samples in generated for s in samples]


# --- independent geometry ----------------------------------------------------------------------------------


def _pose(cam: dict) -> tuple[np.ndarray, np.ndarray]:
    pose = np.array(cam["world_from_camera"])
    return pose[:3, :3], pose[:3, 3]


def _cam_point(point, cam: dict) -> np.ndarray:
    rot, pos = _pose(cam)
    return rot.T @ (np.asarray(point, dtype=float) - pos)


def _depth(point, cam: dict) -> float:
    return float(_cam_point(point, cam)[2])


def _uv(point, cam: dict) -> np.ndarray:
    p = np.array(cam["intrinsics"]) @ _cam_point(point, cam)
    return p[:2] / p[2]


def _inside(point, cam: dict) -> bool:
    u, v = _uv(point, cam)
    return _depth(point, cam) > 0 and 0 <= u <= cam["width"] and 0 <= v <= cam["height"]


def _heading(cam: dict) -> float:
    forward = _pose(cam)[0][:, 2]
    return math.atan2(forward[1], forward[0])


def _turn_left(cam1: dict, cam2: dict) -> bool:
    delta = (_heading(cam2) - _heading(cam1) + math.pi) % (2 * math.pi) - math.pi
    return delta > 0


def _objects(gt) -> dict:
    return {o.name: o for o in gt.objects}


# --- per-skill answer checks: each returns the option value (choice) or number the answer must be --------------


def _depth_order_points(gt, q):
    depths = {label: _depth(p, q["camera"]) for label, p in q["points"].items()}
    for label, p in q["points"].items():  # the points lie on the surfaces they claim
        surface = q["surfaces"][label]
        if surface == "table":
            assert p[2] == pytest.approx(gt.table_height)
        else:
            obj = _objects(gt)[surface]
            assert p[2] == pytest.approx(obj.box_corners_world[:, 2].max())
            assert np.linalg.norm(np.array(p[:2]) - obj.position_world[:2]) <= 0.02 * math.sqrt(2)
    pick = min if q["relation"] == "closer" else max
    return pick(depths, key=depths.get)


def _closer_object(gt, q):
    objs = _objects(gt)
    depths = {n: _depth(objs[n].position_world, q["camera"]) for n in q["objects"]}
    return (min if q["relation"] == "closer" else max)(depths, key=depths.get)


def _left_right(gt, q):
    objs = _objects(gt)
    u = [_uv(objs[n].position_world, q["camera"])[0] for n in q["objects"]]
    left = u[0] < u[1]
    return ("left" if left else "right") if q["form"] == "left_right" else ("yes" if left else "no")


def _relative_direction(gt, q):
    stand, face, target = (_objects(gt)[n].position_world[:2] for n in q["objects"])
    fwd = (face - stand) / np.linalg.norm(face - stand)
    rel = target - stand
    ahead, cross = float(rel @ fwd), float(fwd[0] * rel[1] - fwd[1] * rel[0])  # cross > 0: target on the left
    return f"{'front' if ahead > 0 else 'back'}-{'left' if cross > 0 else 'right'}"


def _gripper_above_below(gt, q):
    top = _objects(gt)[q["objects"][0]].box_corners_world[:, 2].max()
    higher = gt.robot_eef_pos[2] > top
    return [("above" if higher else "below"), ("lower" if higher else "higher"), ("no" if higher else "yes")][q["form"]]


def _approach_direction(gt, q):
    objs = _objects(gt)
    target = objs[q["objects"][0]].position_world[:2]
    nearest = min((o for o in gt.objects if o.name != q["objects"][0]),
                  key=lambda o: np.linalg.norm(o.position_world[:2] - target))
    dx, dy = nearest.position_world[:2] - target
    # +x points away from the robot; the robot faces +x, so its left is +y.
    side = ("far" if dx > 0 else "near") if abs(dx) > abs(dy) else ("left" if dy > 0 else "right")
    return {"far": "near", "near": "far", "left": "right", "right": "left"}[side]


def _closest_to_robot(gt, q):
    dist = {o.name: np.linalg.norm((o.position_world - gt.robot_base_pos)[:2]) for o in gt.objects}
    return (min if q["relation"] == "closest" else max)(dist, key=dist.get)


def _camera_motion(gt, q):
    c1, c2 = q["cameras"]
    (r1, p1), (_, p2) = _pose(c1), _pose(c2)
    if q["form"] == 0:
        return "left" if _turn_left(c1, c2) else "right"
    along = float((p2 - p1) @ r1[:, 0 if q["form"] == 1 else 2])
    return ("right" if along > 0 else "left") if q["form"] == 1 else ("forward" if along > 0 else "backward")


def _multiview_object_relation(gt, q):
    objs = [_objects(gt)[n].position_world for n in q["objects"]]
    if q["form"] == 0:
        values = [np.linalg.norm(_pose(c)[1] - objs[0]) for c in q["cameras"]]
    elif q["form"] == 1:
        values = [_uv(objs[0], c)[0] - _uv(objs[1], c)[0] for c in q["cameras"]]
    else:
        values = [_depth(objs[0], c) - _depth(objs[1], c) for c in q["cameras"]]
    if q["form"] != 0:
        assert (values[0] < 0) != (values[1] < 0), "the relation must hold in exactly one image"
    return f"image {int(np.argmin(values)) + 1}"


def _first_frame(point, cameras) -> float:
    return next((i for i, c in enumerate(cameras) if _inside(point, c)), math.inf)


def _appearance_order(gt, q):
    objs = _objects(gt)
    first = {n: _first_frame(objs[n].position_world, q["cameras"]) for n in q["objects"]}
    ordered = sorted(first, key=first.get)
    if q["relation"] == "first":
        assert first[ordered[0]] < first[ordered[1]] and first[ordered[0]] < math.inf
        return ordered[0]
    assert first[ordered[0]] < first[ordered[1]] < math.inf
    return ordered[1]


def _point_correspondence_letter(gt, q) -> str:
    """The candidate letter that is the marked 3D point (the others must be clearly different points)."""
    [letter] = [k for k, p in q["candidates"].items() if np.allclose(p, q["point"], atol=1e-9)]
    for k, p in q["candidates"].items():
        assert k == letter or np.linalg.norm(np.subtract(p, q["point"])) >= 0.03
        assert _inside(p, q["cameras"][1])
    assert _inside(q["point"], q["cameras"][0])
    return letter


def _video_turn(gt, q):
    left = _turn_left(q["cameras"][0], q["cameras"][-1])
    return ("left" if left else "right") if q["form"] < 2 else ("counter-clockwise" if left else "clockwise")


CHOICE_CHECKS: dict[str, Callable] = {
    "depth_order_points": _depth_order_points,
    "closer_object": _closer_object,
    "left_right": _left_right,
    "relative_direction": _relative_direction,
    "gripper_above_below": _gripper_above_below,
    "approach_direction": _approach_direction,
    "closest_to_robot": _closest_to_robot,
    "camera_motion": _camera_motion,
    "multiview_object_relation": _multiview_object_relation,
    "appearance_order": _appearance_order,
    "video_camera_turn": _video_turn,
}


def _count_objects(gt, q):
    objs = gt.objects
    if q["form"] == 0:
        return len(objs)
    if q["form"] == 1:
        return sum(o.color_name == q["color"] for o in objs)
    ref = _objects(gt)[q["objects"][0]].position_world
    measure = (lambda p: _uv(p, q["camera"])[0]) if q["form"] == 2 else (lambda p: _depth(p, q["camera"]))
    return sum(measure(o.position_world) < measure(ref) for o in objs if o.name != q["objects"][0])


def _video_count(gt, q):
    if q["form"] == 0:
        return sum(_first_frame(o.position_world, q["cameras"]) < math.inf for o in gt.objects)
    cam = q["cameras"][-1 if q["form"] == 1 else 0]
    return sum(all(_inside(c, cam) for c in o.box_corners_world) for o in gt.objects)


def _object_size(gt, q):
    if q["object"] == "table":
        return 0.8  # robosuite's default table top is 0.8 x 0.8 x 0.05 m
    c = _objects(gt)[q["object"]].box_corners_world
    return max(np.linalg.norm(c[i] - c[j]) for i, j in ((0, 4), (0, 2), (0, 1)))


NUMBER_CHECKS: dict[str, Callable] = {
    "point_depth": lambda gt, q: _depth(q["point"], q["camera"]),
    "object_distance": lambda gt, q: np.linalg.norm(
        np.subtract(*(_objects(gt)[n].position_world for n in q["objects"]))
    ),
    "object_size": _object_size,
    "gripper_height": lambda gt, q: gt.robot_eef_pos[2] - gt.table_height,
    "count_objects": _count_objects,
    "video_count": _video_count,
}


def _check_boxes(gt, meta) -> None:
    q, objs = meta["query"], _objects(gt)
    entries = meta["ground_truth"]
    assert sorted(e["label"] for e in entries) == sorted(f"{objs[n].color_name} cube" for n in q["objects"])
    for entry in entries:
        obj = next(o for o in gt.objects if f"{o.color_name} cube" == entry["label"])
        expected = np.array([_cam_point(c, q["camera"]) for c in obj.box_corners_world])
        got = Box3D.from_vst(entry["bbox_3d"]).corners()
        # Same corner set (a cube's corners may be listed in another order): every corner has a twin within 1 mm.
        gaps = np.linalg.norm(got[:, None] - expected[None], axis=-1).min(axis=1)
        assert gaps.max() < 1e-3, (entry, gaps)


# --- tests -------------------------------------------------------------------------------------------------


def test_every_skill_produces_samples(generated) -> None:
    counts = Counter(s.meta_info["skill"] for s in _samples(generated))
    assert len(default_skill_names()) >= 15
    assert set(counts) == set(default_skill_names()), set(default_skill_names()) - set(counts)
    types = {s.type for s in _samples(generated)}
    assert types == {"single_image", "multi_image", "video"}


def test_every_answer_agrees_with_the_scene(generated) -> None:
    checked = Counter()
    for gt, samples in generated:
        for s in samples:
            meta, skill = s.meta_info, s.meta_info["skill"]
            if skill == "point_correspondence":
                assert meta["ground_truth"] == _point_correspondence_letter(gt, meta["query"]) == s.answer
            elif meta["answer_kind"] == "choice":
                expected = CHOICE_CHECKS[skill](gt, meta["query"])
                assert meta["options"][meta["ground_truth"]] == expected, (s.id, meta["options"], expected)
                assert s.answer == meta["ground_truth"]
            elif meta["answer_kind"] == "number":
                expected = NUMBER_CHECKS[skill](gt, meta["query"])
                assert meta["ground_truth"] == pytest.approx(expected, abs=6e-4), (s.id, expected)
                assert float(s.answer) == meta["ground_truth"]
            else:
                _check_boxes(gt, meta)
            checked[skill] += 1
    assert set(checked) == set(default_skill_names())


def test_perfect_answers_score_one(generated) -> None:
    for s in _samples(generated):
        assert score_answer(s.answer, s.meta_info) == pytest.approx(1.0, abs=1e-6), s.id
        reward = overall_reward(f"<think>checking</think>{s.answer}", s.meta_info)
        assert reward["accuracy"] == pytest.approx(1.0, abs=1e-6) and reward["format"] == 1.0, s.id


NUMBER_RE = re.compile(r"-?\d+(?:\.\d+)?")


def test_every_sample_carries_reasoning_for_the_cot_stage(generated) -> None:
    for s in _samples(generated):
        meta = s.meta_info
        steps = meta["reasoning"]
        assert isinstance(steps, list) and 2 <= len(steps) <= 5, (s.id, steps)
        assert all(isinstance(t, str) and t.strip().endswith(".") for t in steps), (s.id, steps)
        cot = to_cot_sample(s)
        text = cot.answer
        assert text.startswith("<think>") and text.endswith(s.answer), s.id
        assert format_reward(text) == 1.0, s.id
        assert overall_reward(text, meta)["accuracy"] == pytest.approx(1.0, abs=1e-6), s.id
        if meta["answer_kind"] == "choice":  # the conclusion names the answer's letter
            assert steps[-1].startswith(f"The answer is {meta['ground_truth']} ("), (s.id, steps[-1])
        elif meta["answer_kind"] == "number":  # the last number stated is the answer, with its rounding
            assert float(NUMBER_RE.findall(steps[-1])[-1]) == meta["ground_truth"], (s.id, steps[-1])


def test_reasoning_numbers_come_from_the_ground_truth(generated) -> None:
    checked = Counter()
    for _, samples in generated:
        for s in samples:
            skill, steps = s.meta_info["skill"], s.meta_info["reasoning"]
            if skill == "object_distance":  # the stated difference vector has the answer's length
                diff = np.array([float(x) for x in NUMBER_RE.findall(steps[2])])
                assert np.linalg.norm(diff) == pytest.approx(s.meta_info["ground_truth"], abs=2e-3), steps
            elif skill == "box3d_grounding":  # the stated centre is the answer box's centre
                centre = [float(x) for x in NUMBER_RE.findall(steps[1])[:3]]
                assert centre == s.meta_info["ground_truth"][0]["bbox_3d"][:3], steps
            else:
                continue
            checked[skill] += 1
    assert set(checked) == {"object_distance", "box3d_grounding"}, checked


def _samples_of(generated, skill: str):
    """``(objects by name, sample)`` for every generated sample of ``skill``, with its scene's ground truth."""
    for gt, samples in generated:
        for s in samples:
            if s.meta_info["skill"] == skill:
                yield gt, _objects(gt), s


def test_left_right_reasons_through_the_views_left_to_right_order(generated) -> None:
    """The reasoning first lists the view's objects from left to right (object_order's caption, a list a model can
    learn to write from the image alone) with the two named ones marked in the order met, restates the subject's
    mark, then claims the side that mark gives, the true one."""
    checked = 0
    for _, objs, s in _samples_of(generated, "left_right"):
        q, steps = s.meta_info["query"], s.meta_info["reasoning"]
        assert steps[0].startswith("From left to right: "), steps
        items = steps[0].removeprefix("From left to right: ").removesuffix(".").split(", ")
        listed = [item.removesuffix(" first").removesuffix(" second") for item in items]
        # Colours alone when no two listed objects share one (all the test scenes' objects differ in colour).
        assert len(set(listed)) == len(listed), steps
        names = [objs[n].color_name for n in q["objects"]]
        assert set(names) <= set(listed), steps
        u = {n: _uv(objs[n].position_world, q["camera"])[0] for n in q["objects"]}
        subject_left = u[q["objects"][0]] < u[q["objects"][1]]
        assert (listed.index(names[0]) < listed.index(names[1])) == subject_left, steps
        marked = [item for item in items if item.endswith((" first", " second"))]
        assert marked == [f"{n} {m}" for n, m in zip(sorted(names, key=listed.index), ("first", "second"),
                                                      strict=True)], steps
        mark = "first" if subject_left else "second"
        assert steps[1] == f"Asked: {names[0]} {mark}.", steps
        side = "left" if subject_left else "right"
        phrases = [f"the {objs[n].color_name} {objs[n].category}" for n in q["objects"]]
        assert steps[2] == f"So {phrases[0]} is to the {side} of {phrases[1]}.", steps
        checked += 1
    assert checked


def test_closer_object_reasons_through_the_views_near_to_far_order(generated) -> None:
    """closer_object reasons as left_right does, along depth: the view's objects nearest to farthest with the two
    named ones marked in the order met, the mark of the object the question names first (option A) restated, and
    the true claim of which of the two is closer."""
    checked = 0
    for _, objs, s in _samples_of(generated, "closer_object"):
        q, steps, options = s.meta_info["query"], s.meta_info["reasoning"], s.meta_info["options"]
        assert steps[0].startswith("From nearest to farthest: "), steps
        items = steps[0].removeprefix("From nearest to farthest: ").removesuffix(".").split(", ")
        listed = [item.removesuffix(" first").removesuffix(" second") for item in items]
        depths = {n: _depth(objs[n].position_world, q["camera"]) for n in (options["A"], options["B"])}
        subject, reference = (objs[options[k]].color_name for k in "AB")
        subject_nearer = depths[options["A"]] < depths[options["B"]]
        assert (listed.index(subject) < listed.index(reference)) == subject_nearer, steps
        mark = "first" if subject_nearer else "second"
        assert f"{subject} {mark}" in items and steps[1] == f"Asked: {subject} {mark}.", steps
        phrases = [f"the {objs[options[k]].color_name} {objs[options[k]].category}" for k in "AB"]
        relation = "closer" if subject_nearer else "farther"
        assert steps[2] == f"So {phrases[0]} is {relation} than {phrases[1]}.", steps
        checked += 1
    assert checked


def test_closest_to_robot_reasons_through_the_cubes_nearest_the_robot_first(generated) -> None:
    """closest_to_robot lists the cubes by horizontal distance from the robot's base, then names the end of that
    list the question asks for (its first for closest, its last for farthest): the answer."""
    checked = 0
    for gt, objs, s in _samples_of(generated, "closest_to_robot"):
        q, steps = s.meta_info["query"], s.meta_info["reasoning"]
        listed = steps[0].removeprefix("From nearest the robot to farthest: ").removesuffix(".").split(", ")
        dist = {objs[n].color_name: np.linalg.norm((objs[n].position_world - gt.robot_base_pos)[:2])
                for n in q["objects"]}
        assert listed == sorted(dist, key=dist.get), steps
        answer = objs[_closest_to_robot(gt, q)]
        end = "closest to" if q["relation"] == "closest" else "farthest from"
        assert answer.color_name == listed[0 if q["relation"] == "closest" else -1], steps
        assert steps[1] == f"So the {answer.color_name} {answer.category} is {end} the robot.", steps
        checked += 1
    assert checked


def test_depth_order_points_reasons_through_the_points_near_to_far_order(generated) -> None:
    """depth_order_points lists the two marked points from nearest the camera to farthest, then names the one the
    question asks for (the first for closer, the last for farther): the answer."""
    checked = 0
    for gt, _, s in _samples_of(generated, "depth_order_points"):
        q, steps = s.meta_info["query"], s.meta_info["reasoning"]
        depths = {label: _depth(p, q["camera"]) for label, p in q["points"].items()}
        listed = steps[0].removeprefix("From nearest to farthest: ").removesuffix(".").split(", ")
        assert listed == [f"point {label}" for label in sorted(depths, key=depths.get)], steps
        answer = _depth_order_points(gt, q)
        where = "closer to" if q["relation"] == "closer" else "farther from"
        assert listed[0 if q["relation"] == "closer" else -1] == f"point {answer}", steps
        assert steps[1] == f"So point {answer} is {where} the camera.", steps
        checked += 1
    assert checked


def test_multiview_relation_reasons_through_each_images_order(generated) -> None:
    """The left-of and nearer-than forms list each image's objects in that image's order (left to right, or nearest
    to farthest) with the two named ones marked as met, restate the subject's mark per image, and name the image
    where it comes first: the answer."""
    checked = 0
    for gt, objs, s in _samples_of(generated, "multiview_object_relation"):
        q, steps = s.meta_info["query"], s.meta_info["reasoning"]
        if q["form"] == 0:
            continue
        subject, reference = (objs[n].color_name for n in q["objects"])
        marks = []
        for i, cam in enumerate(q["cameras"]):
            axis = "from left to right" if q["form"] == 1 else "from nearest to farthest"
            items = steps[i].removeprefix(f"Image {i + 1}, {axis}: ").removesuffix(".").split(", ")
            listed = [item.removesuffix(" first").removesuffix(" second") for item in items]
            key = {n: (_uv(objs[n].position_world, cam)[0] if q["form"] == 1 else _depth(objs[n].position_world, cam))
                   for n in q["objects"]}
            subject_first = key[q["objects"][0]] < key[q["objects"][1]]
            assert (listed.index(subject) < listed.index(reference)) == subject_first, steps
            marks.append("first" if subject_first else "second")
        assert steps[2] == f"Asked: {subject} {marks[0]} in image 1, {marks[1]} in image 2.", steps
        answer = _multiview_object_relation(gt, q)
        assert steps[3].startswith(f"So only {answer} shows the {subject} "), steps
        assert marks[int(answer[-1]) - 1] == "first", steps
        checked += 1
    assert checked


def test_samples_follow_the_schema_and_images_decode(generated) -> None:
    samples = _samples(generated)
    assert len({s.id for s in samples}) == len(samples)
    for s in samples:
        meta = s.meta_info
        assert s.data_source == "vst_sim/tabletop" and s.id.startswith(f"{meta['skill']}/")
        assert {"skill", "answer_kind", "ground_truth"} <= set(meta)
        assert len(s.images) == IMAGES_PER_TYPE[s.type], s.id
        for data in s.images:
            image = Image.open(io.BytesIO(data))
            assert image.format == "PNG" and image.size == (IMAGE_SIZE, IMAGE_SIZE)
        if meta["answer_kind"] in ("boxes", "number") and meta["skill"] not in ("count_objects", "video_count"):
            assert "field of view" in s.question, s.id  # metric questions carry VST's FoV prompt


def test_parquet_round_trip(generated, tmp_path) -> None:
    samples = _samples(generated)
    assert write_parquet(samples, tmp_path / "spatial.parquet") == len(samples)
    assert list(read_parquet(tmp_path / "spatial.parquet")) == samples


def test_same_seed_gives_identical_samples(generated) -> None:
    first_scene = generated[0][1]
    again = generate_dataset(1, SEED, image_size=IMAGE_SIZE)  # same process, env reused after other scenes
    assert again == first_scene
    # A skill's samples do not depend on which other skills run.
    only = generate_dataset(1, SEED, image_size=IMAGE_SIZE, skills=["left_right"])
    assert only == [s for s in first_scene if s.meta_info["skill"] == "left_right"]
    with pytest.raises(KeyError, match="left_right"):
        generate_dataset(1, SEED, skills=["no_such_skill"])


def test_two_way_answers_are_balanced() -> None:
    samples = generate_dataset(20, 40, image_size=IMAGE_SIZE, skills=["left_right", "closer_object"])
    for skill in ("left_right", "closer_object"):
        chosen = [s for s in samples if s.meta_info["skill"] == skill]
        assert len(chosen) >= 40, (skill, len(chosen))
        letters = Counter(s.meta_info["ground_truth"] for s in chosen)
        assert set(letters) == {"A", "B"} and all(0.25 <= n / len(chosen) <= 0.75 for n in letters.values()), letters
    lr = [s for s in samples if s.meta_info["skill"] == "left_right" and s.meta_info["query"]["form"] == "left_right"]
    words = Counter(s.meta_info["options"][s.meta_info["ground_truth"]] for s in lr)
    assert all(0.25 <= words[w] / len(lr) <= 0.75 for w in ("left", "right")), words


def test_cli_writes_a_readable_file(tmp_path, capsys) -> None:
    out = tmp_path / "train.parquet"
    args = parse_args(["--num-scenes", "1", "--seed", "5", "--out", str(out), "--skills", "count_objects",
                       "--image-size", str(IMAGE_SIZE)])
    assert run(args) == 0
    assert "samples/s" in capsys.readouterr().out
    back = list(read_parquet(out))
    assert back and {s.meta_info["skill"] for s in back} == {"count_objects"}
    assert run(parse_args(["--num-scenes", "1", "--out", str(out), "--skills", "bogus"])) == 2


def test_max_per_scene_overrides_each_skills_cap() -> None:
    default = generate_dataset(1, SEED, image_size=IMAGE_SIZE, skills=["left_right", "object_size"])
    more = generate_dataset(1, SEED, image_size=IMAGE_SIZE, skills=["left_right", "object_size"], max_per_scene=5)
    count = lambda samples, skill: sum(s.meta_info["skill"] == skill for s in samples)  # noqa: E731
    assert count(default, "left_right") == 2 and count(default, "object_size") == 1  # the skills' own caps
    assert count(more, "left_right") == 5 and count(more, "object_size") > 1
    assert len({s.meta_info["query"]["view"] + str(s.meta_info["query"]["objects"]) for s in more
                if s.meta_info["skill"] == "left_right"}) == 5  # distinct questions, not repeats
    with pytest.raises(ValueError, match="max_per_scene"):
        generate_dataset(1, SEED, skills=["left_right"], max_per_scene=0)

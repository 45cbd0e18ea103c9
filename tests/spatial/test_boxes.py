"""VST 9-DoF boxes: Euler convention, round trips, exact rotated IoU (against hand values, Monte Carlo and Qhull),
and parsing model output without ever raising."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.optimize import linprog
from scipy.spatial import ConvexHull, HalfspaceIntersection
from scipy.spatial.transform import Rotation

from vst_vla.spatial.boxes import (
    Box3D,
    box_iou_3d,
    coerce_boxes,
    euler_to_matrix,
    intersection_volume,
    iou_matrix,
    matrix_to_euler,
    parse_boxes,
)


def vst(*values: float) -> Box3D:
    return Box3D.from_vst(list(values))


# --- Euler convention ----------------------------------------------------------------------------------------


def test_from_vst_matches_scipy_extrinsic_xyz_in_units_of_180_degrees() -> None:
    # VST's own tooling: Rotation.from_euler(seq="xyz", angles=[pitch, yaw, roll] * 180, degrees=True).
    rng = np.random.default_rng(0)
    for angles in rng.uniform(-1, 1, size=(20, 3)):
        expected = Rotation.from_euler("xyz", angles * 180.0, degrees=True).as_matrix()
        np.testing.assert_allclose(Box3D.from_vst([0, 0, 0, 1, 1, 1, *angles]).rotation, expected, atol=1e-12)


def test_each_angle_turns_about_its_camera_axis() -> None:
    # A 2 x 1 x 1 box (long along X). Turning 90° about the camera Y axis (yaw = 0.5) lays it along Z (depth),
    # about Z (roll = 0.5) along Y, while pitch (about X) leaves its long axis on X.
    def extent(box: Box3D) -> np.ndarray:
        corners = box.corners()
        return corners.max(axis=0) - corners.min(axis=0)

    np.testing.assert_allclose(extent(vst(0, 0, 0, 2, 1, 1, 0, 0.5, 0)), [1, 1, 2], atol=1e-12)
    np.testing.assert_allclose(extent(vst(0, 0, 0, 2, 1, 1, 0, 0, 0.5)), [1, 2, 1], atol=1e-12)
    np.testing.assert_allclose(extent(vst(0, 0, 0, 2, 1, 3, 0.5, 0, 0)), [2, 3, 1], atol=1e-12)
    # Ry(+90°) sends +X to -Z (right-handed, Y down).
    np.testing.assert_allclose(euler_to_matrix(0, math.pi / 2, 0) @ [1, 0, 0], [0, 0, -1], atol=1e-12)


def test_to_vst_round_trips_canonical_angles() -> None:
    rng = np.random.default_rng(1)
    for _ in range(50):
        values = [*rng.normal(size=3), *rng.uniform(0.1, 3, size=3)]
        values += [rng.uniform(-0.999, 1), rng.uniform(-0.499, 0.499), rng.uniform(-0.999, 1)]
        np.testing.assert_allclose(Box3D.from_vst(values).to_vst(), values, atol=1e-9)


@pytest.mark.parametrize(
    "angles",
    [(0.3, 0.8, -0.2), (1.0, 0.0, 1.0), (-1.0, -0.7, 0.4), (0.3, 0.5, 0.1), (0.2, -0.5, -0.6), (2.5, -3.1, 7.0)],
)
def test_from_vst_of_to_vst_is_the_same_rotation_even_for_non_canonical_angles(angles: tuple[float, ...]) -> None:
    # (0.3, 0.5, 0.1) and (0.2, -0.5, -0.6) sit at gimbal lock (|yaw| = 90°), where roll is set to 0.
    box = vst(1, 2, 3, 1, 2, 3, *angles)
    again = Box3D.from_vst(box.to_vst())
    np.testing.assert_allclose(again.rotation, box.rotation, atol=1e-9)
    pitch, yaw, roll = (a / math.pi for a in matrix_to_euler(box.rotation))
    assert -1 < pitch <= 1 and -0.5 <= yaw <= 0.5 and -1 < roll <= 1


def test_corners_volume_and_halfspaces_of_an_axis_aligned_box() -> None:
    box = vst(1, 2, 3, 2, 4, 6, 0, 0, 0)
    corners = box.corners()
    np.testing.assert_allclose(corners[0], [0, 0, 0])  # all bits clear: centre - size / 2
    np.testing.assert_allclose(corners[7], [2, 4, 6])
    np.testing.assert_allclose(corners[4], [2, 0, 0])  # bit 2 is x
    np.testing.assert_allclose(corners[1], [0, 0, 6])  # bit 0 is z
    assert box.volume == pytest.approx(48.0)
    normals, offsets = box.halfspaces()
    assert np.all(normals @ corners.T <= offsets[:, None] + 1e-12)
    assert np.all(normals @ box.center < offsets)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"center": [0, 0], "size": [1, 1, 1]}, "shape"),
        ({"center": [0, 0, 0], "size": [1, -1, 1]}, "non-negative"),
        ({"center": [0, 0, np.nan], "size": [1, 1, 1]}, "finite"),
        ({"center": [0, 0, 0], "size": [1, 1, 1], "rotation": np.diag([1.0, 1.0, -1.0])}, "rotation"),
        ({"center": [0, 0, 0], "size": [1, 1, 1], "rotation": 2 * np.eye(3)}, "rotation"),
    ],
)
def test_invalid_boxes_are_refused(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Box3D(**kwargs)


def test_box_arrays_are_read_only_copies() -> None:
    center = np.zeros(3)
    box = Box3D(center=center, size=np.ones(3))
    center[0] = 5.0
    assert box.center[0] == 0.0
    with pytest.raises(ValueError):
        box.size[0] = 2.0
    with pytest.raises(ValueError, match="9 numbers"):
        Box3D.from_vst([0, 0, 0, 1, 1, 1, 0, 0])


# --- IoU: hand-computed --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        # Unit cubes offset by 0.5 on x: intersection 0.5, union 1.5.
        ((0, 0, 0, 1, 1, 1, 0, 0, 0), (0.5, 0, 0, 1, 1, 1, 0, 0, 0), 1 / 3),
        # Identical rotated boxes.
        ((1, -2, 5, 1, 2, 3, 0.1, -0.2, 0.3), (1, -2, 5, 1, 2, 3, 0.1, -0.2, 0.3), 1.0),
        # A cube turned 90° about any axis is the same cube.
        ((0, 0, 0, 1, 1, 1, 0, 0, 0), (0, 0, 0, 1, 1, 1, 0, 0, 0.5), 1.0),
        ((0, 0, 0, 1, 1, 1, 0, 0, 0), (0, 0, 0, 1, 1, 1, 0.5, 0.5, 0), 1.0),
        # 2 x 1 x 1 against its 90° yaw: a 1 x 1 x 1 cross, union 2 + 2 - 1.
        ((0, 0, 0, 2, 1, 1, 0, 0, 0), (0, 0, 0, 2, 1, 1, 0, 0.5, 0), 1 / 3),
        # Unit cube against its 45° yaw: the cross-section is a regular octagon of area 2(sqrt2 - 1), and
        # IoU = 2(sqrt2 - 1) / (2 - 2(sqrt2 - 1)) = 1 / sqrt2.
        ((0, 0, 0, 1, 1, 1, 0, 0, 0), (0, 0, 0, 1, 1, 1, 0, 0.25, 0), 1 / math.sqrt(2)),
        # Disjoint, face-touching, edge-touching and corner-touching boxes.
        ((0, 0, 0, 1, 1, 1, 0, 0, 0), (3, 0, 0, 1, 1, 1, 0, 0, 0), 0.0),
        ((0, 0, 0, 1, 1, 1, 0, 0, 0), (1, 0, 0, 1, 1, 1, 0, 0, 0), 0.0),
        ((0, 0, 0, 1, 1, 1, 0, 0, 0), (1, 1, 0, 1, 1, 1, 0, 0, 0), 0.0),
        ((0, 0, 0, 1, 1, 1, 0, 0, 0), (1, 1, 1, 1, 1, 1, 0, 0, 0), 0.0),
        # Inside its bounding sphere but disjoint: a 45°-rolled cube next to a face.
        ((0, 0, 0, 1, 1, 1, 0, 0, 0), (1.3, 0.0, 0, 0.5, 0.5, 0.5, 0, 0, 0.25), 0.0),
        # Contained: 0.5^3 / 1.
        ((0, 0, 0, 1, 1, 1, 0, 0, 0), (0, 0, 0, 0.5, 0.5, 0.5, 0, 0, 0), 0.125),
        # Contained and flush against a face (a clip plane that cuts nothing must not add a duplicate cap).
        ((0, 0, 0, 1, 1, 1, 0, 0, 0), (0.25, 0, 0, 0.5, 0.5, 0.5, 0, 0, 0), 0.125),
        # Same footprint, shifted half a height along Y (down): 0.5 / 1.5.
        ((0, 0, 0, 1, 1, 1, 0, 0.3, 0), (0, 0.5, 0, 1, 1, 1, 0, 0.3, 0), 1 / 3),
    ],
)
def test_iou_hand_computed(a: tuple[float, ...], b: tuple[float, ...], expected: float) -> None:
    box_a, box_b = vst(*a), vst(*b)
    assert box_iou_3d(box_a, box_b) == pytest.approx(expected, abs=1e-9)
    assert box_iou_3d(box_b, box_a) == pytest.approx(expected, abs=1e-9)


def test_degenerate_and_huge_boxes_give_zero_not_errors() -> None:
    flat = vst(0, 0, 0, 1, 0, 1, 0, 0, 0)
    cube = vst(0, 0, 0, 1, 1, 1, 0, 0, 0)
    assert box_iou_3d(flat, cube) == 0.0
    assert box_iou_3d(flat, flat) == 0.0
    huge = vst(0, 0, 0, 1e200, 1e200, 1e200, 0, 0, 0)  # volume overflows to inf
    assert box_iou_3d(huge, cube) == 0.0


def test_iou_is_scale_invariant_for_millimetre_and_kilometre_boxes() -> None:
    a, b = (0, 0, 0, 1, 1, 1, 0.1, 0.2, 0.3), (0.3, 0.1, -0.2, 1.2, 0.8, 1, -0.2, 0.1, 0.4)
    reference = box_iou_3d(vst(*a), vst(*b))
    for scale in (1e-3, 1e3):
        scaled_a = [v * scale for v in a[:6]] + list(a[6:])
        scaled_b = [v * scale for v in b[:6]] + list(b[6:])
        assert box_iou_3d(Box3D.from_vst(scaled_a), Box3D.from_vst(scaled_b)) == pytest.approx(reference, abs=1e-9)


# --- IoU: independent checks ---------------------------------------------------------------------------------


def _random_overlapping_pair(rng: np.random.Generator) -> tuple[list[float], list[float]]:
    a = [*rng.uniform(-0.3, 0.3, 3), *rng.uniform(0.5, 2.0, 3), *rng.uniform(-1, 1, 3)]
    b = [*rng.uniform(-0.3, 0.3, 3), *rng.uniform(0.5, 2.0, 3), *rng.uniform(-1, 1, 3)]
    return a, b


def _monte_carlo_intersection(a: list[float], b: list[float], n: int, rng: np.random.Generator) -> float:
    """Sample uniformly in A, count the fraction inside B. Uses only scipy's rotations, not Box3D's geometry."""
    ra = Rotation.from_euler("xyz", np.array(a[6:]) * 180, degrees=True)
    rb = Rotation.from_euler("xyz", np.array(b[6:]) * 180, degrees=True)
    local = rng.uniform(-0.5, 0.5, size=(n, 3)) * a[3:6]
    points = ra.apply(local) + a[:3]
    in_b_frame = rb.inv().apply(points - b[:3])
    inside = np.all(np.abs(in_b_frame) <= np.array(b[3:6]) / 2, axis=1)
    return float(inside.mean()) * float(np.prod(a[3:6]))


def test_rotated_iou_matches_monte_carlo() -> None:
    rng = np.random.default_rng(2)
    n = 200_000
    for _ in range(6):
        a, b = _random_overlapping_pair(rng)
        vol_a, vol_b = np.prod(a[3:6]), np.prod(b[3:6])
        inter_mc = _monte_carlo_intersection(a, b, n, rng)
        iou_mc = inter_mc / (vol_a + vol_b - inter_mc)
        # Binomial standard error of the intersection is vol_a * sqrt(p(1-p)/n) <= vol_a / (2 sqrt n);
        # 5 of those, carried into IoU (d IoU / d inter <= 1 / union * (1 + IoU)), bound the error.
        union = vol_a + vol_b - inter_mc
        tol = 5 * vol_a / (2 * math.sqrt(n)) * 2 / union
        assert box_iou_3d(Box3D.from_vst(a), Box3D.from_vst(b)) == pytest.approx(iou_mc, abs=tol)


def test_rotated_intersection_volume_matches_qhull_halfspace_intersection() -> None:
    rng = np.random.default_rng(3)
    for _ in range(40):
        a, b = _random_overlapping_pair(rng)
        box_a, box_b = Box3D.from_vst(a), Box3D.from_vst(b)
        normals = np.vstack([box_a.halfspaces()[0], box_b.halfspaces()[0]])
        offsets = np.concatenate([box_a.halfspaces()[1], box_b.halfspaces()[1]])
        # Chebyshev centre (deepest interior point) by LP: max r s.t. n.x + r |n| <= d.
        res = linprog(
            c=[0, 0, 0, -1],
            A_ub=np.hstack([normals, np.ones((12, 1))]),
            b_ub=offsets,
            bounds=[(None, None)] * 3 + [(0, None)],
        )
        if res.x[3] < 1e-6:
            assert intersection_volume(box_a, box_b) == pytest.approx(0.0, abs=1e-9)
            continue
        hull = HalfspaceIntersection(np.hstack([normals, -offsets[:, None]]), res.x[:3])
        expected = ConvexHull(hull.intersections).volume
        assert intersection_volume(box_a, box_b) == pytest.approx(expected, rel=1e-9, abs=1e-12)


def test_iou_matrix_shapes() -> None:
    a, b = vst(0, 0, 0, 1, 1, 1, 0, 0, 0), vst(0.5, 0, 0, 1, 1, 1, 0, 0, 0)
    np.testing.assert_allclose(iou_matrix([a, b], [a]), [[1.0], [1 / 3]])
    assert iou_matrix([], [a]).shape == (0, 1)
    assert iou_matrix([a, b], []).shape == (2, 0)


# --- parsing -------------------------------------------------------------------------------------------------

BOX_A = [0.1, 0.2, 1.5, 0.3, 0.4, 0.5, 0.0, 0.25, 0.0]
BOX_B = [-0.5, 0.1, 2.0, 1.0, 1.0, 1.0, 0.1, 0.0, -0.1]


def _vst_lists(boxes: list[Box3D]) -> list[list[float]]:
    return [box.to_vst() for box in boxes]


@pytest.mark.parametrize(
    "text",
    [
        '[{"bbox_3d": %s, "label": "cube"}, {"bbox_3d": %s, "label": "mug"}]' % (BOX_A, BOX_B),
        'Here you go:\n```json\n[\n\t{"bbox_3d": %s, "label": "cube"},\n\t{"bbox_3d": %s, "label": "mug"}\n]\n```'
        % (BOX_A, BOX_B),
        "[{'bbox_3d': %s, 'label': 'cube'}, {'bbox_3d': %s, 'label': 'mug'}]" % (BOX_A, BOX_B),
        "The boxes are [%s, %s]." % (BOX_A, BOX_B),
        # Invalid entries are dropped, valid ones kept.
        '[{"bbox_3d": %s}, {"bbox_3d": [1, 2, 3]}, {"label": "x"}, {"bbox_3d": %s}]' % (BOX_A, BOX_B),
    ],
)
def test_parse_boxes_reads_json_lists(text: str) -> None:
    np.testing.assert_allclose(_vst_lists(parse_boxes(text)), [BOX_A, BOX_B], atol=1e-9)


def test_parse_boxes_reads_single_boxes_and_labels() -> None:
    (box,) = parse_boxes(str(BOX_A))
    np.testing.assert_allclose(box.to_vst(), BOX_A, atol=1e-9)
    (box,) = parse_boxes('{"bbox_3d": %s, "label": "cube"}' % BOX_B)
    assert box.label == "cube"
    np.testing.assert_allclose(box.to_vst(), BOX_B, atol=1e-9)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "no boxes here",
        "[1, 2, 3]",
        '{"bbox_3d": [1, 2]}',
        "[[1, 2, 3, 4, 5, 6, 7, 8, 'x']]",
        "[1, 2, 3, -4, 5, 6, 7, 8, 9]",  # negative size
        "[1, 2, 3, 4, 5, 6, 7, 8, NaN]",
        "[1, 2, 3, 4, 5, 6, 7, 8, true]",
        "[%s]" % ", ".join(["10" + "0" * 400] * 9),  # integers too big for a float
        "[" * 5000,
        "[" * 2000 + "]" * 2000,
        '```json\n[{"bbox_3d": [0.1, 0.2\n```',
        "{'a': {1, 2}}",
    ],
)
def test_parse_boxes_gives_empty_list_on_malformed_text(text: str) -> None:
    assert parse_boxes(text) == []


def test_parse_boxes_never_raises_on_any_prefix() -> None:
    text = '```json\n[{"bbox_3d": %s, "label": "cube"}, {"bbox_3d": %s}]\n```' % (BOX_A, BOX_B)
    for end in range(len(text) + 1):
        assert isinstance(parse_boxes(text[:end]), list)
    assert parse_boxes(None) == []  # type: ignore[arg-type]


def test_coerce_boxes_accepts_decoded_values() -> None:
    box = Box3D.from_vst(BOX_A)
    assert coerce_boxes([box]) == [box]
    assert len(coerce_boxes([BOX_A, {"bbox_3d": BOX_B}])) == 2
    assert coerce_boxes(5) == []
    assert coerce_boxes(None) == []

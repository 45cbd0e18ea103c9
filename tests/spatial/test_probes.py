"""The named-colour probes: every answer letter agrees with what was drawn, and the question names real squares."""

import numpy as np
import pytest
from scipy import ndimage

from vst_vla.spatial.markers import MARKER_COLOR
from vst_vla.spatial.probes import NAMED_COLOURS, make_probe_sample


def _squares(description: str) -> dict[str, str]:
    """colour -> column third, from a probe's dense caption ("2: red small left top, blue small right middle")."""
    return {part.split()[0]: part.split()[2] for part in description.split(": ", 1)[1].split(", ")}


@pytest.mark.parametrize("kind", ["relation_named", "relation_crowd"])
def test_named_relation_letter_follows_the_drawn_columns(kind: str) -> None:
    rng = np.random.default_rng(3)
    counts = set()
    for _ in range(200):
        s = make_probe_sample(kind, rng, 128, 14)
        first, second = s.question.splitlines()[0].split(" square")[0:2]
        first, second = first.rsplit(" ", 1)[1], second.rsplit(" ", 1)[1]
        drawn = np.asarray(s.image)
        xs = {c: np.nonzero((drawn == NAMED_COLOURS[c]).all(-1).any(0))[0].mean() for c in (first, second)}
        assert s.letter == ("A" if xs[first] < xs[second] else "B")
        counts.add(len(_squares(s.description)))
    assert counts == ({2} if kind == "relation_named" else {2, 3, 4, 5})


def test_exists_letter_says_whether_the_named_colour_was_drawn() -> None:
    rng = np.random.default_rng(4)
    letters = []
    for _ in range(200):
        s = make_probe_sample("exists", rng, 128, 14)
        asked = s.question.split("square")[0].split()[-1]
        present = bool((np.asarray(s.image) == NAMED_COLOURS[asked]).all(-1).any())
        assert s.letter == ("A" if present else "B")
        letters.append(s.letter)
    assert 0.35 < letters.count("A") / len(letters) < 0.65


def test_depth_crowd_letter_and_order_follow_the_drawn_rows() -> None:
    """Lower squares are nearer and drawn larger; the letter says whether the first named square is the nearer."""
    rng = np.random.default_rng(5)
    letters = []
    for _ in range(200):
        s = make_probe_sample("depth_crowd", rng, 128, 14)
        first, second = (w.rsplit(" ", 1)[1] for w in s.question.splitlines()[0].split(" square")[0:2])
        drawn = np.asarray(s.image)
        rows = {c: np.nonzero((drawn == NAMED_COLOURS[c]).all(-1).any(1))[0] for c in s.near_to_far}
        bottoms = [rows[c].max() for c in s.near_to_far]
        assert bottoms == sorted(bottoms, reverse=True) and len(set(bottoms)) == len(bottoms)
        sides = [len(rows[c]) for c in s.near_to_far]
        assert sides == sorted(sides, reverse=True)
        assert s.letter == ("A" if rows[first].max() > rows[second].max() else "B")
        assert 2 <= len(s.near_to_far) <= 4 and {first, second} <= set(s.near_to_far)
        letters.append(s.letter)
    assert 0.35 < letters.count("A") / len(letters) < 0.65


def _dots(drawn: np.ndarray) -> list[tuple[float, float, int]]:
    """(u, v, ink of its label) per marker dot, top to bottom. The dots are the marker-coloured pixels, grouped by
    row (each sits in its own grid row). A label is the white box whose bottom-left corner is just up-right of its
    dot (the largest white blobs: a dot's white outline is a thin ring); its ink is the dark pixels inside it."""
    ys, xs = np.nonzero((drawn == MARKER_COLOR).all(-1))
    order = np.argsort(ys)
    groups = np.split(order, np.nonzero(np.diff(ys[order]) > 8)[0] + 1)
    blobs, _ = ndimage.label((drawn == 255).all(-1))
    boxes = [b for b in ndimage.find_objects(blobs) if (b[0].stop - b[0].start) * (b[1].stop - b[1].start) > 60]
    dots = []
    for g in groups:
        u, v = xs[g].mean(), ys[g].mean()
        box = min(boxes, key=lambda b: abs(b[0].stop - v) + abs(b[1].start - u))
        dots.append((u, v, int((drawn[box].max(-1) < 128).sum())))
    return dots


def test_points_crowd_letter_and_order_follow_the_labelled_dots() -> None:
    """Two labelled dots in distinct rows: the lower is nearer; the label with less ink is "1" (a "2" has more)."""
    rng = np.random.default_rng(6)
    letters = []
    for _ in range(100):
        s = make_probe_sample("points_crowd", rng, 128, 14)
        dots = _dots(np.asarray(s.image))
        assert len(dots) == 2, dots
        top, bottom = dots  # the bottom dot is the nearer one
        nearest_label = "1" if bottom[2] < top[2] else "2"
        assert s.near_to_far == (nearest_label, "2" if nearest_label == "1" else "1")
        assert s.letter == ("A" if nearest_label == "1" else "B")
        letters.append(s.letter)
    assert 0.35 < letters.count("A") / len(letters) < 0.65

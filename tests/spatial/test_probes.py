"""The named-colour probes: every answer letter agrees with what was drawn, and the question names real squares."""

import numpy as np
import pytest

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

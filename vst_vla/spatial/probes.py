"""Controlled perception probes: synthetic images whose answer needs one visual property, nothing else.

Used by ``experiments/perception/`` to measure which levers make perception learnable, and by the tests to keep
that learnability from regressing (a position probe the default tiny base must learn).

Each probe draws grey canvases with coloured squares and asks one two-to-four-option question. The answer is a
function of a single property, so a probe that stays at chance isolates what the model cannot see:

- ``colour``: one square, red or blue.
- ``left_right`` / ``top_bottom``: one square (random colour) in the left or right (top or bottom) third.
- ``size``: one square, small or large.
- ``count``: one to three squares.
- ``relation``: a red and a blue square; is the red one left of the blue one?
- ``relation_named``: the same question about two squares of any two colours, named in the question: the answer
  needs the colour words bound to the squares they name (the engine's questions name their objects).
- ``relation_crowd``: ``relation_named`` among zero to three distractor squares of other colours.
- ``depth_crowd``: two named squares and zero to two others, each in its own row of a 4x4 grid and larger the
  lower it sits (a table seen from above at an angle: lower in the image is nearer, and nearer looks larger); is
  the first named square nearer or farther than the second? ``near_to_far`` lists the colours bottom to top.
- ``points_crowd``: two points marked with the labels 1 and 2 (the engine's markers, :mod:`.markers`) and zero to
  two squares, each in its own row of a 4x4 grid, squares sized as in ``depth_crowd``; is point 1 nearer or farther
  than point 2? The engine's depth_order_points on a canvas: reading the labels, then the rows. ``near_to_far``
  lists the labels bottom to top.
- ``exists``: two to four squares of distinct colours; is there a square of the named colour? Binding a colour
  word to image content with no position involved.

Options are fixed per probe ("A. Red / B. Blue"), so the letter is a direct function of the property. Samples are
drawn fresh from a seeded generator (``sample_batch``), so training never repeats an image; held-out sets use
seeds no training batch uses. :func:`probe_dataset` writes them as VST samples (skill ``probe_<kind>``), so the SFT
stage, ``spatial.evaluate`` and the image-ablation report take them like any other spatial QA file.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
from PIL import Image

from vst_vla.spatial.markers import mark_image
from vst_vla.spatial.schema import SpatialSample, Turn

COLOURS = {"red": (200, 30, 30), "green": (30, 160, 40), "blue": (30, 60, 200), "yellow": (220, 200, 20)}
# The named-relation probes draw from a wider palette, so a colour word picks one square among up to five.
NAMED_COLOURS = {**COLOURS, "purple": (130, 40, 160), "orange": (240, 120, 20), "black": (20, 20, 20),
                 "white": (245, 245, 245)}
SUFFIX = "Reply with the letter of the correct option."


@dataclass(frozen=True)
class ProbeSample:
    """One probe question: the image, the user text (after the image), the answer letter and its option count."""

    image: Image.Image
    question: str
    letter: str
    n_options: int
    description: str = ""
    # depth_crowd: the colours from the nearest (lowest) square to the farthest; points_crowd: the point labels
    near_to_far: tuple[str, ...] = ()
    kind: str = ""


def _canvas(rng: np.random.Generator, size: int) -> np.ndarray:
    return np.full((size, size, 3), 170, dtype=np.uint8) + rng.integers(0, 12, (size, size, 1), dtype=np.uint8)


def _place(rng: np.random.Generator, size: int, square: int, lo: float = 0.0, hi: float = 1.0) -> int:
    """A top-left coordinate in [lo, hi) of the canvas, keeping the square inside with a 2 px margin."""
    start = max(2, int(lo * size))
    stop = min(size - 2 - square, int(hi * size) - square)
    return int(rng.integers(start, max(start + 1, stop)))


def _draw(canvas: np.ndarray, x: int, y: int, square: int, colour: str, drawn: list | None = None) -> None:
    canvas[y:y + square, x:x + square] = NAMED_COLOURS[colour]
    if drawn is not None:
        drawn.append((colour, x, y, square))


def describe(drawn: list[tuple[str, int, int, int]], size: int, small: int) -> str:
    """A dense caption: every square's colour, size, column third and row third, left to right.

    The alignment lever: many supervised tokens per image, each tied to one visual property.
    """
    thirds = lambda v: ("left", "middle", "right")[min(2, int(3 * v / size))]  # noqa: E731
    rows = lambda v: ("top", "middle", "bottom")[min(2, int(3 * v / size))]  # noqa: E731
    parts = [f"{colour} {'small' if side <= small else 'large'} {thirds(x + side / 2)} {rows(y + side / 2)}"
             for colour, x, y, side in sorted(drawn, key=lambda d: d[1])]
    return f"{len(drawn)}: " + ", ".join(parts)


def _question(text: str, options: list[str]) -> str:
    lines = [text] + [f"{chr(65 + i)}. {o}" for i, o in enumerate(options)] + [SUFFIX]
    return "\n".join(lines)


def _in_cell(rng: np.random.Generator, size: int, square: int, grid: int, c: int, margin: int = 2) -> tuple[int, int]:
    """A random top-left corner for a square inside cell ``c`` (row-major) of a ``grid`` x ``grid`` split of the
    canvas, ``margin`` px from the cell's far edges: squares in different cells never overlap."""
    cell = size // grid
    x = (c % grid) * cell + int(rng.integers(2, max(3, cell - square - margin)))
    y = (c // grid) * cell + int(rng.integers(2, max(3, cell - square - margin)))
    return x, y


def _named_relation(canvas: np.ndarray, rng: np.random.Generator, size: int, square: int, n_distractors: int,
                    drawn: list) -> tuple[tuple[str, str], int]:
    """Two named squares in different columns of a 4x4 grid plus ``n_distractors`` others, all colours distinct.

    Returns the two colour names (in question order) and the label: 0 if the first is left of the second."""
    grid = 4
    colours = [str(c) for c in rng.permutation(list(NAMED_COLOURS))[: 2 + n_distractors]]
    while True:  # rejection: the named pair must sit in different columns, so "left of" is unambiguous
        cells = rng.permutation(grid * grid)[: 2 + n_distractors]
        if cells[0] % grid != cells[1] % grid:
            break
    for c, colour in zip(cells, colours):
        _draw(canvas, *_in_cell(rng, size, square, grid, c, margin=1), square, colour, drawn)
    return (colours[0], colours[1]), int(cells[0] % grid > cells[1] % grid)


def _depth_relation(canvas: np.ndarray, rng: np.random.Generator, size: int, square: int, n_distractors: int,
                    drawn: list) -> tuple[tuple[str, str], int, tuple[str, ...]]:
    """Two named squares plus ``n_distractors`` others (at most two), each in its own row of a 4x4 grid and
    ``square - 4 + 2 * row`` px wide (row 0 at the top), all colours distinct.

    Returns the two colour names (in question order), the label (0 if the first is nearer, i.e. lower) and every
    colour from the nearest square to the farthest."""
    grid = 4
    colours = [str(c) for c in rng.permutation(list(NAMED_COLOURS))[: 2 + n_distractors]]
    rows = rng.permutation(grid)[: 2 + n_distractors]
    for row, colour in zip(rows, colours):
        side = square - 4 + 2 * int(row)
        x, y = _in_cell(rng, size, side, grid, int(row) * grid + int(rng.integers(grid)), margin=1)
        _draw(canvas, x, y, side, colour, drawn)
    order = tuple(colour for _, colour in sorted(zip(rows, colours), key=lambda rc: -int(rc[0])))
    return (colours[0], colours[1]), int(rows[0] < rows[1]), order


def _depth_points(canvas: np.ndarray, rng: np.random.Generator, size: int, square: int, n_squares: int,
                  drawn: list) -> tuple[np.ndarray, int, tuple[str, str]]:
    """Points 1 and 2 and ``n_squares`` squares (at most two), each in its own row of a 4x4 grid (squares
    ``square - 4 + 2 * row`` px wide, as in ``depth_crowd``). Returns the marked canvas, the label (0 if point 1 is
    nearer, i.e. lower) and the labels from the nearest point to the farthest."""
    grid, cell = 4, size // 4
    rows = [int(r) for r in rng.permutation(grid)[: 2 + n_squares]]
    for row, colour in zip(rows[2:], rng.permutation(list(NAMED_COLOURS))[:n_squares]):
        side = square - 4 + 2 * row
        _draw(canvas, *_in_cell(rng, size, side, grid, row * grid + int(rng.integers(grid)), margin=1), side,
              str(colour), drawn)
    # The dot anywhere in its row, clear of the canvas edge; the label sits up-right of it, as in the engine.
    marks = [(np.array([rng.uniform(6, size - 6), row * cell + rng.uniform(cell / 2, cell - 4)]), label)
             for row, label in zip(rows[:2], ("1", "2"))]
    near_to_far = ("1", "2") if rows[0] > rows[1] else ("2", "1")
    return mark_image(canvas, marks), int(rows[0] < rows[1]), near_to_far


def make_probe_sample(kind: str, rng: np.random.Generator, size: int, square: int) -> ProbeSample:
    """One fresh sample of probe ``kind`` on a ``size`` px canvas with ``square`` px squares."""
    canvas = _canvas(rng, size)
    drawn: list = []
    near_to_far: tuple[str, ...] = ()
    label = int(rng.integers(2))
    n_options = 2
    if kind == "colour":
        colour = ("red", "blue")[label]
        _draw(canvas, _place(rng, size, square), _place(rng, size, square), square, colour, drawn)
        question = _question("Is the square red or blue?", ["Red", "Blue"])
    elif kind in ("left_right", "top_bottom"):
        colour = list(COLOURS)[int(rng.integers(len(COLOURS)))]
        along = _place(rng, size, square, 0.0, 1 / 3) if label == 0 else _place(rng, size, square, 2 / 3, 1.0)
        across = _place(rng, size, square)
        x, y = (along, across) if kind == "left_right" else (across, along)
        _draw(canvas, x, y, square, colour, drawn)
        words = ["Left", "Right"] if kind == "left_right" else ["Top", "Bottom"]
        question = _question(f"Is the {colour} square in the {words[0].lower()} or the {words[1].lower()} part "
                             "of the image?", words)
    elif kind == "size":
        side = square if label == 0 else 2 * square
        colour = list(COLOURS)[int(rng.integers(len(COLOURS)))]
        _draw(canvas, _place(rng, size, side), _place(rng, size, side), side, colour, drawn)
        question = _question(f"Is the {colour} square small or large?", ["Small", "Large"])
    elif kind == "count":
        label = int(rng.integers(3))
        n_options = 3
        for c in rng.permutation(9)[: label + 1]:  # one square per cell of a 3x3 grid: they never overlap
            x, y = _in_cell(rng, size, square, 3, c)
            _draw(canvas, x, y, square, list(COLOURS)[int(rng.integers(len(COLOURS)))], drawn)
        question = _question("How many squares are in the image?", ["One", "Two", "Three"])
    elif kind == "relation":
        left_x = _place(rng, size, square, 0.0, 0.45)
        right_x = _place(rng, size, square, 0.55, 1.0)
        red_x, blue_x = (left_x, right_x) if label == 0 else (right_x, left_x)
        _draw(canvas, red_x, _place(rng, size, square), square, "red", drawn)
        _draw(canvas, blue_x, _place(rng, size, square), square, "blue", drawn)
        question = _question("Is the red square left or right of the blue square?", ["Left", "Right"])
    elif kind in ("relation_named", "relation_crowd"):
        n_distractors = int(rng.integers(4)) if kind == "relation_crowd" else 0
        named, label = _named_relation(canvas, rng, size, square, n_distractors, drawn)
        question = _question(f"Is the {named[0]} square left or right of the {named[1]} square?", ["Left", "Right"])
    elif kind == "depth_crowd":
        named, label, near_to_far = _depth_relation(canvas, rng, size, square, int(rng.integers(3)), drawn)
        question = _question(f"Is the {named[0]} square nearer or farther than the {named[1]} square?",
                             ["Nearer", "Farther"])
    elif kind == "points_crowd":
        canvas, label, near_to_far = _depth_points(canvas, rng, size, square, int(rng.integers(3)), drawn)
        question = _question("Is point 1 nearer or farther than point 2?", ["Nearer", "Farther"])
    elif kind == "exists":
        palette = [str(c) for c in rng.permutation(list(NAMED_COLOURS))]
        n = 2 + int(rng.integers(3))
        for c, colour in zip(rng.permutation(9)[:n], palette[:n]):  # one square per 3x3 cell: never overlapping
            _draw(canvas, *_in_cell(rng, size, square, 3, c), square, colour, drawn)
        asked = palette[int(rng.integers(n))] if label == 0 else palette[n + int(rng.integers(len(palette) - n))]
        article = "an" if asked[0] in "aeiou" else "a"
        question = _question(f"Is there {article} {asked} square in the image?", ["Yes", "No"])
    else:
        raise ValueError(f"unknown probe {kind!r}; expected one of {PROBES}")
    return ProbeSample(Image.fromarray(canvas), question, chr(65 + label), n_options, describe(drawn, size, square),
                       near_to_far, kind)


PROBES = ("colour", "left_right", "top_bottom", "size", "count", "relation", "relation_named", "relation_crowd",
          "depth_crowd", "points_crowd", "exists")


def sample_batch(kind: str, rng: np.random.Generator, n: int, size: int, square: int) -> list[ProbeSample]:
    """``n`` fresh samples of ``kind``."""
    return [make_probe_sample(kind, rng, size, square) for _ in range(n)]


def to_spatial_sample(sample: ProbeSample, kind: str, sample_id: str) -> SpatialSample:
    """A probe question as a single-image VST sample (skill ``probe_<kind>``, a choice answer)."""
    buf = io.BytesIO()
    sample.image.save(buf, format="PNG")
    options = {chr(65 + i): line.split(". ", 1)[1].lower()
               for i, line in enumerate(sample.question.splitlines()[1:1 + sample.n_options])}
    return SpatialSample(
        id=sample_id, data_source="synthetic/perception_probe", type="single_image", images=(buf.getvalue(),),
        conversations=(Turn("human", "<image>\n" + sample.question), Turn("gpt", sample.letter)),
        meta_info={"skill": f"probe_{kind}", "family": "probe", "answer_kind": "choice",
                   "ground_truth": sample.letter, "options": options, "template": kind})


def probe_dataset(kind: str, n: int, seed: int, size: int = 128, square: int = 14) -> list[SpatialSample]:
    """``n`` probe questions of ``kind`` as VST samples, reproducible from ``seed``."""
    rng = np.random.default_rng([seed, 1])
    return [to_spatial_sample(s, kind, f"probe_{kind}/{seed}/{i}")
            for i, s in enumerate(sample_batch(kind, rng, n, size, square))]

"""Can the tiny VLM tell where one thing is in an image at all? A synthetic control for the choice probe.

    python experiments/spatial_choice/position_probe.py --out outputs/spatial/position_probe
    python -m vst_vla.train stage=sft run_name=position_probe \
        data.train_path=outputs/spatial/position_probe/train.parquet \
        data.eval_path=outputs/spatial/position_probe/eval.parquet trainer.steps=600

Each image is a plain grey canvas with one coloured square, well inside its left or right third; the question
asks which half the square is in, with the two options in a balanced random order (the same letter indirection
as the engine's questions). No colours to bind, no depth, no second object: if the model cannot learn this, it
cannot see horizontal position, and no relation skill can be learned on top of it. Written as VST parquet, so
the standard SFT stage trains and scores it (skill ``square_left_right``, chance 0.5). ``--fixed-options``
removes the letter indirection too (A is always Left).
"""

from __future__ import annotations

import argparse
import io
from pathlib import Path

import numpy as np
from PIL import Image

from vst_vla.spatial.formats import write_parquet
from vst_vla.spatial.schema import SpatialSample, Turn

SIZE = 128
SQUARE = 14
COLOURS = {"red": (200, 30, 30), "green": (30, 160, 40), "blue": (30, 60, 200), "yellow": (220, 200, 20)}


def square_image(rng: np.random.Generator, left: bool) -> tuple[bytes, str]:
    """A PNG with one square in the left or right third, and the square's colour name."""
    canvas = np.full((SIZE, SIZE, 3), 170, dtype=np.uint8) + rng.integers(0, 12, (SIZE, SIZE, 1), dtype=np.uint8)
    name = list(COLOURS)[int(rng.integers(len(COLOURS)))]
    third = SIZE // 3
    x = int(rng.integers(4, third - SQUARE)) if left else int(rng.integers(SIZE - third, SIZE - 4 - SQUARE))
    y = int(rng.integers(4, SIZE - 4 - SQUARE))
    canvas[y:y + SQUARE, x:x + SQUARE] = COLOURS[name]
    buf = io.BytesIO()
    Image.fromarray(canvas).save(buf, format="PNG")
    return buf.getvalue(), name


def choice_sample(skill: str, seed: int, i: int, png: bytes, question: str, letter: str,
                  options: dict[str, str]) -> SpatialSample:
    """One single-image two-option question as a VST sample the SFT stage trains and scores."""
    return SpatialSample(
        id=f"{skill}/{seed}/{i}", data_source="synthetic/position_probe", type="single_image", images=(png,),
        conversations=(Turn("human", question), Turn("gpt", letter)),
        meta_info={"skill": skill, "family": "control", "answer_kind": "choice", "ground_truth": letter,
                   "options": options})


def make_samples(n: int, seed: int, fixed_options: bool = False) -> list[SpatialSample]:
    """``n`` questions, half with the square on the left; the correct option's letter is A or B in turn, or
    (``fixed_options``) always "A. Left / B. Right", which leaves the letter a direct function of position."""
    rng = np.random.default_rng(seed)
    samples = []
    for i in range(n):
        left = i % 2 == 0
        answer_first = left if fixed_options else (i // 2) % 2 == 0
        png, colour = square_image(rng, left)
        words = ["Left", "Right"] if left == answer_first else ["Right", "Left"]
        letter = "A" if answer_first else "B"
        question = (f"<image>\nIs the {colour} square in the left half or the right half of the image?\n"
                    f"A. {words[0]}\nB. {words[1]}\nReply with the letter of the correct option.")
        samples.append(choice_sample("square_left_right", seed, i, png, question, letter,
                                     {"A": words[0].lower(), "B": words[1].lower()}))
    return samples


def make_colour_samples(n: int, seed: int) -> list[SpatialSample]:
    """The content control: the same squares, but red or blue, and the question asks for the colour ("A. Red /
    B. Blue" always). It needs the image's content and no position, so it shows the pipeline can learn a choice."""
    rng = np.random.default_rng(seed)
    samples = []
    for i in range(n):
        red = i % 2 == 0
        while True:
            png, colour = square_image(rng, left=bool(rng.integers(2)))
            if colour == ("red" if red else "blue"):
                break
        letter = "A" if red else "B"
        question = ("<image>\nIs the square in the image red or blue?\nA. Red\nB. Blue\n"
                    "Reply with the letter of the correct option.")
        samples.append(choice_sample("square_colour", seed, i, png, question, letter, {"A": "red", "B": "blue"}))
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("outputs/spatial/position_probe"))
    parser.add_argument("--train", type=int, default=6000)
    parser.add_argument("--eval", type=int, default=400)
    parser.add_argument("--fixed-options", action="store_true", help='always "A. Left / B. Right"')
    parser.add_argument("--colour", action="store_true", help="ask for the square's colour instead (content control)")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    for name, n, seed in (("train", args.train, 0), ("eval", args.eval, 1)):
        samples = make_colour_samples(n, seed) if args.colour else make_samples(n, seed, args.fixed_options)
        write_parquet(samples, args.out / f"{name}.parquet")
    print(f"wrote {args.train} training and {args.eval} held-out questions to {args.out}")


if __name__ == "__main__":
    main()

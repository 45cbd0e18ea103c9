"""Rewrite a spatial QA file's choice questions with their options in one fixed order (sorted by text).

    python experiments/perception/canonical_options.py outputs/spatial/train.parquet outputs/spatial/train_fixed.parquet
    python experiments/perception/canonical_options.py SRC DST --reason left_right   # those skills answer with CoT
    python experiments/perception/canonical_options.py SRC1 SRC2 DST --keep-order closer_object   # merge two files

The engine shuffles each question's options (balanced letters, as VST-P does), so the answer letter is the XOR-like
combination of what the image shows and where the prompt put that option. This rewrite removes the second half:
the same option text always gets the same letter within a question's option set, so the letter is a direct
function of the image (the probes' setting). Letters stay balanced wherever the engine balances the answer's
content. A lever for the perception study, not a dataset to report on: VST-P's own questions shuffle.
"""

from __future__ import annotations

import argparse
import dataclasses
import re
from pathlib import Path

from vst_vla.sft.cot import to_cot_sample
from vst_vla.spatial.engine.base import conclusion
from vst_vla.spatial.formats import read_samples, write_parquet
from vst_vla.spatial.schema import SpatialSample, Turn

OPTION_LINE = re.compile(r"^([A-Z])\. (.*)$")
CONCLUSION = re.compile(r"^The answer is ([A-Z]) \((.*)\)\.$")  # what engine.base.conclusion writes


def canonical(sample: SpatialSample) -> SpatialSample:
    """``sample`` with its option lines sorted by text and its answer letter following; non-choice unchanged."""
    meta = sample.meta_info
    if meta.get("answer_kind") != "choice":
        return sample
    human, answer = sample.conversations[0], sample.conversations[1]
    lines = human.text.split("\n")
    slots = [i for i, line in enumerate(lines) if OPTION_LINE.match(line)]
    old = {OPTION_LINE.match(lines[i]).group(1): OPTION_LINE.match(lines[i]).group(2) for i in slots}
    order = sorted(old, key=lambda letter: old[letter].lower())
    new_letter = {letter: chr(65 + k) for k, letter in enumerate(order)}
    for i, letter in zip(slots, order, strict=True):
        lines[i] = f"{new_letter[letter]}. {old[letter]}"
    truth = new_letter[meta["ground_truth"]]
    options = {new_letter[k]: v for k, v in meta.get("options", {}).items()}
    turns = (Turn(human.speaker, "\n".join(lines)), Turn(answer.speaker, truth), *sample.conversations[2:])
    # The reasoning's last sentence names the letter: it follows the option too.
    reasoning = [CONCLUSION.sub(lambda m: conclusion(new_letter[m.group(1)], m.group(2)), step)
                 for step in meta.get("reasoning", [])]
    return dataclasses.replace(
        sample, conversations=turns,
        meta_info={**meta, "ground_truth": truth, "options": dict(sorted(options.items())), "reasoning": reasoning})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("source", type=Path, nargs="+", help="one file or several, written as one")
    parser.add_argument("destination", type=Path)
    parser.add_argument("--skills", nargs="+", default=None, help="keep only these skills (default: every one)")
    parser.add_argument("--keep-order", nargs="+", default=(),
                        help="these skills keep the engine's option order (closer_object: its stem names the options "
                             "in their order, so option A is always the object named first)")
    parser.add_argument("--reason", nargs="+", default=(),
                        help="these skills answer as <think>reasoning</think> letter (the CoT cold start's form)")
    args = parser.parse_args()
    kept = (s for source in args.source for s in read_samples(source)
            if args.skills is None or s.meta_info.get("skill") in args.skills)
    fixed = (s if s.meta_info.get("skill") in args.keep_order else canonical(s) for s in kept)
    n = write_parquet((to_cot_sample(s) if s.meta_info.get("skill") in args.reason else s for s in fixed),
                      args.destination)
    print(f"wrote {n} samples with fixed option order to {args.destination}")


if __name__ == "__main__":
    main()

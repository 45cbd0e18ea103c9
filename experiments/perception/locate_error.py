"""How far off is the model's grid cell? A graded score for the alignment stage's ``object_location`` skill.

Exact match on an 8 x 8 cell is a harsh test of a model that is learning where things are: a model that gets the
column right but the row one off scores 0. This script asks the same ``object_location`` questions with the real
image, a blank grey image and another scene's image (the ablation twins of ``vst_vla.spatial.ablation``), parses
"(column, row)" from each answer and reports, per image condition: exact-cell accuracy, column and row accuracy,
and the mean absolute column and row error, with a bootstrap 95% interval on the real-minus-blank column error.
A model that reads position from the image has a lower error with the real image than with either twin.

    python experiments/perception/locate_error.py --model outputs/train/align224/checkpoints/last/pretrained_model \
        --data outputs/spatial/align224_eval40.parquet --max-questions 200 --out outputs/perception/locate_align224
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

import numpy as np

from vst_vla.io import write_json_atomic
from vst_vla.precision import apply_precision
from vst_vla.sft.chat import DEFAULT_SYSTEM_PROMPT
from vst_vla.sft.generation import generate_answers
from vst_vla.sft.model import SpatialVLM
from vst_vla.spatial.ablation import ablate
from vst_vla.spatial.formats import read_samples

CELL = re.compile(r"\(\s*(\d+)\s*,\s*(\d+)\s*\)")
CONDITIONS = ("real", "blank", "shuffle")


def parse_cell(text: str) -> tuple[int, int] | None:
    match = CELL.search(text)
    return (int(match.group(1)), int(match.group(2))) if match else None


def cell_errors(answers: list[str], truths: list[tuple[int, int]]) -> np.ndarray:
    """Per question ``[column error, row error]``; an unparsable answer counts as the grid's mean error (2.625)."""
    unparsed = 2.625  # E|a - b| for a, b uniform on 1..8: what a guess would cost
    rows = []
    for text, (column, row) in zip(answers, truths):
        cell = parse_cell(text)
        rows.append([unparsed, unparsed] if cell is None else [abs(cell[0] - column), abs(cell[1] - row)])
    return np.asarray(rows, dtype=float)


def summarise(errors: np.ndarray, parsed: int) -> dict:
    return {"exact": float(np.mean((errors == 0).all(axis=1))), "column_acc": float(np.mean(errors[:, 0] == 0)),
            "row_acc": float(np.mean(errors[:, 1] == 0)), "column_mae": float(errors[:, 0].mean()),
            "row_mae": float(errors[:, 1].mean()), "parsed": parsed}


def bootstrap_gap(real: np.ndarray, other: np.ndarray, seed: int = 0, n: int = 2000) -> list[float]:
    """95% interval of mean(other - real), resampling questions (paired)."""
    rng = np.random.default_rng(seed)
    diff = other - real
    means = [diff[rng.integers(len(diff), size=len(diff))].mean() for _ in range(n)]
    return [float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True)
    parser.add_argument("--data", required=True)
    parser.add_argument("--max-questions", type=int, default=200)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    samples = [s for s in list(read_samples(args.data)) if s.meta_info.get("skill") == "object_location"]
    samples = samples[: args.max_questions]
    if not samples:
        raise SystemExit(f"error: {args.data} holds no object_location questions")
    truths = [parse_cell(s.meta_info["ground_truth"]) for s in samples]
    vlm = SpatialVLM.from_pretrained(args.model)
    apply_precision(vlm, "auto", vlm.device)
    vlm.eval()
    result, errors = {"model": args.model, "data": args.data, "questions": len(samples)}, {}
    for condition in CONDITIONS:
        subset = samples if condition == "real" else ablate(samples, condition)
        with vlm.autocast():
            answers = generate_answers(vlm.backbone, vlm.processor, subset, DEFAULT_SYSTEM_PROMPT, max_new_tokens=12)
        errors[condition] = cell_errors(answers, truths)
        result[condition] = summarise(errors[condition], sum(parse_cell(a) is not None for a in answers))
        result[condition]["examples"] = answers[:5]
    for twin in ("blank", "shuffle"):
        result[f"column_gain_vs_{twin}"] = bootstrap_gap(errors["real"][:, 0], errors[twin][:, 0])
        result[f"row_gain_vs_{twin}"] = bootstrap_gap(errors["real"][:, 1], errors[twin][:, 1])
    write_json_atomic(Path(args.out) / "locate.json", result)
    print(json.dumps({k: v for k, v in result.items() if k not in ("model", "data")}, indent=2))


if __name__ == "__main__":
    main()

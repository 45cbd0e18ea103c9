"""Spatial evaluation metrics (VST section 4; VSI-Bench's MRA).

- choice questions: letter match;
- numeric answers: Mean Relative Accuracy, MRA = mean over θ ∈ {0.50, 0.55, …, 0.95} of 1[|ŷ − y| / |y| < 1 − θ];
- 3D boxes: IoU of Hungarian-matched boxes, and average precision at IoU 0.15 / 0.25 where a model's boxes carry
  no scores, so they are ranked in the order the model listed them.
Per-skill aggregation turns a list of (sample, prediction) pairs into one row per skill.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.optimize import linear_sum_assignment

from vst_vla.rl.rewards import choice_letter, extract_answer, first_number
from vst_vla.spatial.boxes import Box3D, coerce_boxes, iou_matrix, parse_boxes

MRA_THRESHOLDS = tuple(round(0.50 + 0.05 * i, 2) for i in range(10))
AP_IOU_THRESHOLDS = (0.15, 0.25)


def mean_relative_accuracy(pred: float | None, truth: float) -> float:
    """MRA of one numeric prediction (0 when the prediction could not be parsed)."""
    if pred is None or not np.isfinite(pred):
        return 0.0
    if truth == 0:
        return float(pred == 0)
    rel_err = abs(pred - truth) / abs(truth)
    return float(np.mean([rel_err < 1.0 - theta for theta in MRA_THRESHOLDS]))


def choice_correct(answer: str, truth: str) -> float:
    """1.0 when the answer's choice letter equals the ground truth's."""
    pred, gt = choice_letter(answer), choice_letter(str(truth))
    return float(pred is not None and pred == gt)


def matched_ious(preds: list[Box3D], gts: list[Box3D]) -> tuple[np.ndarray, np.ndarray]:
    """For each prediction, the IoU with its Hungarian-matched ground truth (0 if unmatched), in listed order."""
    ious = np.zeros(len(preds))
    if not preds or not gts:
        return ious, np.zeros(len(gts))
    matrix = iou_matrix(preds, gts)
    rows, cols = linear_sum_assignment(-matrix)
    ious[rows] = matrix[rows, cols]
    return ious, matrix[rows, cols]


def average_precision(scored_hits: list[tuple[float, bool]], n_truth: int) -> float:
    """All-point interpolated AP from (score, is_true_positive) pairs and the number of ground-truth boxes."""
    if n_truth == 0:
        return 0.0
    order = sorted(scored_hits, key=lambda x: -x[0])
    tp = np.cumsum([hit for _, hit in order], dtype=np.float64)
    fp = np.cumsum([not hit for _, hit in order], dtype=np.float64)
    recall = np.concatenate([[0.0], tp / n_truth, [1.0]])
    precision = np.concatenate([[1.0], tp / np.maximum(tp + fp, 1e-12), [0.0]])
    precision = np.maximum.accumulate(precision[::-1])[::-1]
    return float(np.sum((recall[1:] - recall[:-1]) * precision[1:]))


@dataclass
class SkillScores:
    """Accumulated scores of one skill: a per-sample score list plus box bookkeeping for AP."""

    kind: str
    scores: list[float] = field(default_factory=list)
    box_hits: dict[float, list[tuple[float, bool]]] = field(default_factory=lambda: defaultdict(list))
    n_truth_boxes: int = 0

    def row(self) -> dict[str, Any]:
        row: dict[str, Any] = {"kind": self.kind, "n": len(self.scores), "score": float(np.mean(self.scores)) if self.scores else 0.0}
        if self.kind == "boxes":
            for t in AP_IOU_THRESHOLDS:
                row[f"ap@{t}"] = average_precision(self.box_hits[t], self.n_truth_boxes)
        return row


def score_answer(text: str, meta: Mapping[str, Any]) -> float:
    """The per-sample metric for the sample's answer kind (choice: letter match, number: MRA, boxes: mean IoU)."""
    answer = extract_answer(text)
    kind, truth = meta.get("answer_kind", "text"), meta.get("ground_truth")
    if kind == "choice":
        return choice_correct(answer, truth)
    if kind == "number":
        return mean_relative_accuracy(first_number(answer), float(truth))
    if kind == "boxes":
        gts = coerce_boxes(truth)
        ious, _ = matched_ious(parse_boxes(answer), gts)
        return float(ious.sum() / max(len(ious), len(gts), 1))
    return float(answer.strip().lower() == str(truth).strip().lower())


def evaluate_predictions(pairs: Iterable[tuple[Mapping[str, Any], str]]) -> dict[str, dict[str, Any]]:
    """Per-skill table from (meta_info, model output) pairs; skill = meta_info["skill"] (or its answer kind)."""
    skills: dict[str, SkillScores] = {}
    for meta, text in pairs:
        kind = meta.get("answer_kind", "text")
        acc = skills.setdefault(meta.get("skill", kind), SkillScores(kind))
        acc.scores.append(score_answer(text, meta))
        if kind == "boxes":
            preds, gts = parse_boxes(extract_answer(text)), coerce_boxes(meta.get("ground_truth"))
            ious, _ = matched_ious(preds, gts)
            acc.n_truth_boxes += len(gts)
            for rank, iou in enumerate(ious):
                for t in AP_IOU_THRESHOLDS:
                    acc.box_hits[t].append((-float(rank), bool(iou >= t)))
    return {skill: acc.row() for skill, acc in sorted(skills.items())}

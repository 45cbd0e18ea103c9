"""Rule-checkable rewards for the RL stage of VST (Yang et al. 2025, VST-R).

VST-R trains with rewards a program can check, no reward model: every rollout is scored

    reward = 0.5 * accuracy + 0.5 * format

where *format* checks the ``<think>...</think>`` then answer layout, and *accuracy* compares the answer with the
sample's ground truth in the way its answer kind calls for: choice letters, numbers within 5 % relative error,
normalised text, or 3D boxes scored by IoU after Hungarian matching.

Rewards are pluggable: ``@REWARDS.register("name")`` on a function ``(answer: str, ground_truth) -> float in
[0, 1]`` makes it selectable per sample through ``meta_info["reward"]``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
from scipy.optimize import linear_sum_assignment

from vst_vla.registry import Registry
from vst_vla.spatial.boxes import coerce_boxes, iou_matrix, parse_boxes

__all__ = [
    "BOX_IOU_THRESHOLD",
    "DEFAULT_REWARD_FOR_KIND",
    "NUMERIC_REL_TOL",
    "REWARDS",
    "RewardFn",
    "accuracy_reward",
    "box_match_scores",
    "box_reward",
    "choice_letter",
    "extract_answer",
    "first_number",
    "format_reward",
    "overall_reward",
]

RewardFn = Callable[[str, Any], float]
REWARDS: Registry[RewardFn] = Registry("reward")

NUMERIC_REL_TOL = 0.05  # numeric answers count when |pred - gt| <= 5 % of |gt|
BOX_IOU_THRESHOLD = 0.25  # a predicted box is a true positive at IoU >= 0.25 (the usual 3D-detection AP25 bar)

# Which registered reward scores each answer kind when the sample does not name one.
DEFAULT_REWARD_FOR_KIND: dict[str, str] = {
    "choice": "accuracy",
    "number": "accuracy",
    "text": "accuracy",
    "boxes": "box",
}

_THINK_OPEN, _THINK_CLOSE = "<think>", "</think>"
_ANSWER_TAG = re.compile(r"<answer>(.*?)</answer>", re.DOTALL)

# ---------------------------------------------------------------------------------------------------------------
# Format.


def extract_answer(text: str) -> str:
    """The answer part of a response, stripped.

    The text after the last ``</think>`` (the whole text when there is no think block), with an
    ``<answer>...</answer>`` wrapper removed (the last one wins; an unclosed ``<answer>`` keeps what follows it).
    A response that opens ``<think>`` but never closes it ran out of tokens while thinking: it has no answer,
    and this returns ``""`` rather than letting a number from the reasoning be graded.
    """
    close = text.rfind(_THINK_CLOSE)
    if close >= 0:
        body = text[close + len(_THINK_CLOSE) :]
    elif _THINK_OPEN in text:
        return ""
    else:
        body = text
    tagged = _ANSWER_TAG.findall(body)
    if tagged:
        body = tagged[-1]
    elif "<answer>" in body:
        body = body[body.rfind("<answer>") + len("<answer>") :]
    return body.strip()


def format_reward(text: str) -> float:
    """1.0 iff the response is exactly one ``<think>...</think>`` block, first, then a non-empty answer.

    Only whitespace may precede ``<think>``; the answer is what :func:`extract_answer` returns (so
    ``<answer></answer>`` is empty). The reasoning inside the block may be empty: format only checks layout.
    """
    if text.count(_THINK_OPEN) != 1 or text.count(_THINK_CLOSE) != 1:
        return 0.0
    if not text.lstrip().startswith(_THINK_OPEN):
        return 0.0  # also rules out "</think> ... <think>" order, since the open tag is the only one and first
    return 1.0 if extract_answer(text) else 0.0


# ---------------------------------------------------------------------------------------------------------------
# Accuracy.

_LETTER_ALONE = re.compile(r"\(?([A-Za-z])\)?[.:]?")  # "B", "(B)", "B.", "b" -- the whole string
_LETTER_LEADING = re.compile(r"\(?([A-Z])[).:](?:\s|$)")  # "B) left", "(B) left", "B. left", "B: left"
# "The answer is B", "Answer: (C)", "the correct option is D." -- keywords case-insensitive, the letter capital so
# "the answer is a chair" is not read as option A.
_LETTER_STATED = re.compile(
    r"(?i:\b(?:answer|option|choice)\b)\s*(?i:is)?\s*[:：]?\s*\(?([A-Z])\)?(?![A-Za-z0-9])"
)
_NUMBER = re.compile(r"[-+]?(?:(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?")


def _normalise(text: str) -> str:
    return " ".join(text.lower().split())


def choice_letter(text: str) -> str | None:
    """The multiple-choice letter a text states, upper-cased, or None.

    Recognises a bare letter ("B", "(B)", "B.", "b"), a leading option label ("B) left", "(B) left", "B. left")
    and a stated answer anywhere ("The answer is B", "Answer: (C)"; the last such statement wins).
    """
    s = text.replace("*", "").strip()  # models like **B**
    for pattern in (_LETTER_ALONE, _LETTER_LEADING):
        if m := (pattern.fullmatch(s) if pattern is _LETTER_ALONE else pattern.match(s)):
            return m.group(1).upper()
    stated = _LETTER_STATED.findall(s)
    return stated[-1] if stated else None


def first_number(text: str) -> float | None:
    """The first number in a text ("1,000.5" reads 1000.5), or None."""
    m = _NUMBER.search(text)
    if m is None:
        return None
    try:
        value = float(m.group(0).replace(",", ""))
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _numbers_match(pred: float, gt: float, rel_tol: float) -> bool:
    if gt == 0:
        return pred == 0
    # The relative slack (1e-12) keeps a boundary case like 4.75 vs 5.0 (exactly 5 %) from failing on rounding.
    return abs(pred - gt) <= rel_tol * abs(gt) * (1 + 1e-12)


@REWARDS.register("accuracy")
def accuracy_reward(answer: str, ground_truth: Any, rel_tol: float = NUMERIC_REL_TOL) -> float:
    """1.0 if the answer matches the ground truth, else 0.0; tried in this order:

    1. exact match after lower-casing and collapsing whitespace;
    2. if the ground truth states a choice letter ("B", "(B) left") and so does the answer, those letters
       decide (equal -> 1.0, different -> 0.0, no numeric fallback);
    3. numeric: the first number in each; 1.0 iff |pred - gt| <= rel_tol * |gt| (gt == 0 needs pred == 0).
    """
    pred, gt = str(answer), str(ground_truth)
    if _normalise(pred) and _normalise(pred) == _normalise(gt):
        return 1.0
    gt_letter = choice_letter(gt)
    if gt_letter is not None:
        pred_letter = choice_letter(pred)
        if pred_letter is not None:
            return float(pred_letter == gt_letter)
    gt_value, pred_value = first_number(gt), first_number(pred)
    if gt_value is None or pred_value is None:
        return 0.0
    return float(_numbers_match(pred_value, gt_value, rel_tol))


# ---------------------------------------------------------------------------------------------------------------
# 3D boxes.


def box_match_scores(iou: np.ndarray, threshold: float = BOX_IOU_THRESHOLD) -> tuple[float, float]:
    """Mean IoU and F1 of the Hungarian matching on an IoU matrix.

    Args:
        iou: (P, G) IoU of each prediction with each ground-truth box.
        threshold: a matched pair is a true positive when its IoU >= threshold.

    Returns:
        ``(mean_iou, f1)``. The matching maximises total IoU (``linear_sum_assignment`` on -IoU) and pairs
        min(P, G) boxes. ``mean_iou = sum of matched IoUs / max(P, G)``: every unmatched prediction *and*
        every missed ground truth counts as IoU 0, so extra boxes and missing boxes both cost. TP = matched
        pairs with IoU >= threshold, precision = TP/P, recall = TP/G, ``f1 = 2 TP / (P + G)``. Both are 0 when
        P or G is 0.
    """
    n_pred, n_gt = iou.shape
    if n_pred == 0 or n_gt == 0:
        return 0.0, 0.0
    rows, cols = linear_sum_assignment(-iou)
    matched = iou[rows, cols]
    mean_iou = float(matched.sum()) / max(n_pred, n_gt)
    true_pos = int(np.count_nonzero(matched >= threshold))
    return mean_iou, 2.0 * true_pos / (n_pred + n_gt)


@REWARDS.register("box")
def box_reward(answer: str, ground_truth: Any, threshold: float = BOX_IOU_THRESHOLD) -> float:
    """0.5 * mean IoU + 0.5 * F1 at IoU >= ``threshold``, as defined in :func:`box_match_scores`.

    ``answer`` is model output (parsed by :func:`~vst_vla.spatial.boxes.parse_boxes`); ``ground_truth`` may be
    Box3D objects, VST 9-number lists, ``{"bbox_3d": ...}`` dicts or a JSON string of them. No parsable
    prediction gives 0.0, and so does an empty ground truth (such a sample has no signal to learn from).
    """
    preds = parse_boxes(answer) if isinstance(answer, str) else coerce_boxes(answer)
    gts = coerce_boxes(ground_truth)
    if not preds or not gts:
        return 0.0
    mean_iou, f1 = box_match_scores(iou_matrix(preds, gts), threshold)
    return 0.5 * mean_iou + 0.5 * f1


# ---------------------------------------------------------------------------------------------------------------
# The VST-R reward.


def overall_reward(text: str, meta: Mapping[str, Any], format_weight: float = 0.5) -> dict[str, float]:
    """Score one rollout: ``reward = (1 - format_weight) * accuracy + format_weight * format`` (0.5 / 0.5).

    Args:
        text: the full generated response.
        meta: the sample's ``meta_info``: ``answer_kind`` ("choice" | "number" | "text" | "boxes") and
            ``ground_truth``; an optional ``reward`` names a registered reward that overrides the kind's default
            (:data:`DEFAULT_REWARD_FOR_KIND`).

    Returns:
        ``{"reward", "accuracy", "format"}``, each in [0, 1]. Accuracy is graded on :func:`extract_answer`'s
        output regardless of format, so a well-answered but badly formatted response still earns half.

    Raises:
        KeyError: ``ground_truth`` missing, or ``reward`` names no registered reward.
        ValueError: no ``reward`` given and ``answer_kind`` is missing or unknown.
    """
    if "ground_truth" not in meta:
        raise KeyError(f"meta_info has no 'ground_truth' (keys: {sorted(meta)})")
    name = meta.get("reward")
    if name is None:
        kind = meta.get("answer_kind")
        if kind not in DEFAULT_REWARD_FOR_KIND:
            raise ValueError(f"unknown answer_kind {kind!r}; expected one of {sorted(DEFAULT_REWARD_FOR_KIND)}")
        name = DEFAULT_REWARD_FOR_KIND[kind]
    reward_fn = REWARDS.get(name)
    accuracy = float(reward_fn(extract_answer(text), meta["ground_truth"]))
    fmt = format_reward(text)
    return {"reward": (1.0 - format_weight) * accuracy + format_weight * fmt, "accuracy": accuracy, "format": fmt}

"""VST-R rewards: format, answer extraction, accuracy (exact / choice / numeric), box reward, and the mix."""

from __future__ import annotations

import json

import numpy as np
import pytest

from vst_vla.rl.rewards import (
    REWARDS,
    accuracy_reward,
    box_match_scores,
    box_reward,
    choice_letter,
    extract_answer,
    first_number,
    format_reward,
    overall_reward,
)
from vst_vla.spatial.boxes import Box3D

# --- format and answer extraction ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("<think>The mug is left of the cube.</think> B", 1.0),
        ("\n  <think>reasoning</think>\n<answer>B</answer>", 1.0),
        ("<think></think>B", 1.0),  # layout only: empty reasoning still has the format
        ("B", 0.0),  # no think block
        ("reasoning</think> B", 0.0),  # no opening tag
        ("<think>reasoning B", 0.0),  # never closed
        ("<think>a</think><think>b</think> B", 0.0),  # two blocks
        ("<think>a</think> B </think>", 0.0),
        ("<think>reasoning</think>   \n", 0.0),  # empty answer
        ("<think>reasoning</think><answer> </answer>", 0.0),
        ("Sure! <think>reasoning</think> B", 0.0),  # text before the block
        ("</think> B <think>", 0.0),
    ],
)
def test_format_reward(text: str, expected: float) -> None:
    assert format_reward(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("<think>x</think>  The answer is B. ", "The answer is B."),
        ("just 3.5 meters\n", "just 3.5 meters"),
        ("<think>x</think><answer> (C) left </answer>", "(C) left"),
        ("<answer>A</answer> then <answer>B</answer>", "B"),
        ("<think>x</think> <answer>4.2", "4.2"),
        ("<think>it is about 3 meters", ""),  # ran out of tokens while thinking: no answer
    ],
)
def test_extract_answer(text: str, expected: str) -> None:
    assert extract_answer(text) == expected


# --- accuracy ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "letter"),
    [
        ("B", "B"),
        ("b", "B"),
        ("(B)", "B"),
        ("B.", "B"),
        ("B) left", "B"),
        ("(B) left", "B"),
        ("B. The mug", "B"),
        ("**C**", "C"),
        ("The answer is B", "B"),
        ("Answer: (C).", "C"),
        ("The correct option is D, because ...", "D"),
        ("the answer is a chair", None),  # lower-case 'a' is an article, not option A
        ("left", None),
        ("5.0", None),
        ("I think it is near", None),
    ],
)
def test_choice_letter(text: str, letter: str | None) -> None:
    assert choice_letter(text) == letter


@pytest.mark.parametrize(
    ("text", "value"),
    [("about 4.9 m", 4.9), ("-2", -2.0), ("1,000.5 cm", 1000.5), (".5", 0.5), ("2e-3", 0.002), ("none", None)],
)
def test_first_number(text: str, value: float | None) -> None:
    assert first_number(text) == value


@pytest.mark.parametrize(
    ("answer", "ground_truth", "expected"),
    [
        # exact, case/whitespace-normalised
        (" Left ", "left", 1.0),
        ("the  red\nmug", "The red mug", 1.0),
        ("right", "left", 0.0),
        # choice letters in any form, ground truth bare or with its option text
        ("B", "(B) left", 1.0),
        ("(B)", "B", 1.0),
        ("B. left", "B", 1.0),
        ("B) the mug", "(B) the mug is left", 1.0),
        ("The answer is B", "B", 1.0),
        ("A", "(B) left", 0.0),
        ("The answer is C.", "B", 0.0),
        ("left", "B", 0.0),
        # numbers: first number, 5 % relative tolerance
        ("4.9", "5.0", 1.0),  # 2 %
        ("4.7", "5.0", 0.0),  # 6 %
        ("5.25", "5", 1.0),  # exactly 5 %
        ("It is about 4.76 meters.", "5", 1.0),
        ("5.3 m", 5.0, 0.0),  # numeric ground truth as a number
        ("1,000", "1000", 1.0),
        ("0", "0", 1.0),
        ("0.0", "0", 1.0),  # gt 0 needs an exact 0
        ("0.01", "0", 0.0),
        ("-3", "3", 0.0),
        ("no idea", "5", 0.0),
        ("", "", 0.0),  # an empty answer never matches
    ],
)
def test_accuracy_reward(answer: str, ground_truth: str | float, expected: float) -> None:
    assert accuracy_reward(answer, ground_truth) == expected


# --- boxes ---------------------------------------------------------------------------------------------------

GT = [0.0, 0.0, 2.0, 1.0, 1.0, 1.0, 0.0, 0.0, 0.0]
FAR = [5.0, 0.0, 2.0, 1.0, 1.0, 1.0, 0.0, 0.0, 0.0]


def boxes_text(*boxes: list[float]) -> str:
    return json.dumps([{"bbox_3d": b, "label": "cube"} for b in boxes])


def test_box_reward_perfect_and_offset() -> None:
    assert box_reward(boxes_text(GT), [GT]) == pytest.approx(1.0)
    # Offset 0.5 on x: IoU 1/3 >= 0.25, so F1 = 1: 0.5 * 1/3 + 0.5 * 1.
    shifted = [0.5, *GT[1:]]
    assert box_reward(boxes_text(shifted), [GT]) == pytest.approx(0.5 / 3 + 0.5)
    # Offset 0.7: IoU 0.3 / 1.7 < 0.25, so F1 = 0.
    shifted = [0.7, *GT[1:]]
    assert box_reward(boxes_text(shifted), [GT]) == pytest.approx(0.5 * 0.3 / 1.7)


def test_box_reward_two_predictions_one_ground_truth() -> None:
    # Matched IoU 1 over max(2, 1) boxes -> mean IoU 1/2; TP 1, F1 = 2 * 1 / (2 + 1) = 2/3.
    expected = 0.5 * 0.5 + 0.5 * (2 / 3)
    assert box_reward(boxes_text(FAR, GT), [GT]) == pytest.approx(expected)
    assert box_reward(boxes_text(GT, FAR), [GT]) == pytest.approx(expected)


def test_box_reward_hungarian_pairs_reordered_predictions() -> None:
    gts = [GT, FAR]
    assert box_reward(boxes_text(FAR, GT), gts) == pytest.approx(1.0)


def test_box_match_scores_maximises_total_iou_not_greedy() -> None:
    # Greedy takes 0.9 first and is left with 0.0 (mean 0.45); the optimal pairing is 0.8 + 0.7.
    iou = np.array([[0.9, 0.8], [0.7, 0.0]])
    mean_iou, f1 = box_match_scores(iou)
    assert mean_iou == pytest.approx(0.75)
    assert f1 == pytest.approx(1.0)
    # Threshold: one matched pair below 0.25 -> TP 1 of 2 + 3 boxes.
    mean_iou, f1 = box_match_scores(np.array([[0.5, 0.0, 0.0], [0.0, 0.2, 0.0]]))
    assert mean_iou == pytest.approx(0.7 / 3)
    assert f1 == pytest.approx(2 * 1 / 5)
    assert box_match_scores(np.zeros((0, 2))) == (0.0, 0.0)


@pytest.mark.parametrize("answer", ["", "I cannot see any cube.", "[]", '[{"bbox_3d": [1, 2]}]'])
def test_box_reward_without_predictions_is_zero(answer: str) -> None:
    assert box_reward(answer, [GT]) == 0.0


def test_box_reward_ground_truth_forms() -> None:
    answer = boxes_text(GT)
    assert box_reward(answer, boxes_text(GT)) == pytest.approx(1.0)  # JSON string
    assert box_reward(answer, [{"bbox_3d": GT}]) == pytest.approx(1.0)
    assert box_reward(answer, [Box3D.from_vst(GT)]) == pytest.approx(1.0)
    assert box_reward(answer, GT) == pytest.approx(1.0)  # one bare box
    assert box_reward(answer, []) == 0.0


# --- overall -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "meta", "expected"),
    [
        ("<think>left</think> B", {"answer_kind": "choice", "ground_truth": "(B) left"}, (1.0, 1.0, 1.0)),
        ("<think>left</think> A", {"answer_kind": "choice", "ground_truth": "B"}, (0.5, 0.0, 1.0)),
        ("B", {"answer_kind": "choice", "ground_truth": "B"}, (0.5, 1.0, 0.0)),
        ("<think>x</think> 4.9 m", {"answer_kind": "number", "ground_truth": 5.0}, (1.0, 1.0, 1.0)),
        ("<think>x</think> chair", {"answer_kind": "text", "ground_truth": "Chair"}, (1.0, 1.0, 1.0)),
        ("<think>x</think>" + boxes_text(GT), {"answer_kind": "boxes", "ground_truth": [GT]}, (1.0, 1.0, 1.0)),
        ("<think>x</think>" + boxes_text(FAR), {"answer_kind": "boxes", "ground_truth": [GT]}, (0.5, 0.0, 1.0)),
        ("<think>it is 5", {"answer_kind": "number", "ground_truth": "5"}, (0.0, 0.0, 0.0)),
    ],
)
def test_overall_reward(text: str, meta: dict, expected: tuple[float, float, float]) -> None:
    result = overall_reward(text, meta)
    assert set(result) == {"reward", "accuracy", "format"}
    assert (result["reward"], result["accuracy"], result["format"]) == pytest.approx(expected)


def _always_half(answer: str, ground_truth: object) -> float:
    return 0.5


def test_overall_reward_uses_a_registered_reward_named_in_meta() -> None:
    REWARDS.register("test_always_half")(_always_half)
    assert {"accuracy", "box", "test_always_half"} <= set(REWARDS.names())
    meta = {"answer_kind": "choice", "ground_truth": "B", "reward": "test_always_half"}
    assert overall_reward("<think>x</think> B", meta) == {"reward": 0.75, "accuracy": 0.5, "format": 1.0}


@pytest.mark.parametrize(
    ("meta", "error"),
    [
        ({"answer_kind": "choice"}, KeyError),
        ({"answer_kind": "essay", "ground_truth": "B"}, ValueError),
        ({"ground_truth": "B"}, ValueError),
        ({"answer_kind": "choice", "ground_truth": "B", "reward": "no_such_reward"}, KeyError),
    ],
)
def test_overall_reward_rejects_bad_meta(meta: dict, error: type[Exception]) -> None:
    with pytest.raises(error):
        overall_reward("<think>x</think> B", meta)

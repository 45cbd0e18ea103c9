"""Image gain = real − max(blank, shuffled) with its paired-bootstrap interval, on hand-made scores."""

import pytest

from vst_vla.spatial.image_gain import image_gain, score_conditions
from vst_vla.spatial.schema import SpatialSample, Turn


def test_gain_interval_recomputes_the_max_in_every_resample() -> None:
    # Two questions. Full data: real 1, blank 0.5, shuffled 0.5 → gain 0.5 (vs blank, the first on a tie).
    # A resample draws (q0, q0), (q1, q1), (q0, q1) or (q1, q0), each with probability 1/4:
    #   (q0, q0): blank 1, shuffled 0 → gain 0;  (q1, q1): blank 0, shuffled 1 → gain 0;  mixed: 1 − 0.5 = 0.5.
    # So the bootstrap distribution is {0: 1/2, 0.5: 1/2}, and its 2.5% / 97.5% quantiles are 0 and 0.5.
    # (Bootstrapping real − blank alone would give {0: 1/4, 0.5: 1/2, 1: 1/4} and the interval [0, 1].)
    gain = image_gain([1.0, 1.0], {"blank": [1.0, 0.0], "shuffle": [0.0, 1.0]})
    assert gain == {"gain": 0.5, "ci_low": 0.0, "ci_high": 0.5, "n": 2, "vs": "blank"}


def test_gain_interval_collapses_when_every_question_agrees() -> None:
    gain = image_gain([1.0, 1.0, 1.0], {"blank": [0.0, 0.0, 0.0], "shuffle": [0.25, 0.25, 0.25]})
    assert gain == {"gain": 0.75, "ci_low": 0.75, "ci_high": 0.75, "n": 3, "vs": "shuffle"}


def test_gain_refuses_unpaired_scores() -> None:
    with pytest.raises(ValueError, match="paired scores"):
        image_gain([1.0, 0.0], {"blank": [1.0]})


def test_score_conditions_tables_and_gain() -> None:
    def question(i: int, truth: str) -> SpatialSample:
        return SpatialSample(f"q{i}", "test", "single_image", (b"x",),
                             (Turn("human", "<image>\nLeft or right?\nA. left\nB. right"), Turn("gpt", truth)),
                             {"answer_kind": "choice", "ground_truth": truth, "skill": "left_right"})

    samples = [question(0, "A"), question(1, "B"), question(2, "A"), question(3, "B")]
    answers = {"real": ["A", "B", "A", "A"], "blank": ["A", "A", "A", "A"], "shuffle": ["B", "B", "A", "A"]}
    scored = score_conditions(samples, answers)
    assert scored["after"]["left_right"]["score"] == 0.75
    assert {name: rows["left_right"]["score"] for name, rows in scored["ablations"].items()} == {
        "blank": 0.5, "shuffle": 0.5}
    gain = scored["image_gain"]["left_right"]
    assert (gain["gain"], gain["n"], gain["vs"]) == (0.25, 4, "blank")
    assert gain["ci_low"] <= 0.25 <= gain["ci_high"]
    assert score_conditions(samples, {"real": answers["real"]})["image_gain"] == {}

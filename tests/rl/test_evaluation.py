"""The RL stage's held-out before/after measure: per-question rewards and the paired bootstrap."""

import pytest

from vst_vla.rl.evaluation import format_reward_change, paired_bootstrap, reward_scores


def test_reward_scores_per_question() -> None:
    metas = [{"answer_kind": "choice", "ground_truth": "B"}, {"answer_kind": "number", "ground_truth": 2.0}]
    answers = ["<think>the red cube is nearer</think> B", "2.3"]  # right letter, formatted; 15% off, no think
    assert reward_scores(metas, answers) == {"accuracy": [1.0, 0.0], "format": [1.0, 0.0]}
    with pytest.raises(ValueError, match="2 questions but 1 answers"):
        reward_scores(metas, answers[:1])


def test_paired_bootstrap_by_hand() -> None:
    # Every question improves by exactly 1: every resample has mean 1, so the interval collapses.
    same = paired_bootstrap([0, 0, 0], [1, 1, 1], n_resamples=200)
    assert (same["diff"], same["ci_low"], same["ci_high"], same["n"]) == (1.0, 1.0, 1.0, 3)
    # Half improve, half stay: mean change 0.5; resampled means lie in [0, 1] around it.
    half = paired_bootstrap([0, 0, 1, 1], [1, 1, 1, 1], n_resamples=2000)
    assert half["mean_before"] == 0.5 and half["mean_after"] == 1.0 and half["diff"] == 0.5
    assert 0.0 <= half["ci_low"] < 0.5 < half["ci_high"] <= 1.0
    # No change at all: the interval is [0, 0] and the table says so.
    none = paired_bootstrap([1, 0], [1, 0])
    assert none["ci_low"] == none["ci_high"] == 0.0
    assert "| accuracy | 2 | 0.500 | 0.500 | +0.000 | [+0.000, +0.000] |" in format_reward_change({"accuracy": none})
    with pytest.raises(ValueError, match="equally long"):
        paired_bootstrap([1.0], [1.0, 0.0])

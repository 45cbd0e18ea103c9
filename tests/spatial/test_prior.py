"""Blind prior per question template, checked against hand-computed constants and MRA scores."""

import numpy as np
import pytest

from vst_vla.spatial.metrics import mean_relative_accuracy
from vst_vla.spatial.prior import (
    best_constant,
    blind_prior_by_skill,
    fit_blind_prior,
    mra_matrix,
    template_key,
)
from vst_vla.spatial.schema import SpatialSample, Turn

_counter = iter(range(10_000))


def sample(kind: str, truth, template: int | None, skill: str, question: str = "<image>\nHow far?") -> SpatialSample:
    meta = {"answer_kind": kind, "ground_truth": truth, "skill": skill}
    if template is not None:
        meta["template"] = template
    images = (b"x",) * question.count("<image>")
    return SpatialSample(f"s{next(_counter)}", "test", "single_image" if len(images) == 1 else "multi_image", images,
                         (Turn("human", question), Turn("gpt", str(truth))), meta)


def number(truth: float, template: int | None) -> SpatialSample:
    return sample("number", truth, template, "object_distance")


def letter(truth: str, template: int) -> SpatialSample:
    return sample("choice", truth, template, "left_right")


def test_mra_matrix_matches_the_scalar_metric() -> None:
    candidates, truths = np.array([0.0, 0.5, 1.0, 2.0, 3.7]), np.array([0.0, 1.0, 1.2, 2.5, -3.0])
    expected = [[mean_relative_accuracy(c, y) for y in truths] for c in candidates]
    assert mra_matrix(candidates, truths) == pytest.approx(np.array(expected))


def test_best_constant_maximises_mean_mra_over_training_values() -> None:
    # c=1: (1 + 1 + MRA(1, 4) = 0) / 3 = 2/3;  c=4: (0 + 0 + 1) / 3 = 1/3.
    assert best_constant([1.0, 1.0, 4.0]) == 1.0
    # c=2: (1 + MRA(2, 3)) / 2, |2-3|/3 = 1/3 < 1-θ for θ = 0.50 … 0.65 → 0.4, mean 0.7;  c=3: (0 + 1) / 2 = 0.5.
    assert best_constant([2.0, 3.0]) == 2.0
    # Ties: far-apart values each score 1/n (exact on themselves, 0 elsewhere); the one nearest the median wins,
    # and between two equally near ones (1 and 3 around the median 2) the smaller.
    assert best_constant([1.0, 2.0, 10.0]) == 2.0
    assert best_constant([1.0, 3.0]) == 1.0


def test_prior_per_template_by_hand() -> None:
    train = [number(1.0, 0), number(1.0, 0), number(4.0, 0),  # template 0 → 1.0 (above)
             number(2.0, 1), number(3.0, 1),  # template 1 → 2.0 (above)
             letter("A", 0), letter("B", 0), letter("B", 0),  # template 0 → B
             letter("A", 1),  # template 1 → A
             letter("B", 2), letter("A", 2)]  # a tie → A
    prior = fit_blind_prior(train)
    assert prior.by_template == {("object_distance", "#0"): 1.0, ("object_distance", "#1"): 2.0,
                                 ("left_right", "#0"): "B", ("left_right", "#1"): "A", ("left_right", "#2"): "A"}
    # Pooled over templates, [1, 1, 4, 2, 3]: c=1 scores (1 + 1 + 0 + 0 + 0) / 5 = 0.4, c=2 1.4/5, c=3 1.5/5, c=4 1.4/5.
    assert prior.by_skill == {"object_distance": 1.0, "left_right": "A"}  # A: 3 of 6, B: 3 of 6, tie → A
    held_out = [number(1.2, 0),  # guess 1.0: |1-1.2|/1.2 = 1/6 < 1-θ for θ = 0.50 … 0.80 → 0.7
                number(2.0, 1),  # guess 2.0: exact → 1
                number(1.0, 7),  # template unseen in training: the skill's constant 1.0, exact → 1
                letter("B", 0), letter("B", 1), letter("A", 0)]  # B ✓, A ✗, B ✗
    scores = blind_prior_by_skill(train, held_out)
    assert scores == {"left_right": pytest.approx(1 / 3), "object_distance": pytest.approx((0.7 + 1 + 1) / 3)}
    # The per-skill median it replaces (2.0) would score (0 + 1 + 0) / 3 on the same numeric questions.


def test_template_key_without_a_template_id_normalises_numbers_options_and_images() -> None:
    a = sample("choice", "A", None, "x", "Image 1: <image>\nImage 2: <image>\nIs it 0.5 m   away?\nA. yes\nB. no")
    b = sample("choice", "B", None, "x", "Image 1: <image>\nImage 2: <image>\nIs it 12 m away?\nA. no\nB. yes")
    c = sample("choice", "B", None, "x", "Image 1: <image>\nImage 2: <image>\nIs it 12 m high?\nA. no\nB. yes")
    assert template_key(a) == template_key(b) == ("x", "is it <n> m away?")
    assert template_key(c) != template_key(a)
    assert template_key(number(1.0, 3)) == ("object_distance", "#3")

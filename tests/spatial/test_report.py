"""Per-skill report: the blind prior, the ablation and gain columns and the binomial test against chance, by hand."""

from pathlib import Path

import pytest

from vst_vla.spatial.report import blind_prior_by_skill, p_not_above_chance, write_skill_report
from vst_vla.spatial.schema import SpatialSample, Turn


def numeric(i: int, truth: float, skill: str = "object_distance") -> SpatialSample:
    return SpatialSample(f"s{i}", "vst_sim/test", "single_image", (),
                         (Turn("human", "How far apart are they?"), Turn("gpt", str(truth))),
                         {"answer_kind": "number", "ground_truth": truth, "skill": skill})


def test_blind_prior_is_the_best_training_constant_scored_by_mra() -> None:
    train = [numeric(0, 1.0), numeric(1, 2.0), numeric(2, 3.0), numeric(3, 9.0, skill="point_depth")]
    held_out = [numeric(4, 2.0), numeric(5, 2.5), numeric(6, 4.0, skill="count_objects")]
    # One phrasing. On [1, 2, 3]: c=1 and c=3 score 1/3 (exact once, 0 elsewhere); c=2 scores (0 + 1 + 0.4) / 3.
    # Held out, 2.0: exact on 2.0 (MRA 1); 20% off on 2.5, under 1 - θ for θ = 0.50 … 0.75 (6 of 10) → 0.6.
    assert blind_prior_by_skill(train, held_out) == {"object_distance": pytest.approx(0.8)}


def test_binomial_p_value_against_chance() -> None:
    assert p_not_above_chance(1.0, 3, 0.5) == pytest.approx(1 / 8)  # P(X >= 3), X ~ B(3, 1/2)
    assert p_not_above_chance(0.5, 2, 0.5) == pytest.approx(3 / 4)  # P(X >= 1)
    assert p_not_above_chance(0.0, 4, 0.25) == pytest.approx(1.0)


def test_report_table_has_ablation_prior_gain_and_p_columns(tmp_path: Path) -> None:
    summary = {"before": {"left_right": {"kind": "choice", "n": 4, "score": 0.0}},
               "after": {"left_right": {"kind": "choice", "n": 4, "score": 1.0},
                         "object_distance": {"kind": "number", "n": 2, "score": 0.9}},
               "ablations": {"blank": {"left_right": {"kind": "choice", "n": 4, "score": 0.5},
                                       "object_distance": {"kind": "number", "n": 2, "score": 0.7}},
                             "shuffle": {"left_right": {"kind": "choice", "n": 4, "score": 0.25},
                                         "object_distance": {"kind": "number", "n": 2, "score": 0.8}}},
               "image_gain": {"left_right": {"gain": 0.5, "ci_low": 0.25, "ci_high": 0.75, "n": 4, "vs": "blank"},
                              "object_distance": {"gain": 0.1, "ci_low": -0.05, "ci_high": 0.2, "n": 2,
                                                  "vs": "shuffle"}},
               "chance": {"left_right": 0.5, "object_distance": None}, "prior": {"object_distance": 0.8},
               "prior_fit": "the training split (train.parquet)"}
    table = write_skill_report(summary, tmp_path)
    assert ("| left_right | choice | 4 | 0.000 | 1.000 | 0.500 | 0.250 | 0.500 |  | +0.500 | [+0.250, +0.750] "
            "| 0.0625 |") in table  # (1/2)^4
    assert ("| object_distance | number | 2 |  | 0.900 | 0.700 | 0.800 |  | 0.800 | +0.100 | [-0.050, +0.200] "
            "|  |") in table
    assert "Blind prior fitted on: the training split (train.parquet)." in table
    assert (tmp_path / "skills.md").read_text() == table
    assert (tmp_path / "skills.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"  # a PNG, though written under a temp name
    assert sorted(p.name for p in tmp_path.iterdir()) == ["skills.md", "skills.png"]  # no temporary left


def test_report_without_ablations_says_so(tmp_path: Path) -> None:
    summary = {"after": {"left_right": {"kind": "choice", "n": 2, "score": 0.5}}, "chance": {"left_right": 0.5}}
    table = write_skill_report(summary, tmp_path)
    assert "| left_right | choice | 2 |  | 0.500 |  |  | 0.500 |  |  |  | 0.75 |" in table
    assert "Image ablations were not run." in table

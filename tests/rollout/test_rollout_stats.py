"""Wilson intervals, evaluation summaries and the results table."""

import json
import math

import numpy as np
import pytest

from vst_vla.rollout.stats import EvalSummary, format_summary_table, wilson_interval


@pytest.mark.parametrize(
    ("successes", "n", "expected"),
    [
        # Hand-computed: z^2 = 3.8416, denominator 1 + z^2/n, centre (p + z^2/2n)/denom,
        # half-width z*sqrt(p(1-p)/n + z^2/4n^2)/denom.
        (0, 10, (0.0, 0.2775401687666166)),  # centre = half = 0.19208/1.38416
        (5, 10, (0.2365895936154873, 0.7634104063845127)),
        (10, 10, (0.7224598312333834, 1.0)),
        (1, 1, (0.20654329147389294, 1.0)),
        (50, 100, (0.40382982859014716, 0.5961701714098528)),
    ],
)
def test_wilson_interval_hand_computed(successes: int, n: int, expected: tuple[float, float]) -> None:
    low, high = wilson_interval(successes, n)
    assert low == pytest.approx(expected[0], abs=1e-12)
    assert high == pytest.approx(expected[1], abs=1e-12)


def test_wilson_interval_boundaries_are_exact_and_symmetric() -> None:
    assert wilson_interval(0, 7)[0] == 0.0
    assert wilson_interval(7, 7)[1] == 1.0
    for s in range(8):
        low, high = wilson_interval(s, 7)
        mirror_low, mirror_high = wilson_interval(7 - s, 7)
        assert 0.0 <= low <= s / 7 <= high <= 1.0
        assert low == pytest.approx(1 - mirror_high) and high == pytest.approx(1 - mirror_low)


def test_wilson_interval_z_and_numpy_ints() -> None:
    narrow, wide = wilson_interval(5, 10, z=1.0), wilson_interval(5, 10, z=2.576)
    assert wide[0] < narrow[0] < 0.5 < narrow[1] < wide[1]
    assert wilson_interval(np.int64(5), np.int32(10)) == wilson_interval(5, 10)


@pytest.mark.parametrize(
    ("args", "error", "match"),
    [
        ((0, 0), ValueError, "at least one episode"),
        ((1, -3), ValueError, "at least one episode"),
        ((11, 10), ValueError, r"successes must be in \[0, n=10\]"),
        ((-1, 10), ValueError, "successes must be in"),
        ((5, 10, 0.0), ValueError, "z must be"),
        ((5, 10, math.nan), ValueError, "z must be"),
        ((5.0, 10), TypeError, "successes must be an int"),
        ((5, 10.0), TypeError, "n must be an int"),
        ((True, 10), TypeError, "bool"),
    ],
)
def test_wilson_interval_rejects_bad_inputs(args: tuple, error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        wilson_interval(*args)


class _Episode:
    def __init__(self, success: bool, length: int, total_reward: float) -> None:
        self.success, self.length, self.total_reward = success, length, total_reward


def test_summary_from_episodes_and_round_trip() -> None:
    episodes = [_Episode(True, 10, 1.0), _Episode(False, 30, 0.0), _Episode(True, 20, 2.0), _Episode(False, 40, 0.0)]
    summary = EvalSummary.from_episodes(episodes, seconds=3.5)
    assert (summary.n_episodes, summary.successes, summary.success_rate) == (4, 2, 0.5)
    assert (summary.ci_low, summary.ci_high) == wilson_interval(2, 4)
    assert summary.mean_episode_length == 25.0
    assert summary.mean_reward == 0.75
    assert summary.seconds == 3.5
    data = json.loads(json.dumps(summary.to_dict()))
    assert EvalSummary.from_dict({**data, "written_by": "a newer version"}) == summary
    with pytest.raises(ValueError, match="no episodes"):
        EvalSummary.from_episodes([], seconds=0.0)


def _summary(successes: int, n: int, mean_reward: float | None = 0.5) -> EvalSummary:
    return EvalSummary(n, successes, successes / n, *wilson_interval(successes, n), 100.0, mean_reward, 10.0)


def test_table_single_task_has_no_average_row() -> None:
    table = format_summary_table({"lift": _summary(5, 10)})
    lines = table.splitlines()
    assert len(lines) == 3  # header, alignment, one task
    assert lines[0].split("|")[1].strip() == "task"
    assert set(lines[1].replace("|", "").replace(" ", "")) <= {"-", ":"}
    cells = [c.strip() for c in lines[2].strip("|").split("|")]
    assert cells == ["lift", "50.0% (5/10)", "[23.7%, 76.3%]", "10", "100.0", "0.500", "10.0"]
    assert "average" not in table


def test_table_average_row_over_tasks() -> None:
    table = format_summary_table({"lift": _summary(5, 10), "pick|place": _summary(10, 10, mean_reward=None)})
    lines = table.splitlines()
    assert len(lines) == 5
    assert len({len(line) for line in lines}) == 1  # columns are aligned
    assert "pick\\|place" in lines[3]  # a '|' in a task name must not split the row
    average = [c.strip() for c in lines[4].strip("|").split("|")]
    low, high = wilson_interval(15, 20)  # equal n per task: pooled rate == mean rate
    assert average == [
        "average (2 tasks)",
        "75.0% (15/20)",
        f"[{low:.1%}, {high:.1%}]",
        "20",
        "100.0",
        "—",
        "20.0",
    ]


def test_table_average_omits_interval_when_task_sizes_differ() -> None:
    table = format_summary_table({"a": _summary(1, 10), "b": _summary(20, 20)})
    average = [c.strip() for c in table.splitlines()[-1].strip("|").split("|")]
    assert average[1] == "55.0% (21/30)"  # unweighted mean of 10% and 100%
    assert average[2] == "—"


def test_table_needs_summaries() -> None:
    with pytest.raises(ValueError, match="no summaries"):
        format_summary_table({})

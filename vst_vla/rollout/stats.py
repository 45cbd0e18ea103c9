"""Success-rate statistics for policy evaluation: Wilson intervals, per-task summaries and a results table.

Evaluations here run tens of episodes, where the normal-approximation interval ``p ± z·sqrt(p(1-p)/n)`` is
badly off (it collapses to zero width at 0/n and n/n). The Wilson score interval stays inside [0, 1] and keeps
close to its nominal coverage at small n, so it is what every summary reports.
"""

from __future__ import annotations

import dataclasses
import math
import operator
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

__all__ = ["EpisodeLike", "EvalSummary", "format_summary_table", "wilson_interval"]


def wilson_interval(successes: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion.

    Args:
        successes: number of successful episodes, 0 <= successes <= n.
        n: number of episodes, > 0.
        z: standard-normal quantile of the two-sided level (1.96 for 95 %).

    Returns:
        ``(low, high)`` with 0 <= low <= successes/n <= high <= 1; exactly 0 (resp. 1) when no (resp. every)
        episode succeeded.

    Raises:
        TypeError: ``successes`` or ``n`` is not an integer (bools are refused: they are a mistake here).
        ValueError: n <= 0, successes outside [0, n], or z not finite and positive.
    """
    for name, value in (("successes", successes), ("n", n)):
        if isinstance(value, bool):
            raise TypeError(f"{name} must be an int, got a bool")
        try:
            operator.index(value)  # accepts int and numpy integers, rejects 2.0
        except TypeError:
            raise TypeError(f"{name} must be an int, got {type(value).__name__}") from None
    successes, n = int(successes), int(n)
    if n <= 0:
        raise ValueError(f"a confidence interval needs at least one episode, got n={n}")
    if not 0 <= successes <= n:
        raise ValueError(f"successes must be in [0, n={n}], got {successes}")
    if not (math.isfinite(z) and z > 0):
        raise ValueError(f"z must be finite and positive, got {z}")

    p = successes / n
    z2 = z * z
    denom = 1.0 + z2 / n
    center = (p + z2 / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / denom
    # At the boundaries center == half analytically; pin them so rounding cannot give -1e-17 or 1 + 1e-16.
    low = 0.0 if successes == 0 else max(0.0, center - half)
    high = 1.0 if successes == n else min(1.0, center + half)
    return low, high


class EpisodeLike(Protocol):
    """What :meth:`EvalSummary.from_episodes` reads from an episode result."""

    success: bool
    length: int
    total_reward: float


@dataclasses.dataclass(frozen=True)
class EvalSummary:
    """Aggregate of one task's evaluation episodes (``summary.json`` holds :meth:`to_dict`).

    Attributes:
        n_episodes: episodes run.
        successes: episodes that succeeded.
        success_rate: successes / n_episodes.
        ci_low, ci_high: 95 % Wilson interval of the success rate.
        mean_episode_length: mean number of env steps per episode.
        mean_reward: mean total (undiscounted) reward per episode; None when the rewards were not recorded.
        seconds: wall-clock time of the whole evaluation.
        image_ablation: what the policy saw instead of the real camera images (``none``: the real ones; see
            :mod:`vst_vla.rollout.ablation`).
    """

    n_episodes: int
    successes: int
    success_rate: float
    ci_low: float
    ci_high: float
    mean_episode_length: float
    mean_reward: float | None
    seconds: float
    image_ablation: str = "none"

    @classmethod
    def from_episodes(
        cls, episodes: Sequence[EpisodeLike], seconds: float, image_ablation: str = "none"
    ) -> EvalSummary:
        """Summarize finished episodes (any order); ``seconds`` is the evaluation's wall-clock time and
        ``image_ablation`` what the policy saw (recorded as is)."""
        if not episodes:
            raise ValueError("cannot summarize an evaluation with no episodes")
        n = len(episodes)
        successes = sum(bool(ep.success) for ep in episodes)
        low, high = wilson_interval(successes, n)
        return cls(
            n_episodes=n,
            successes=successes,
            success_rate=successes / n,
            ci_low=low,
            ci_high=high,
            mean_episode_length=sum(ep.length for ep in episodes) / n,
            mean_reward=sum(float(ep.total_reward) for ep in episodes) / n,
            seconds=float(seconds),
            image_ablation=image_ablation,
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-serializable dict of the fields."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> EvalSummary:
        """Inverse of :meth:`to_dict` (e.g. to tabulate ``summary.json`` files of several tasks); extra keys are
        ignored so files written by newer versions still load."""
        names = {field.name for field in dataclasses.fields(cls)}
        return cls(**{key: value for key, value in data.items() if key in names})


_HEADER = ("task", "success", "95% CI", "episodes", "mean length", "mean reward", "seconds")


def _escape_cell(text: str) -> str:
    # A '|' inside a cell would split it into two columns.
    return text.replace("|", "\\|")


def _format_row(
    name: str,
    success_rate: float,
    successes: int,
    n: int,
    ci: tuple[float, float] | None,
    mean_length: float,
    mean_reward: float | None,
    seconds: float,
) -> list[str]:
    return [
        _escape_cell(name),
        f"{success_rate:.1%} ({successes}/{n})",
        f"[{ci[0]:.1%}, {ci[1]:.1%}]" if ci is not None else "—",
        str(n),
        f"{mean_length:.1f}",
        f"{mean_reward:.3f}" if mean_reward is not None else "—",
        f"{seconds:.1f}",
    ]


def _average_row(summaries: Sequence[EvalSummary]) -> list[str]:
    """The row under several tasks: the unweighted mean over tasks (the multi-task benchmark convention).

    Episodes, successes and seconds are totals. The interval is the Wilson interval of the pooled episodes, shown
    only when every task ran the same number of episodes: only then is the pooled rate equal to the mean.
    """
    k = len(summaries)
    total_n = sum(s.n_episodes for s in summaries)
    total_successes = sum(s.successes for s in summaries)
    same_n = len({s.n_episodes for s in summaries}) == 1
    rewards = [s.mean_reward for s in summaries]
    return _format_row(
        f"average ({k} tasks)",
        sum(s.success_rate for s in summaries) / k,
        total_successes,
        total_n,
        wilson_interval(total_successes, total_n) if same_n else None,
        sum(s.mean_episode_length for s in summaries) / k,
        None if any(r is None for r in rewards) else sum(rewards) / k,  # type: ignore[arg-type]
        sum(s.seconds for s in summaries),
    )


def format_summary_table(summaries: Mapping[str, EvalSummary], average: bool = True) -> str:
    """A Markdown table with one row per task, plus an average row when there are several tasks.

    Args:
        summaries: task name -> its summary, in the order the rows should appear.
        average: add the average row (set False when the rows are not different tasks, e.g. one task's real and
            image-ablated runs, whose mean means nothing).

    Returns:
        The table as a string (GitHub-flavoured Markdown; ``rich.markdown.Markdown`` renders it in a terminal).
    """
    if not summaries:
        raise ValueError("no summaries to tabulate")
    rows = [
        _format_row(
            name,
            s.success_rate,
            s.successes,
            s.n_episodes,
            (s.ci_low, s.ci_high),
            s.mean_episode_length,
            s.mean_reward,
            s.seconds,
        )
        for name, s in summaries.items()
    ]
    if average and len(summaries) > 1:
        rows.append(_average_row(list(summaries.values())))

    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(_HEADER)]
    # Left-align the task name, right-align the numbers.
    aligns = [":" + "-" * (w - 1) if i == 0 else "-" * (w - 1) + ":" for i, w in enumerate(widths)]

    def line(cells: Sequence[str]) -> str:
        padded = [c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=True))]
        return "| " + " | ".join(padded) + " |"

    return "\n".join([line(_HEADER), line(aligns), *(line(r) for r in rows)])

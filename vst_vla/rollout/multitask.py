"""Evaluation over several tasks: one seeded evaluation per task, a per-task table with the average, a bar plot.

:func:`evaluate_tasks` runs :func:`~vst_vla.rollout.policy_eval.evaluate_policy` for every task (in
``out_dir/<task>/`` when there are several, else in ``out_dir`` itself as a single-task evaluation always did),
then writes ``summary_by_task.json`` and ``success_by_task.png`` (success rate per task with 95% Wilson error
bars, plus the unweighted average over tasks). :func:`plot_success_by_task` draws on matplotlib's Agg canvas
directly, so it neither needs a display nor changes the process-wide pyplot backend.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from vst_vla.io import write_json_atomic
from vst_vla.rollout.parallel import PolicyFactory
from vst_vla.rollout.stats import EvalSummary, wilson_interval

__all__ = ["PLOT_FILE", "SUMMARY_BY_TASK_FILE", "evaluate_tasks", "plot_success_by_task"]

logger = logging.getLogger(__name__)

PLOT_FILE = "success_by_task.png"
SUMMARY_BY_TASK_FILE = "summary_by_task.json"


def _task_dir_name(name: str) -> str:
    """A directory name for a task label (labels may be instructions with spaces or slashes)."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_") or "task"


def evaluate_tasks(
    policy: Any,
    env_cfgs: Mapping[str, Any],
    rollout_cfg: Any,
    out_dir: str | Path,
    progress: bool = True,
    policy_factory: PolicyFactory | None = None,
) -> dict[str, EvalSummary]:
    """Evaluate on every task of ``env_cfgs`` with the same seeds; returns ``{task: summary}`` in that order.

    Args:
        policy: the policy (shared by all tasks), or None to build one per task with ``policy_factory``.
        env_cfgs: task name -> env config (e.g. :func:`vst_vla.data.multitask.env_configs_from_metadata`).
        rollout_cfg: a :class:`~vst_vla.config.schema.RolloutConfig` (seeds, videos, ``num_workers``).
        out_dir: results directory; one sub-directory per task when there are several.
        progress: tqdm bars.
        policy_factory: see :func:`~vst_vla.rollout.policy_eval.evaluate_policy` (needed for ``num_workers > 1``).
    """
    from vst_vla.rollout.policy_eval import evaluate_policy

    if not env_cfgs:
        raise ValueError("no tasks to evaluate")
    out_dir = Path(out_dir)
    several = len(env_cfgs) > 1
    dirs = {name: out_dir / _task_dir_name(name) if several else out_dir for name in env_cfgs}
    if len(set(dirs.values())) != len(dirs):
        raise ValueError(f"task names {list(env_cfgs)} map to the same result directory; rename them")
    summaries: dict[str, EvalSummary] = {}
    for name, env_cfg in env_cfgs.items():
        logger.info("evaluating task %s", name)
        summaries[name] = evaluate_policy(policy, env_cfg, rollout_cfg, dirs[name], progress=progress,
                                          policy_factory=policy_factory)
    if several:
        write_json_atomic(out_dir / SUMMARY_BY_TASK_FILE, {
            "tasks": {name: {"dir": dirs[name].name, **s.to_dict()} for name, s in summaries.items()},
            "average_success_rate": sum(s.success_rate for s in summaries.values()) / len(summaries),
        })
        plot_success_by_task(summaries, out_dir / PLOT_FILE)
    return summaries


def plot_success_by_task(summaries: Mapping[str, EvalSummary], path: str | Path) -> Path:
    """Save a bar chart of each task's success rate with its 95% Wilson interval, and the average over tasks.

    The average bar is the unweighted mean of the task rates (the table's convention); its error bar is the
    Wilson interval of the pooled episodes, drawn only when every task ran the same number of episodes.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    if not summaries:
        raise ValueError("no summaries to plot")
    names = list(summaries)
    rates = [s.success_rate for s in summaries.values()]
    lows = [s.success_rate - s.ci_low for s in summaries.values()]
    highs = [s.ci_high - s.success_rate for s in summaries.values()]
    labels = [f"{s.successes}/{s.n_episodes}" for s in summaries.values()]
    colors = ["tab:blue"] * len(names)
    if len(summaries) > 1:
        mean = sum(rates) / len(rates)
        n = sum(s.n_episodes for s in summaries.values())
        k = sum(s.successes for s in summaries.values())
        if len({s.n_episodes for s in summaries.values()}) == 1:
            low, high = wilson_interval(k, n)
            lows.append(max(0.0, mean - low))
            highs.append(max(0.0, high - mean))
        else:
            lows.append(0.0)
            highs.append(0.0)
        names.append("average")
        rates.append(mean)
        labels.append(f"{mean:.0%}")
        colors.append("tab:gray")

    fig = Figure(figsize=(max(4.0, 1.1 * len(names) + 1.5), 3.6), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    positions = list(range(len(names)))
    ax.bar(positions, rates, color=colors, yerr=[lows, highs], capsize=4, ecolor="black")
    # Labels above the error bars, so the two never overlap.
    for x, rate, high, label in zip(positions, rates, highs, labels, strict=True):
        ax.text(x, rate + high + 0.02, label, ha="center", va="bottom", fontsize=8)
    ax.set_xticks(positions, names, rotation=30 if max(map(len, names)) > 12 else 0, ha="right")
    ax.set_ylim(0, 1.12)
    ax.set_ylabel("success rate")
    ax.set_title("success by task (95% Wilson intervals)")
    ax.grid(axis="y", alpha=0.3)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    return path

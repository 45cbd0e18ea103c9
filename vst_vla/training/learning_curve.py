"""A run's learning curve as one PNG: the training loss, and the success rate of its evaluations with 95% intervals.

It reads what the trainer logged (``train_log.jsonl``: loss records, and the records of evaluations during
training, ``eval/success_rate`` with its Wilson interval), plus the final evaluation the stage ran after training.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from vst_vla.io import atomic_path

SUCCESS = "eval/success_rate"


@dataclass(frozen=True)
class EvalPoint:
    """One evaluation on the curve: the training step, success rate, its 95% interval and episode count."""

    step: int
    success_rate: float
    ci_low: float
    ci_high: float
    n_episodes: int


def read_curve(train_log: Path) -> tuple[list[tuple[int, float]], list[EvalPoint]]:
    """(step, loss) pairs and the evaluations during training, from a ``train_log.jsonl``."""
    losses, evals = [], []
    for line in Path(train_log).read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        if "loss" in record:
            losses.append((int(record["step"]), float(record["loss"])))
        if SUCCESS in record:
            evals.append(EvalPoint(int(record["step"]), float(record[SUCCESS]), float(record["eval/ci_low"]),
                                   float(record["eval/ci_high"]), int(record["eval/n_episodes"])))
    return losses, evals


def plot_learning_curve(train_log: Path, out: Path, final: EvalPoint | None = None, title: str = "") -> Path:
    """Write the two-panel plot (loss; success rate) to ``out`` atomically and return it."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    losses, evals = read_curve(train_log)
    fig, (loss_ax, success_ax) = plt.subplots(2, 1, figsize=(7, 6), sharex=True)
    if losses:
        loss_ax.plot(*zip(*losses, strict=True), color="tab:blue")
    loss_ax.set_ylabel("training loss")
    loss_ax.set_yscale("log" if losses and min(v for _, v in losses) > 0 else "linear")
    loss_ax.set_title(title)
    for points, label, color in ((evals, "during training", "tab:orange"),
                                 ([final] if final else [], "final", "tab:green")):
        if not points:
            continue
        steps = [p.step for p in points]
        rates = [p.success_rate for p in points]
        errors = [[p.success_rate - p.ci_low for p in points], [p.ci_high - p.success_rate for p in points]]
        episodes = sorted({p.n_episodes for p in points})
        success_ax.errorbar(steps, rates, yerr=errors, fmt="o-" if len(points) > 1 else "o", capsize=3, color=color,
                            label=f"{label} ({', '.join(map(str, episodes))} episodes, 95% Wilson)")
    success_ax.set_ylim(-0.02, 1.02)
    success_ax.set_xlabel("training step")
    success_ax.set_ylabel("success rate")
    if evals or final:
        success_ax.legend(loc="upper left", fontsize="small")
    fig.tight_layout()
    with atomic_path(out) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)
    return Path(out)

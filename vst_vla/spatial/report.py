"""Per-skill result tables and bar plots for spatial evaluation (before / after / chance)."""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path

from vst_vla.spatial.schema import SpatialSample

_OPTION = re.compile(r"(?:^|\s)\(?([A-H])[.)]\s")


def count_options(question: str) -> int:
    """Number of lettered options ("A. ...", "(B) ...") in a multiple-choice question."""
    return len(set(_OPTION.findall(question)))


def chance_by_skill(samples: list[SpatialSample]) -> dict[str, float | None]:
    """Expected score of guessing uniformly among a choice question's options (``meta_info.choices`` or the
    lettered options in the question), per skill; None for skills without choices."""
    totals: dict[str, list[float]] = defaultdict(list)
    for s in samples:
        n_options = len(s.meta_info.get("choices") or []) or count_options(s.question)
        skill = s.meta_info.get("skill", s.meta_info.get("answer_kind", "text"))
        if s.meta_info.get("answer_kind") == "choice" and n_options >= 2:
            totals[skill].append(1.0 / n_options)
        else:
            totals.setdefault(skill, [])
    return {k: (sum(v) / len(v) if v else None) for k, v in totals.items()}


def write_skill_report(summary: dict, out_dir: Path) -> str:
    """Write ``skills.md`` and ``skills.png`` into ``out_dir``; returns the markdown table."""
    before, after, chance = summary.get("before") or {}, summary["after"], summary.get("chance") or {}
    lines = ["| skill | kind | n | before | after | chance |", "| --- | --- | ---: | ---: | ---: | ---: |"]
    for skill, row in after.items():
        b = before.get(skill, {}).get("score")
        c = chance.get(skill)
        lines.append(f"| {skill} | {row['kind']} | {row['n']} | {'' if b is None else f'{b:.3f}'} | "
                     f"{row['score']:.3f} | {'' if c is None else f'{c:.3f}'} |")
    table = "\n".join(lines) + "\n"
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "skills.md").write_text(table)
    _plot(before, after, chance, out_dir / "skills.png")
    return table


def _plot(before: dict, after: dict, chance: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    skills = list(after)
    x = np.arange(len(skills))
    fig, ax = plt.subplots(figsize=(max(6, 0.6 * len(skills)), 4))
    ax.bar(x - 0.2, [before.get(s, {}).get("score", 0.0) for s in skills], 0.4, label="before")
    ax.bar(x + 0.2, [after[s]["score"] for s in skills], 0.4, label="after")
    for i, s in enumerate(skills):
        if chance.get(s) is not None:
            ax.hlines(chance[s], i - 0.4, i + 0.4, colors="k", linestyles="dashed")
    ax.set_xticks(x, skills, rotation=45, ha="right")
    ax.set_ylabel("score (accuracy / MRA / IoU)")
    ax.set_ylim(0, 1)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)

"""Per-skill result tables and bar plots for spatial evaluation (before / after / chance)."""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path

import numpy as np

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


def blind_prior_by_skill(train: list[SpatialSample], held_out: list[SpatialSample]) -> dict[str, float | None]:
    """MRA on ``held_out`` of a blind answer, per numeric skill: the median of that skill's answers in ``train``.

    It is the numeric counterpart of chance: what knowing the typical value, without looking, scores. None for
    skills that are not numeric or have no training answers.
    """
    from vst_vla.spatial.metrics import mean_relative_accuracy

    def skill(s: SpatialSample) -> str:
        return s.meta_info.get("skill", s.meta_info.get("answer_kind", "text"))

    answers: dict[str, list[float]] = defaultdict(list)
    for s in train:
        if s.meta_info.get("answer_kind") == "number":
            answers[skill(s)].append(float(s.meta_info["ground_truth"]))
    scores: dict[str, list[float]] = defaultdict(list)
    for s in held_out:
        name = skill(s)
        if s.meta_info.get("answer_kind") == "number" and answers.get(name):
            guess = float(np.median(answers[name]))
            scores[name].append(mean_relative_accuracy(guess, float(s.meta_info["ground_truth"])))
    return {name: (float(np.mean(v)) if v else None) for name, v in scores.items()}


def p_not_above_chance(score: float, n: int, chance: float) -> float:
    """One-sided exact binomial p-value of ``round(score * n)`` correct out of ``n`` if the true rate were ``chance``."""
    from scipy.stats import binomtest

    return float(binomtest(round(score * n), n, chance, alternative="greater").pvalue)


def _cell(value: float | None, fmt: str = ".3f") -> str:
    return "" if value is None else format(value, fmt)


def write_skill_report(summary: dict, out_dir: Path) -> str:
    """Write ``skills.md`` and ``skills.png`` into ``out_dir``; returns the markdown table.

    Columns: before / after scores, chance (choice skills), the blind prior (numeric skills, when the summary has
    ``prior``) and, for choice skills, the one-sided binomial p-value of the after score against chance.
    """
    before, after, chance = summary.get("before") or {}, summary["after"], summary.get("chance") or {}
    prior = summary.get("prior") or {}
    lines = ["| skill | kind | n | before | after | chance | blind prior | p (after vs chance) |",
             "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for skill, row in after.items():
        c = chance.get(skill)
        p = p_not_above_chance(row["score"], row["n"], c) if c is not None and row["n"] else None
        lines.append(f"| {skill} | {row['kind']} | {row['n']} | {_cell(before.get(skill, {}).get('score'))} | "
                     f"{row['score']:.3f} | {_cell(c)} | {_cell(prior.get(skill))} | {_cell(p, '.3g')} |")
    table = "\n".join(lines) + "\n"
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "skills.md").write_text(table)
    _plot(before, after, chance, out_dir / "skills.png")
    return table


def _plot(before: dict, after: dict, chance: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

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


def main(argv: list[str] | None = None) -> str:
    """``python -m vst_vla.spatial.report RUN_DIR --train T --eval E``: re-render a stage's table from its
    run_summary.json, adding the blind prior computed from the run's data files."""
    import argparse
    import json

    from vst_vla.spatial.formats import read_samples

    parser = argparse.ArgumentParser(prog="python -m vst_vla.spatial.report", description=main.__doc__)
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--train", required=True, help="the run's training data (VST parquet / LLaVA JSON)")
    parser.add_argument("--eval", required=True, help="the run's held-out data")
    args = parser.parse_args(argv)
    summary = json.loads((args.run_dir / "run_summary.json").read_text())
    summary["prior"] = blind_prior_by_skill(list(read_samples(args.train)), list(read_samples(args.eval)))
    table = write_skill_report(summary, args.run_dir)
    print(table)
    return table


if __name__ == "__main__":
    main()

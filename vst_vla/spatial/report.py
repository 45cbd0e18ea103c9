"""Per-skill result tables and bar plots for spatial evaluation.

One row per skill: the score before training (stages only), with the real images, with blank and shuffled images
(:mod:`vst_vla.spatial.ablation`), chance, the blind prior (:mod:`vst_vla.spatial.prior`), the image gain with its
95% paired-bootstrap interval (:mod:`vst_vla.spatial.image_gain`) and the binomial p-value of the real score
against chance.
"""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path

import numpy as np

from vst_vla.io import atomic_path
from vst_vla.spatial.prior import blind_prior_by_skill
from vst_vla.spatial.schema import SpatialSample

SKILL_REPORT_FILE = "skills.md"  # the per-skill table (and legend) of write_skill_report
SKILL_PLOT_FILE = "skills.png"
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


def p_not_above_chance(score: float, n: int, chance: float) -> float:
    """One-sided exact binomial p-value of ``round(score * n)`` correct out of ``n`` if the true rate were ``chance``."""
    from scipy.stats import binomtest

    return float(binomtest(round(score * n), n, chance, alternative="greater").pvalue)


def _cell(value: float | None, fmt: str = ".3f") -> str:
    return "" if value is None else format(value, fmt)


ABLATION_COLUMNS = (("blank", "blank"), ("shuffle", "shuffled"))
LEGEND = ("real: the model with the questions' own images (after training, for a stage); blank: mid-grey images of "
          "the same size; shuffled: another scene's images; image gain: real − max(blank, shuffled), its 95% CI "
          "a paired bootstrap over questions; blind prior: the best constant answer per question template")


def write_skill_report(summary: dict, out_dir: Path) -> str:
    """Write ``skills.md`` and ``skills.png`` into ``out_dir``; returns the markdown (table and legend).

    Reads ``summary["after"]`` (real images) and, when present, ``before``, ``ablations`` ({"blank" | "shuffle":
    per-skill rows}), ``image_gain`` (per skill, :func:`~vst_vla.spatial.image_gain.image_gain`), ``chance``,
    ``prior`` and ``prior_fit`` (where the prior was fitted, printed under the table). Choice skills get the
    one-sided binomial p-value of the real score against chance.
    """
    before, after, chance = summary.get("before") or {}, summary["after"], summary.get("chance") or {}
    prior, ablations = summary.get("prior") or {}, summary.get("ablations") or {}
    gains = summary.get("image_gain") or {}
    lines = ["| skill | kind | n | before | real | blank | shuffled | chance | blind prior | image gain | gain 95% CI "
             "| p (real vs chance) |",
             "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: |"]
    for skill, row in after.items():
        c = chance.get(skill)
        p = p_not_above_chance(row["score"], row["n"], c) if c is not None and row["n"] else None
        ablated = [_cell(ablations.get(name, {}).get(skill, {}).get("score")) for name, _ in ABLATION_COLUMNS]
        gain = gains.get(skill)
        interval = f"[{gain['ci_low']:+.3f}, {gain['ci_high']:+.3f}]" if gain else ""
        lines.append(f"| {skill} | {row['kind']} | {row['n']} | {_cell(before.get(skill, {}).get('score'))} | "
                     f"{row['score']:.3f} | {' | '.join(ablated)} | {_cell(c)} | {_cell(prior.get(skill))} | "
                     f"{_cell(gain['gain'] if gain else None, '+.3f')} | {interval} | {_cell(p, '.3g')} |")
    notes = [LEGEND + "."]
    if prior:
        notes.append(f"Blind prior fitted on: {summary.get('prior_fit') or 'the training split'}.")
    elif "prior_fit" in summary:
        notes.append(f"Blind prior: {summary['prior_fit']}.")
    if not ablations:
        notes.append("Image ablations were not run.")
    table = "\n".join(lines) + "\n\n" + "\n".join(notes) + "\n"
    out_dir.mkdir(parents=True, exist_ok=True)
    with atomic_path(out_dir / SKILL_REPORT_FILE) as tmp:
        tmp.write_text(table)
    _plot(before, after, ablations, chance, out_dir / SKILL_PLOT_FILE)
    return table


def _plot(before: dict, after: dict, ablations: dict, chance: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    skills = list(after)
    bars = [("before", before)] if before else []
    bars += [("real", after)] + [(label, ablations[name]) for name, label in ABLATION_COLUMNS if name in ablations]
    width = 0.8 / len(bars)
    x = np.arange(len(skills))
    fig, ax = plt.subplots(figsize=(max(6, 0.25 * len(skills) * len(bars) + 2), 4))
    for k, (label, rows) in enumerate(bars):
        offset = (k - (len(bars) - 1) / 2) * width
        ax.bar(x + offset, [rows.get(s, {}).get("score", 0.0) for s in skills], width, label=label)
    for i, s in enumerate(skills):
        if chance.get(s) is not None:
            ax.hlines(chance[s], i - 0.4, i + 0.4, colors="k", linestyles="dashed")
    ax.set_xticks(x, skills, rotation=45, ha="right")
    ax.set_ylabel("score (accuracy / MRA / IoU)")
    ax.set_ylim(0, 1)
    ax.legend()
    fig.tight_layout()
    # Atomically: a reader (the Hub upload, a person) never sees half a PNG; the format is named, since the
    # temporary name does not end in .png.
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=120, format="png")
    plt.close(fig)


def main(argv: list[str] | None = None) -> str:
    """``python -m vst_vla.spatial.report RUN_DIR --train T --eval E``: re-render a stage's table from its
    run_summary.json, adding the blind prior computed from the run's data files."""
    import argparse
    import inspect
    import json

    from vst_vla.spatial.formats import read_samples

    parser = argparse.ArgumentParser(
        prog="python -m vst_vla.spatial.report",
        description=inspect.cleandoc(main.__doc__ or ""),
        epilog="example:\n  python -m vst_vla.spatial.report outputs/train/sft_spatial "
        "--train outputs/spatial/train.parquet --eval outputs/spatial/eval.parquet",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("run_dir", type=Path, help="a spatial stage's run directory (holds run_summary.json)")
    parser.add_argument("--train", required=True, help="the run's training data (VST parquet / LLaVA JSON)")
    parser.add_argument("--eval", required=True, help="the run's held-out data")
    args = parser.parse_args(argv)
    summary = json.loads((args.run_dir / "run_summary.json").read_text())
    summary["prior"] = blind_prior_by_skill(list(read_samples(args.train)), list(read_samples(args.eval)))
    summary["prior_fit"] = f"the training split ({args.train})"
    table = write_skill_report(summary, args.run_dir)
    print(table)
    return table


if __name__ == "__main__":
    main()

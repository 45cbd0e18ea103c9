"""Plot held-out accuracy against training step for probe runs, and write the lever table.

    python experiments/perception/plot_curves.py outputs/perception --out experiments/perception/results

Reads every ``<run>/args.json`` and ``<run>/curve.jsonl`` under the given folder (a run stopped early counts
with the steps it logged; the table marks it); writes ``curves.png`` (one
panel per probe, real images solid, blank images dashed) and ``levers.md`` (final accuracy, blank-image accuracy,
the first step at which held-out accuracy reached 0.9, wall time).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after the headless backend is chosen)

from vst_vla.io import atomic_path  # noqa: E402


def load_runs(root: Path) -> list[dict]:
    runs = []
    for args in sorted(root.glob("*/args.json")):
        info = json.loads(args.read_text())
        curve = [json.loads(line) for line in (args.parent / "curve.jsonl").read_text().splitlines() if line]
        if curve:  # a run stopped before its first evaluation has nothing to show
            runs.append({"name": args.parent.name, "info": info, "curve": curve,
                         "finished": (args.parent / "result.json").is_file()})
    return runs


def first_step_at(curve: list[dict], threshold: float) -> int | None:
    return next((row["step"] for row in curve if row["acc"] >= threshold), None)


def lever_table(runs: list[dict]) -> str:
    lines = ["| run | probe | model | M-RoPE base | lr (lm / vision / merger) | question | image | options | extra | "
             "steps | held-out acc | blank-image acc | first step >= 0.9 | wall s |",
             "|---|---|---|---:|---|---|---|---|---|---:|---:|---:|---:|---:|"]
    for run in runs:
        info, last = run["info"], run["curve"][-1]
        lines.append(
            f"| {run['name']}{'' if run['finished'] else ' (stopped early)'} | {info['probe']} | {info['model']} | {float(info['rope_theta']):g} | "
            f"{info['lr']:g} / {info['vision_lr']:g} / {info['merger_lr']:g} | {_question(info)} | "
            f"{'last' if info.get('image_last') else 'first'} | "
            f"{'shuffled' if info.get('shuffle_options') else 'fixed'} | {_extra(info, last)} | {last['step']} | {last['acc']:.3f} | "
            f"{last['acc_blank']:.3f} | {first_step_at(run['curve'], 0.9) or '-'} | {last['seconds']:.0f} |")
    return "\n".join(lines) + "\n"


def _extra(info: dict, last: dict) -> str:
    """The levers beyond the columns: dense captions mixed in, and a starting model (runs from before these
    options existed had neither)."""
    parts = []
    if info.get("dense_frac"):
        parts.append(f"{info['dense_frac']:g} of each batch {info.get('caption', 'full')} captions")
    if info.get("reason"):  # runs from before the styles recorded true for the one style there was
        style = "order" if info["reason"] is True else info["reason"]
        exact = f"; step exact {last['step_exact']:.3f}" if "step_exact" in last else ""
        parts.append(f"reasoning step ({style}), generated answers{exact}")
    if info.get("init"):
        parts.append(f"init {Path(info['init']).parent.name}")
    if info.get("vocab"):
        parts.append(f"vocab {info['vocab']}")
    return "; ".join(parts) or "-"


def _question(info: dict) -> str:
    """How the run's question text varied (runs from before ``--question-jitter`` existed had fixed questions)."""
    words = info.get("question_jitter", 0)
    stems = "the engine's 3 stems" if info.get("reason") == "engine" else "fixed"
    return f"{stems}, +0-{words} filler words" if words else stems


def plot(runs: list[dict], path: Path) -> None:
    probes = sorted({run["info"]["probe"] for run in runs})
    fig, axes = plt.subplots(1, len(probes), figsize=(4 * len(probes), 3.2), squeeze=False)
    for ax, probe in zip(axes[0], probes, strict=True):
        for run in (r for r in runs if r["info"]["probe"] == probe):
            steps = [row["step"] for row in run["curve"]]
            line, = ax.plot(steps, [row["acc"] for row in run["curve"]], label=run["name"])
            ax.plot(steps, [row["acc_blank"] for row in run["curve"]], linestyle="--", color=line.get_color())
        ax.set_title(probe)
        ax.set_xlabel("step")
        ax.set_ylim(0, 1.02)
        ax.legend(fontsize=7)
    axes[0][0].set_ylabel("held-out accuracy (dashed: blank image)")
    fig.tight_layout()
    fig.savefig(path, dpi=120, format="png")  # the path may be a temporary name without a suffix


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("root", type=Path)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    runs = load_runs(args.root)
    if not runs:
        raise SystemExit(f"no <run>/args.json with a logged evaluation under {args.root}")
    args.out.mkdir(parents=True, exist_ok=True)
    with atomic_path(args.out / "levers.md") as tmp:
        tmp.write_text(lever_table(runs))
    with atomic_path(args.out / "curves.png") as tmp:
        plot(runs, tmp)
    print(lever_table(runs))


if __name__ == "__main__":
    main()

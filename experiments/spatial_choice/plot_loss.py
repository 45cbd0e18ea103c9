"""Training loss of the choice-probe runs against the loss of a model that guesses between two options.

    python experiments/spatial_choice/plot_loss.py --out experiments/spatial_choice/results/loss.png \
        theta1e6=outputs/train/choice_theta1e6/train_log.jsonl theta20=outputs/train/choice_theta20/train_log.jsonl

Each answer is two target tokens (the letter, then ``<|im_end|>``, which is learned at once), so a model that
puts one half on each of two letters has a per-token loss of ln(2) / 2 = 0.347. A model that reads the image
goes below that line.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

CHANCE_LOSS = math.log(2) / 2


def read_log(path: Path) -> tuple[list[int], list[float]]:
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [r["step"] for r in rows], [r["loss"] for r in rows]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", metavar="NAME=TRAIN_LOG", help="label and train_log.jsonl per run")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    fig, ax = plt.subplots(figsize=(7, 4))
    for spec in args.runs:
        name, _, path = spec.partition("=")
        if not path:
            parser.error(f"expected NAME=TRAIN_LOG, got {spec!r}")
        steps, losses = read_log(Path(path))
        ax.plot(steps, losses, label=name, linewidth=1)
    ax.axhline(CHANCE_LOSS, color="k", linestyle="--", linewidth=1, label="two-option guess, ln(2)/2")
    ax.set_ylim(0, 0.6)
    ax.set_xlabel("step")
    ax.set_ylabel("loss per target token")
    ax.legend()
    fig.tight_layout()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_suffix(".tmp.png")
    fig.savefig(tmp, dpi=120)
    tmp.replace(args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

"""Which action head works best on Lift under the same demonstrations and training budget?

    python experiments/heads_lift/run.py [--steps 1500] [--episodes 20] [--heads tokens l1_chunk flow]
                                         [--dataset outputs/datasets/lift] [key=value ...]

Trains one tiny VLA per head with identical data, schedule and seed (hydra overrides after the flags apply to
every run), evaluates each on the same seeded episodes, and writes into ``experiments/heads_lift/results/``:
``results.json`` (raw summaries), ``results.md`` (the table) and ``success.png`` (bars with 95% Wilson intervals).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import vst_vla  # noqa: F401  (MUJOCO_GL before any simulator import)

HERE = Path(__file__).resolve().parent


def run_head(head: str, args: argparse.Namespace, extra: list[str]) -> dict:
    from omegaconf import OmegaConf

    from vst_vla.config.store import compose
    from vst_vla.train import run

    overrides = [f"head={head}", f"run_name=heads_lift_{head}", f"dataset.root={args.dataset}",
                 f"trainer.steps={args.steps}", f"trainer.save_every={args.steps}", f"eval.n_episodes={args.episodes}",
                 "eval.n_videos=1", "trainer.wandb.mode=disabled", *extra]
    cfg = OmegaConf.to_container(compose("train", overrides), resolve=True)
    cfg.pop("hydra", None)
    return run(cfg)


def write_report(results: dict[str, dict], out_dir: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "results.json").write_text(json.dumps(results, indent=2))
    lines = ["| head | success | 95% CI | mean length | train s | eval s | final loss |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for head, r in results.items():
        e = r["eval"]
        lines.append(f"| {head} | {e['success_rate']:.0%} ({e['successes']}/{e['n_episodes']}) | "
                     f"[{e['ci_low']:.0%}, {e['ci_high']:.0%}] | {e['mean_episode_length']:.1f} | "
                     f"{r['phases_s']['train']:.0f} | {r['phases_s']['eval']:.0f} | {r['final_loss']:.3f} |")
    (out_dir / "results.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    heads = list(results)
    rates = [results[h]["eval"]["success_rate"] for h in heads]
    err = [[r - results[h]["eval"]["ci_low"] for h, r in zip(heads, rates)],
           [results[h]["eval"]["ci_high"] - r for h, r in zip(heads, rates)]]
    fig, ax = plt.subplots(figsize=(5, 3.5))
    ax.bar(heads, rates, yerr=err, capsize=6, color=["#4c72b0", "#dd8452", "#55a868"][: len(heads)])
    ax.set_ylim(0, 1)
    ax.set_ylabel("Lift success rate (95% Wilson CI)")
    ax.set_title("Action heads, same demos and budget")
    fig.tight_layout()
    fig.savefig(out_dir / "success.png", dpi=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--heads", nargs="+", default=["tokens", "l1_chunk", "flow"])
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--episodes", type=int, default=20)
    parser.add_argument("--dataset", default="outputs/datasets/lift")
    parser.add_argument("--out", default=str(HERE / "results"))
    args, extra = parser.parse_known_args()
    results = {head: run_head(head, args, extra) for head in args.heads}
    write_report(results, Path(args.out))


if __name__ == "__main__":
    main()

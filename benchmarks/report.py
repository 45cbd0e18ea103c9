"""One performance report: every benchmark in one run, written as a Markdown table, a JSON file and a plot.

    python benchmarks/report.py [--quick] [--only matmul,train,...] [--precision auto|bf16|fp32] [--out-dir DIR]

Sections (``--only`` picks some, in this order): ``matmul`` (measured fp32 / bf16 matmul peak), ``train`` (default
VLA training samples/s and achieved FLOP/s against that peak), ``heads`` (ms per control step of each action
head), ``env`` (Lift steps/s with and without camera rendering), ``collect`` (demonstration episodes/min, 1 vs 2
workers; ``benchmarks/bench_collect.py``), ``eval`` (evaluation episodes/min, 1 vs 2 workers), ``sft`` (SFT
tokens/s packed vs padded) and ``startup`` (build / save / load of a real-vocabulary 3B-preset policy). Every
number is measured in this run; the machine (CPU model, features, torch threads, load) and the precision that
``auto`` picks here, with its reason, head the report. ``--quick`` shrinks every section (about 5 minutes on two
cores); the default sizes take about three times as long. Writes ``report.md``, ``report.json`` and
``report.png`` under ``--out-dir`` (default ``outputs/benchmarks``).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

os.environ.setdefault("MUJOCO_GL", "egl")  # before anything imports MuJoCo (inherited by worker processes)

import torch
from tqdm.auto import tqdm

from benchmarks.machine import machine_info
from vst_vla.precision import PRECISIONS, resolve_precision

logger = logging.getLogger("report")

SECTIONS = ("matmul", "train", "heads", "env", "collect", "eval", "sft", "startup")


@dataclass(frozen=True)
class Sizes:
    """How much each section measures; :meth:`quick` keeps the whole report near five minutes on two cores."""

    matmul_sizes: tuple[int, ...] = (512, 1024, 2048)
    matmul_seconds: float = 1.0
    train_steps: int = 10
    heads_backbones: tuple[str, ...] = ("tiny", "small")
    heads_repeats: int = 10
    env_steps: int = 300
    collect_envs: tuple[str, ...] = ("lift", "pick_place_can")
    collect_episodes: int = 4
    eval_episodes: int = 4
    eval_max_steps: int = 50
    sft_scenes: int = 6
    sft_steps: int = 6
    startup_layers: int = 2
    startup_vision_depth: int = 2

    @classmethod
    def quick(cls) -> Sizes:
        return cls(matmul_sizes=(256, 512, 1024), matmul_seconds=0.3, train_steps=3, heads_backbones=("tiny",),
                   heads_repeats=3, env_steps=60, collect_envs=("lift",), collect_episodes=2, eval_episodes=2,
                   eval_max_steps=8, sft_scenes=1, sft_steps=2)


@dataclass
class Context:
    """What sections share: sizes, the requested precision, and the matmul peaks once measured."""

    sizes: Sizes
    precision: str
    peaks_gflops: dict[str, float | None]

    def peak_for(self, precision_name: str) -> tuple[float, str]:
        """The matmul peak (GFLOP/s) to compare ``precision_name`` compute against, measuring it if needed."""
        peak = self.peaks_gflops.get(precision_name)
        if peak is None:
            from benchmarks.bench_matmul import matmul_gflops

            dtype = torch.bfloat16 if precision_name == "bf16" else torch.float32
            peak = matmul_gflops(1024, dtype, torch.device("cpu"), 0.5)
            self.peaks_gflops[precision_name] = peak
        return peak, f"{precision_name} matmul peak"


# --- sections: each returns {"rows": [...], "note": str}, rows with their ratio columns --------------------------


def section_matmul(ctx: Context) -> dict:
    from benchmarks.bench_matmul import peak, run

    rows = run(ctx.sizes.matmul_sizes, ctx.sizes.matmul_seconds)
    ctx.peaks_gflops.update(fp32=peak(rows, "fp32"), bf16=peak(rows, "bf16"))
    for r in rows:
        r["vs_fp32_peak"] = r["gflops"] / ctx.peaks_gflops["fp32"]
    return {"rows": rows, "note": f"{torch.get_num_threads()} torch threads; peak = best size"}


def section_train(ctx: Context) -> dict:
    from benchmarks.bench_train import run

    chosen = resolve_precision(ctx.precision, "cpu").name
    peak, what = ctx.peak_for(chosen)
    rows = run(ctx.sizes.train_steps, 8, ctx.precision, peak)
    return {"rows": rows, "note": f"fraction of the measured {what}; synthetic batches (data loading not timed)"}


def section_heads(ctx: Context) -> dict:
    from benchmarks.bench_heads import run

    rows = run(ctx.sizes.heads_backbones, 8, ctx.sizes.heads_repeats, ctx.precision,
               progress=lambda what: logger.info("heads: %s", what))
    return {"rows": rows, "note": "batch 1, one 128 px camera; median of the repeats; ms/step = per executed action"}


def section_env(ctx: Context) -> dict:
    from vst_envs.config import env_config_from_dict

    from benchmarks.bench_env_steps import time_in_process

    variants = (("agentview 128 px, default render", {"cameras": ["agentview"]}),
                ("agentview 128 px, cheap render", {"cameras": ["agentview"], "cheap_render": True}),
                ("no camera (no rendering)", {"cameras": []}))
    rows = []
    for label, extra in variants:
        cfg = env_config_from_dict({"type": "lift", "image_size": 128, **extra}).to_dict()
        rows.append({"variant": label, **time_in_process(cfg, ctx.sizes.env_steps)})
    for r in rows:
        r["vs_no_camera"] = r["steps_per_s"] / rows[-1]["steps_per_s"]
    return {"rows": rows, "note": f"Lift, zero actions, {ctx.sizes.env_steps} steps after a warm-up, in this process"}


def section_collect(ctx: Context) -> dict:
    try:
        from benchmarks import bench_collect
    except ModuleNotFoundError as err:
        if err.name not in ("benchmarks.bench_collect", "bench_collect"):
            raise
        return {"rows": [], "note": "skipped: benchmarks/bench_collect.py is not there yet"}
    rows = bench_collect.run(envs=ctx.sizes.collect_envs, episodes=ctx.sizes.collect_episodes, workers=(1, 2))
    first: dict[str, float] = {}
    for r in rows:
        r["vs_1_worker"] = r["episodes_per_min"] / first.setdefault(r["env"], r["episodes_per_min"])
    return {"rows": rows, "note": "scripted expert; whole collection (worker start-up, encoding) per variant"}


def section_eval(ctx: Context) -> dict:
    from benchmarks.bench_eval import run

    rows = run((1, 2), ctx.sizes.eval_episodes, ctx.sizes.eval_max_steps, ctx.precision)
    return {"rows": rows, "note": "untrained tiny policy from a checkpoint; wall time includes worker start-up"}


def section_sft(ctx: Context) -> dict:
    from benchmarks import bench_packing
    from benchmarks.flops import VLMShapes, train_flops
    from vst_vla.precision import apply_precision
    from vst_vla.sft.model import SpatialVLM
    from vst_vla.vlm.backbone import BackboneConfig

    samples = bench_packing.spatial_samples(ctx.sizes.sft_scenes)
    torch.manual_seed(0)
    vlm = SpatialVLM.build(BackboneConfig())
    chosen = apply_precision(vlm, ctx.precision, vlm.device)
    examples = bench_packing.encode(vlm, samples)
    peak, what = ctx.peak_for(chosen.name)
    shapes = VLMShapes.of(vlm.backbone)
    rows = []
    for r in bench_packing.compare(vlm, examples, ctx.sizes.sft_steps):
        lengths, patches = r.pop("example_lengths"), r.pop("image_patches")
        achieved = train_flops(shapes, lengths, sum(lengths), patches) / r["seconds"] / 1e9
        rows.append({**r, "examples_timed": len(lengths), "achieved_gflops": achieved,
                     "fraction_of_peak": achieved / peak})
    return {"rows": rows, "note": f"{len(samples)} generated spatial samples; tiny backbone, {chosen.name}; "
                                  f"useful FLOP/s against the {what}"}


def section_startup(ctx: Context) -> dict:
    from benchmarks.bench_startup import run

    rows = run(ctx.sizes.startup_layers, ctx.sizes.startup_vision_depth)
    r = rows[0]
    return {"rows": rows, "note": f"Qwen2.5-VL-3B preset cut to {r['num_layers']} LM layers / {r['vision_depth']} "
                                  f"vision blocks: {r['params_M']:.0f}M parameters, {r['weights_GB']:.2f} GB, "
                                  f"tokenizer {r['vocab']} entries"}


RUNNERS: dict[str, Callable[[Context], dict]] = {
    "matmul": section_matmul, "train": section_train, "heads": section_heads, "env": section_env,
    "collect": section_collect, "eval": section_eval, "sft": section_sft, "startup": section_startup,
}

# Columns of each section's Markdown table: (header, row key, format).
COLUMNS: dict[str, list[tuple[str, str, str]]] = {
    "matmul": [("dtype", "dtype", "s"), ("n", "size", "d"), ("GFLOP/s", "gflops", ".1f"),
               ("vs fp32 peak", "vs_fp32_peak", ".2fx"), ("note", "note", "s")],
    "train": [("model", "model", "s"), ("precision", "precision", "s"), ("batch", "batch_size", "d"),
              ("samples/s", "samples_per_s", ".2f"), ("ms/step", "ms_per_step", ".0f"),
              ("GFLOP/step", "gflop_per_step", ".2f"), ("achieved GFLOP/s", "achieved_gflops", ".2f"),
              ("peak GFLOP/s", "matmul_peak_gflops", ".1f"), ("fraction of peak", "fraction_of_peak", ".1%")],
    "heads": [("backbone", "backbone", "s"), ("head", "head", "s"), ("precision", "precision", "s"),
              ("ms/inference", "ms_per_inference", ".1f"), ("ms/control step", "ms_per_step", ".1f"),
              ("actions/s", "actions_per_s", ".1f"), ("vs tokens chunk 1", "speedup_vs_tokens_chunk1", ".2fx")],
    "env": [("variant", "variant", "s"), ("steps/s", "steps_per_s", ".1f"), ("resets", "resets", "d"),
            ("vs no camera", "vs_no_camera", ".2fx")],
    "collect": [("env", "env", "s"), ("workers", "workers", "d"), ("episodes", "episodes", "d"),
                ("seconds", "seconds", ".1f"), ("CPU s", "cpu_seconds", ".1f"),
                ("episodes/min", "episodes_per_min", ".2f"), ("vs 1 worker", "vs_1_worker", ".2fx")],
    "eval": [("workers", "workers", "d"), ("episodes", "episodes", "d"), ("steps/episode", "max_steps", "d"),
             ("seconds", "seconds", ".1f"), ("start-up s (est.)", "startup_seconds_est", ".1f"),
             ("episodes/min", "episodes_per_min", ".2f"),
             ("episodes/min after start-up", "episodes_per_min_after_startup", ".2f"),
             ("s/episode", "mean_episode_seconds", ".2f"), ("vs 1 worker", "speedup_vs_1_worker", ".2fx")],
    "sft": [("batching", "batching", "s"), ("real tokens/s", "real_tokens_per_s", ".0f"),
            ("padding", "padding_share", ".0%"), ("steps", "steps", "d"),
            ("achieved GFLOP/s", "achieved_gflops", ".2f"), ("fraction of peak", "fraction_of_peak", ".1%"),
            ("vs padded", "speedup_vs_padded", ".2fx")],
    "startup": [("phase", "phase", "s"), ("seconds", "seconds", ".2f"), ("weights part", "weights_part", "s"),
                ("weights s", "weights_seconds", ".2f"), ("beyond weights s", "beyond_weights_seconds", ".2f"),
                ("detail", "detail", "s")],
}


def _cell(value: Any, fmt: str) -> str:
    if value is None:
        return "—"
    if fmt.endswith("x"):
        return f"{value:{fmt[:-1]}}x"
    return f"{value:{fmt}}" if fmt != "s" else str(value)


def markdown(report: dict) -> str:
    """The report as Markdown: machine and precision, then one table per section."""
    m = report["machine"]
    flags = ", ".join(f"{k} {'yes' if v else 'no'}" for k, v in m["cpu_flags"].items())
    lines = ["# vst-vla performance report", "",
             f"{m['cpu_model']}, {m['cpu_count']} cores; {flags}; torch CPU capability {m['torch_cpu_capability']}, "
             f"{m['torch_threads']} torch threads, torch {m['torch_version']}. "
             f"Load average {report['load_before']:.1f} before, {report['load_after']:.1f} after "
             f"(numbers on a shared machine move with it).", "",
             f"Precision `{report['precision_requested']}` resolves to **{report['precision']}** here: "
             f"{report['precision_reason']}. {'Quick sizes. ' if report['quick'] else ''}"
             f"{report['seconds']:.0f} s in all.", ""]
    for name, section in report["sections"].items():
        lines += [f"## {name}", "", f"{section['note']} ({section['seconds']:.0f} s)", ""]
        if section.get("error"):
            lines += [f"**failed**: `{section['error']}`", ""]
            continue
        if not section["rows"]:
            continue
        cols = COLUMNS[name]
        lines += ["| " + " | ".join(h for h, _, _ in cols) + " |",
                  "|" + "".join(" --- |" if f == "s" else " ---: |" for _, _, f in cols)]
        lines += ["| " + " | ".join(_cell(r.get(k), f) for _, k, f in cols) + " |" for r in section["rows"]]
        lines.append("")
    return "\n".join(lines)


# One bar chart per section: (row label, value, axis label).
PLOTS: dict[str, tuple[Callable[[dict], str], str, str]] = {
    "matmul": (lambda r: f"{r['dtype']} {r['size']}", "gflops", "GFLOP/s"),
    "train": (lambda r: r["precision"], "samples_per_s", "samples/s"),
    "heads": (lambda r: f"{r['backbone']} {r['head']}", "ms_per_step", "ms / control step"),
    "env": (lambda r: r["variant"], "steps_per_s", "steps/s"),
    "collect": (lambda r: f"{r['env']} x{r['workers']}", "episodes_per_min", "episodes/min"),
    "eval": (lambda r: f"{r['workers']} worker(s)", "episodes_per_min", "episodes/min"),
    "sft": (lambda r: r["batching"], "real_tokens_per_s", "real tokens/s"),
    "startup": (lambda r: r["phase"], "seconds", "seconds"),
}


def plot(report: dict, path: Path) -> None:
    """A grid of horizontal bar charts, one per section with rows (startup: weights vs the rest, stacked)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sections = [(n, s) for n, s in report["sections"].items() if s.get("rows")]
    if not sections:
        return
    cols = min(3, len(sections))
    rows = (len(sections) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(6 * cols, 3.2 * rows), squeeze=False)
    for ax, (name, section) in zip(axes.flat, sections, strict=False):
        label, key, unit = PLOTS[name]
        labels = [label(r) for r in section["rows"]]
        if name == "startup":
            # The weights' part is timed on its own, so noise can make it exceed its phase: draw at most the phase.
            weights = [min(r["weights_seconds"], r["seconds"]) for r in section["rows"]]
            ax.barh(labels, weights, label="weights")
            ax.barh(labels, [r["seconds"] - w for r, w in zip(section["rows"], weights, strict=True)], left=weights,
                    label="beyond weights")
            ax.legend(fontsize=7)
        else:
            ax.barh(labels, [r[key] for r in section["rows"]])
        ax.set_title(name)
        ax.set_xlabel(unit)
        ax.tick_params(axis="y", labelsize=7)
        ax.invert_yaxis()
    for ax in list(axes.flat)[len(sections):]:
        ax.axis("off")
    fig.suptitle(f"{report['machine']['cpu_model']}, {report['machine']['torch_threads']} threads, "
                 f"{report['precision']}", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def run_report(sections: list[str], sizes: Sizes, precision: str) -> dict:
    """Runs ``sections`` in order; a section that fails is recorded with its error and the others still run."""
    chosen = resolve_precision(precision, "cpu")
    report: dict[str, Any] = {"machine": machine_info(), "precision_requested": precision, "precision": chosen.name,
                              "precision_reason": chosen.reason, "quick": sizes == Sizes.quick(),
                              "sizes": asdict(sizes), "load_before": os.getloadavg()[0], "sections": {}}
    ctx = Context(sizes, precision, {})
    start = time.perf_counter()
    bar = tqdm(sections, desc="report", unit="section")
    for name in bar:
        bar.set_postfix_str(name)
        t0 = time.perf_counter()
        try:
            section = RUNNERS[name](ctx)
        except Exception as err:  # noqa: BLE001 - recorded in the report and the exit status, not swallowed
            logger.error("section %s failed:\n%s", name, traceback.format_exc())
            section = {"rows": [], "note": "failed", "error": f"{type(err).__name__}: {err}"}
        section["seconds"] = time.perf_counter() - t0
        report["sections"][name] = section
        logger.info("section %s: %.1f s", name, section["seconds"])
    report["seconds"] = time.perf_counter() - start
    report["load_after"] = os.getloadavg()[0]
    return report


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small sizes: the whole report in about 5 minutes")
    parser.add_argument("--only", default=None, help=f"comma-separated sections, from {','.join(SECTIONS)}")
    parser.add_argument("--precision", choices=PRECISIONS, default="auto",
                        help="auto: bf16 only where the hardware runs it natively (vst_vla.precision)")
    parser.add_argument("--out-dir", default="outputs/benchmarks")
    args = parser.parse_args(argv)
    args.sections = list(SECTIONS) if args.only is None else [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = sorted(set(args.sections) - set(SECTIONS))
    if unknown:
        parser.error(f"unknown sections {unknown}; choose from {','.join(SECTIONS)}")
    args.sections = [s for s in SECTIONS if s in args.sections]
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    report = run_report(args.sections, Sizes.quick() if args.quick else Sizes(), args.precision)
    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.json").write_text(json.dumps(report, indent=2, default=str) + "\n")
    text = markdown(report)
    (out / "report.md").write_text(text + "\n")
    plot(report, out / "report.png")
    print(text)
    print(f"\nwrote {out / 'report.md'}, {out / 'report.json'}, {out / 'report.png'}")
    return 1 if any(s.get("error") for s in report["sections"].values()) else 0


if __name__ == "__main__":
    sys.exit(main())

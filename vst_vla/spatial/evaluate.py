"""``python -m vst_vla.spatial.evaluate``: per-skill spatial accuracy of a VLM checkpoint on a QA file.

    python -m vst_vla.spatial.evaluate --model outputs/train/sft_spatial/checkpoints/last/pretrained_model \\
        --data outputs/spatial/eval.parquet [--think] [--skills left_right ...] [--max-samples 400] \\
        [--out outputs/spatial_eval]

Choice questions score by letter match, numbers by MRA, boxes by Hungarian-matched 3D IoU with AP at 0.15 / 0.25.
Writes ``skills.md`` (table with chance per skill) and ``skills.png`` (bar plot) into ``--out``.
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

import vst_vla  # noqa: F401

from vst_vla.sft.chat import DEFAULT_SYSTEM_PROMPT, THINK_SYSTEM_PROMPT
from vst_vla.sft.model import SpatialVLM
from vst_vla.spatial.formats import read_samples
from vst_vla.spatial.report import chance_by_skill, write_skill_report
from vst_vla.stages.sft import evaluate_vlm, select_skills


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="a Hugging Face Qwen2.5-VL directory (e.g. an SFT checkpoint)")
    parser.add_argument("--data", required=True, help="VST parquet or LLaVA JSON file")
    parser.add_argument("--image-root", default=None)
    parser.add_argument("--think", action="store_true", help="use the think (CoT) system prompt")
    parser.add_argument("--skills", nargs="+", default=None, metavar="SKILL", help="score these skills only")
    parser.add_argument("--max-samples", type=int, default=400)
    parser.add_argument("--max-new-tokens", type=int, default=48)
    parser.add_argument("--fp32", action="store_true", help="disable bf16 autocast")
    parser.add_argument("--out", default="outputs/spatial_eval")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO)
    vlm = SpatialVLM.from_pretrained(args.model)
    samples = list(read_samples(args.data, args.image_root))
    if args.skills:
        samples = select_skills(samples, tuple(args.skills), args.data)
    prompt = THINK_SYSTEM_PROMPT if args.think else DEFAULT_SYSTEM_PROMPT
    scores = evaluate_vlm(vlm, samples, prompt, args.max_new_tokens, args.max_samples, not args.fp32)
    summary = {"model": args.model, "data": args.data, "after": scores, "chance": chance_by_skill(samples)}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "scores.json").write_text(json.dumps(summary, indent=2))
    print(write_skill_report(summary, out))
    return summary


if __name__ == "__main__":
    main()

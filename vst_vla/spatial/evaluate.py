"""``python -m vst_vla.spatial.evaluate``: per-skill spatial accuracy of a VLM checkpoint on a QA file.

    python -m vst_vla.spatial.evaluate --model outputs/train/sft_spatial/checkpoints/last/pretrained_model \\
        --data outputs/spatial/eval.parquet [--think] [--skills left_right ...] [--max-samples 400] \\
        [--prior-data outputs/spatial/train.parquet] [--no-ablations] [--out outputs/spatial_eval]

Choice questions score by letter match, numbers by MRA, boxes by Hungarian-matched 3D IoU with AP at 0.15 / 0.25.
Every question is answered three times: with its images, with blank (mid-grey) images and with another scene's
images (:mod:`vst_vla.spatial.ablation`); ``--no-ablations`` keeps the first only (a third of the time). The
blind prior (:mod:`vst_vla.spatial.prior`) is fitted on ``--prior-data`` (the training split); without it, on the
evaluated file itself, which the report labels as optimistic.
Writes ``scores.json``, ``skills.md`` (real / blank / shuffled / chance / prior / image gain with its 95% interval
per skill) and ``skills.png`` (bar plot) into ``--out``.
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

import vst_vla  # noqa: F401

from vst_vla.precision import PRECISIONS, apply_precision
from vst_vla.sft.chat import DEFAULT_SYSTEM_PROMPT, THINK_SYSTEM_PROMPT
from vst_vla.sft.model import SpatialVLM
from vst_vla.spatial.ablation import IMAGE_ABLATIONS
from vst_vla.spatial.formats import read_samples
from vst_vla.spatial.prior import blind_prior_by_skill
from vst_vla.spatial.report import chance_by_skill, write_skill_report
from vst_vla.stages.sft import evaluate_vlm_with_ablations, select_skills

PRIOR_ON_EVAL = "the evaluated file itself (optimistic: fitted on the questions it is scored on; pass --prior-data)"


def first_per_skill(samples: list, n: int) -> list:
    """The first ``n`` samples of every skill, in file order (so rare skills keep all theirs)."""
    if n < 1:
        raise ValueError(f"--max-per-skill must be >= 1, got {n}")
    kept: dict[str, int] = {}
    out = []
    for sample in samples:
        skill = sample.meta_info.get("skill")
        if kept.get(skill, 0) < n:
            kept[skill] = kept.get(skill, 0) + 1
            out.append(sample)
    return out


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="a Hugging Face Qwen2.5-VL directory (e.g. an SFT checkpoint)")
    parser.add_argument("--data", required=True, help="VST parquet or LLaVA JSON file")
    parser.add_argument("--image-root", default=None)
    parser.add_argument("--think", action="store_true", help="use the think (CoT) system prompt")
    parser.add_argument("--skills", nargs="+", default=None, metavar="SKILL", help="score these skills only")
    parser.add_argument("--max-samples", type=int, default=400)
    parser.add_argument("--max-per-skill", type=int, default=None, metavar="N",
                        help="keep the first N questions of each skill (in file order) before --max-samples")
    parser.add_argument("--max-new-tokens", type=int, default=48)
    parser.add_argument("--precision", choices=PRECISIONS, default="auto",
                        help="auto: bf16 autocast only on native-bf16 hardware (default); bf16 or fp32 to force")
    parser.add_argument("--no-ablations", action="store_true",
                        help="skip the blank / shuffled image runs (no image gain; a third of the time)")
    parser.add_argument("--prior-data", default=None,
                        help="training split (parquet / JSON) to fit the blind prior on; default: the --data file")
    parser.add_argument("--out", default="outputs/spatial_eval")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO)
    vlm = SpatialVLM.from_pretrained(args.model)
    precision = apply_precision(vlm, args.precision, vlm.device)
    samples = list(read_samples(args.data, args.image_root))
    if args.skills:
        samples = select_skills(samples, tuple(args.skills), args.data)
    if args.max_per_skill is not None:
        samples = first_per_skill(samples, args.max_per_skill)
    prompt = THINK_SYSTEM_PROMPT if args.think else DEFAULT_SYSTEM_PROMPT
    ablations = () if args.no_ablations else IMAGE_ABLATIONS
    scored = evaluate_vlm_with_ablations(vlm, samples, prompt, args.max_new_tokens, args.max_samples, ablations)
    prior_samples = list(read_samples(args.prior_data, args.image_root)) if args.prior_data else samples
    summary = {"model": args.model, "data": args.data, **scored, "chance": chance_by_skill(samples),
               "prior": blind_prior_by_skill(prior_samples, samples[: args.max_samples]),
               "prior_fit": f"the training split ({args.prior_data})" if args.prior_data else PRIOR_ON_EVAL,
               **precision.as_dict()}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "scores.json").write_text(json.dumps(summary, indent=2))
    print(write_skill_report(summary, out))
    return summary


if __name__ == "__main__":
    main()

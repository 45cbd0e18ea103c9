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

from vst_vla.errors import ConfigError, exit_on_user_error
from vst_vla.io import check_writable_destination
from vst_vla.precision import PRECISIONS, apply_precision
from vst_vla.sft.chat import DEFAULT_SYSTEM_PROMPT, THINK_SYSTEM_PROMPT
from vst_vla.sft.model import SpatialVLM
from vst_vla.spatial.ablation import IMAGE_ABLATIONS
from vst_vla.spatial.formats import read_samples
from vst_vla.spatial.prior import blind_prior_by_skill
from vst_vla.spatial.report import chance_by_skill, write_skill_report
from vst_vla.stages.sft import evaluate_vlm_with_ablations, select_skills
from vst_vla.vlm.backbone import check_pretrained_dir

PRIOR_ON_EVAL = "the evaluated file itself (optimistic: fitted on the questions it is scored on; pass --prior-data)"


def first_per_skill(samples: list, n: int) -> list:
    """The first ``n`` samples of every skill, in file order (so rare skills keep all theirs)."""
    if n < 1:
        raise ConfigError(f"--max-per-skill must be >= 1, got {n}")
    kept: dict[str, int] = {}
    out = []
    for sample in samples:
        skill = sample.meta_info.get("skill")
        if kept.get(skill, 0) < n:
            kept[skill] = kept.get(skill, 0) + 1
            out.append(sample)
    return out


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__,
        epilog="example:\n"
        "  python -m vst_vla.spatial.evaluate --model outputs/train/sft_spatial/checkpoints/last/pretrained_model \\\n"
        "      --data outputs/spatial/eval.parquet --prior-data outputs/spatial/train.parquet --max-samples 100",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
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
    return parser.parse_args(argv)


def read_questions(path: str, image_root: str | None, what: str) -> list:
    """The samples of a QA file, refusing an empty one (its scores, table and plot would be empty)."""
    samples = list(read_samples(path, image_root))
    if not samples:
        raise ConfigError(f"{what} {path} holds no samples; expected a VST parquet or LLaVA JSON file with questions")
    return samples


def run(args: argparse.Namespace) -> dict:
    """Score the model the arguments name; everything the user gave is checked before the model loads."""
    for name in ("max_samples", "max_new_tokens"):
        if getattr(args, name) < 1:
            raise ConfigError(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}")
    check_pretrained_dir(args.model, "--model")
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {args.out!r} is a file; expected a directory for scores.json, skills.md and "
                          "skills.png")
    check_writable_destination(out, "--out")
    samples = read_questions(args.data, args.image_root, "--data")
    if args.skills:
        samples = select_skills(samples, tuple(args.skills), args.data, field="--skills")
    if args.max_per_skill is not None:
        samples = first_per_skill(samples, args.max_per_skill)
    prior_samples = read_questions(args.prior_data, args.image_root, "--prior-data") if args.prior_data else samples
    vlm = SpatialVLM.from_pretrained(args.model)
    precision = apply_precision(vlm, args.precision, vlm.device)
    prompt = THINK_SYSTEM_PROMPT if args.think else DEFAULT_SYSTEM_PROMPT
    ablations = () if args.no_ablations else IMAGE_ABLATIONS
    scored = evaluate_vlm_with_ablations(vlm, samples, prompt, args.max_new_tokens, args.max_samples, ablations)
    summary = {"model": args.model, "data": args.data, **scored, "chance": chance_by_skill(samples),
               "prior": blind_prior_by_skill(prior_samples, samples[: args.max_samples]),
               "prior_fit": f"the training split ({args.prior_data})" if args.prior_data else PRIOR_ON_EVAL,
               **precision.as_dict()}
    out.mkdir(parents=True, exist_ok=True)
    (out / "scores.json").write_text(json.dumps(summary, indent=2))
    print(write_skill_report(summary, out))
    return summary


def main(argv: list[str] | None = None) -> dict:
    """The CLI: parse, score, write; bad input ends in one ``error:`` line and exit status 2."""
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO)
    with exit_on_user_error():
        return run(args)


if __name__ == "__main__":
    main()

"""Where a reasoned left_right (or closer_object) answer goes wrong: each step of the model's own reasoning, scored on
its own.

    python experiments/perception/reasoning_steps.py outputs/train/sft_lr_reason/checkpoints/last/pretrained_model \
        outputs/spatial/inv_eval100_reason.parquet --out experiments/perception/results/engine/sft_lr_reason_steps.json

The engine's left_right reasoning is "From left to right: <list, the two named objects marked first / second>.
Asked: <X> <mark>. So <X> is to the <side> of <Y>. The answer is <letter> (<option>)." (files made before the
marks and the "Asked" step parse too). Each held-out question is answered greedily with the real image, and the
answer is split into its steps: is the list right, does it hold both named objects in the right order, are the
marks where the list puts them, is the restated mark the subject's own, does the side claimed follow from the
model's own list, is it the true side, and does the letter follow from the claim. A model can
fail at the image (the list) or at the text (reading the side off its list, or the letter off the options), and
the two need different levers. closer_object (``--skill closer_object``) reasons the same way along depth: "From
nearest to farthest: ...", and "So <X> is closer / farther than <Y>."; its letter follows the claim through the
option that names the object the question asks for. closest_to_robot (``--skill closest_to_robot``) lists all the
cubes from nearest the robot to farthest and names the end the question asks for (:func:`score_ends`);
depth_order_points (``--skill depth_order_points``) does the same with the two marked points and the camera;
multiview_object_relation (``--skill multiview_object_relation``) lists each image in turn (:func:`score_views`).
"""

from __future__ import annotations

import argparse
import json
import re
from dataclasses import dataclass
from pathlib import Path

import torch

from vst_vla.precision import autocast_context, resolve_precision
from vst_vla.rl.rewards import choice_letter, extract_answer
from vst_vla.sft.chat import DEFAULT_SYSTEM_PROMPT
from vst_vla.sft.generation import generate_answers
from vst_vla.spatial.formats import read_samples
from vst_vla.vlm.backbone import BackboneConfig, build_backbone

ASKED = re.compile(r"Asked: (.+?) (first|second)\.")
MARK = re.compile(r" (first|second)$")
OPTION_LINE = re.compile(r"^([A-Z])\. (.*)$", re.MULTILINE)
SIDE_TO_VALUE = {"left_right": {"left": "left", "right": "right"}, "yes_no": {"left": "yes", "right": "no"}}


@dataclass(frozen=True)
class Form:
    """How one skill's reasoning reads: its list, its claim (the question's phrases, "the" dropped) and which claim
    word the subject's "first" and "second" marks give."""

    list: re.Pattern
    claim: re.Pattern
    first: str
    second: str


FORMS = {
    "left_right": Form(re.compile(r"From left to right: (.*?)\."),
                       re.compile(r"So the (.+?) is to the (left|right) of the (.+?)\."), "left", "right"),
    "closer_object": Form(re.compile(r"From nearest to farthest: (.*?)\."),
                          re.compile(r"So the (.+?) is (closer|farther) than the (.+?)\."), "closer", "farther"),
}


def parse(text: str, form: Form = FORMS["left_right"]) -> dict:
    """The list (marks stripped), its marks, the restated ``(subject, mark)``, the claim ``(subject, side,
    reference)`` and the letter of one reasoned answer (None where absent)."""
    listed, asked, claim = form.list.search(text), ASKED.search(text), form.claim.search(text)
    items = listed.group(1).split(", ") if listed else None
    return {"list": [MARK.sub("", item) for item in items] if items else None,
            "marks": {MARK.sub("", i): MARK.search(i).group(1) for i in items if MARK.search(i)} if items else None,
            "asked": asked.groups() if asked else None,
            "claim": claim.groups() if claim else None,
            "letter": choice_letter(extract_answer(text))}


def claimed_letter(meta: dict, question: str, claim: tuple[str, str, str]) -> str | None:
    """The letter the claim ``(subject, word, reference)`` gives: left_right through its option values; closer_object
    through the option that names the object the question asks for (the subject when the claim's word is the
    question's relation)."""
    subject, word, reference = claim
    if meta["skill"] == "left_right":
        by_value = {v: k for k, v in meta["options"].items()}
        return by_value.get(SIDE_TO_VALUE[meta["query"]["form"]][word])
    wanted = subject if word == meta["query"]["relation"] else reference
    return {text.lower(): letter for letter, text in OPTION_LINE.findall(question)}.get(f"the {wanted}")


def score(reference: str, generated: str, meta: dict, question: str = "") -> dict[str, bool | None]:
    """Each step of ``generated`` against the reference answer and against the model's own earlier steps."""
    form = FORMS[meta.get("skill", "left_right")]
    ref, got = parse(reference, form), parse(generated, form)
    subject_phrase, true_word, other_phrase = ref["claim"]
    subject, other = subject_phrase, other_phrase  # how the list names them: the claim's words, or (marked) shorter
    if ref["asked"]:
        subject = ref["asked"][0]
        other = next(name for name in ref["marks"] if name != subject)
    steps: dict[str, bool | None] = {"list_exact": got["list"] == ref["list"]}
    listed = got["list"] or []
    both = subject in listed and other in listed
    steps["list_has_both"] = both
    list_word = (form.first if listed.index(subject) < listed.index(other) else form.second) if both else None
    steps["list_order_right"] = list_word == true_word if both else False
    if ref["marks"]:  # the marked format: marks as the model's own list orders the two, then the subject's restated
        want = dict(zip([n for n in listed if n in (subject, other)], ("first", "second"), strict=False))
        steps["marks_follow_list"] = (got["marks"] == want) if both else None
        own = (got["marks"] or {}).get(subject)
        steps["asked_follows_marks"] = (got["asked"] == (subject, own)) if own else None
    claim = got["claim"]
    claim_word = claim[1] if claim and claim[0] == subject_phrase and claim[2] == other_phrase else None
    steps["claim_follows_list"] = (claim_word == list_word) if both and claim_word else None
    if ref["asked"]:
        asked_word = {"first": form.first, "second": form.second}[got["asked"][1]] if got["asked"] else None
        steps["claim_follows_asked"] = (claim_word == asked_word) if asked_word and claim_word else None
    steps["claim_right"] = claim_word == true_word
    letter = claimed_letter(meta, question, (subject_phrase, claim_word, other_phrase)) if claim_word else None
    steps["letter_follows_claim"] = (got["letter"] == letter) if letter else None
    steps["letter_right"] = got["letter"] == meta["ground_truth"]
    return steps


@dataclass(frozen=True)
class EndsForm:
    """How a skill that names one end of an ordered list reasons: its list, its claim, the relation whose answer
    is the list's first item, and the article the options put before a claimed name."""

    list: re.Pattern
    claim: re.Pattern
    first_end: str
    article: str


ENDS_FORMS = {
    "closest_to_robot": EndsForm(re.compile(r"From nearest the robot to farthest: (.*?)\."),
                                 re.compile(r"So the (.+?) is (closest to|farthest from) the robot\."), "closest",
                                 "the "),
    "depth_order_points": EndsForm(re.compile(r"From nearest to farthest: (.*?)\."),
                                   re.compile(r"So (point \d+) is (closer to|farther from) the camera\."), "closer",
                                   ""),
}


def score_ends(reference: str, generated: str, meta: dict, question: str) -> dict[str, bool | None]:
    """The steps of a skill that lists every item in order and names the end the question asks for
    (closest_to_robot: the cubes from nearest the robot to farthest; depth_order_points: the marked points from
    nearest the camera to farthest), then the letter of the option that names it (a lookup by content)."""
    form = ENDS_FORMS[meta["skill"]]

    def listed(text: str) -> list[str] | None:
        found = form.list.search(text)
        return found.group(1).split(", ") if found else None

    ref_list, got_list, got_claim = listed(reference), listed(generated), form.claim.search(generated)
    end = 0 if meta["query"]["relation"] == form.first_end else -1
    true_phrase = form.claim.search(reference).group(1)
    claimed = got_claim.group(1) if got_claim else None
    # The list names a cube by its colour (or colour and shape when colours repeat); the claim by its phrase.
    names = lambda phrase, name: phrase == name or phrase.startswith(f"{name} ")  # noqa: E731
    steps: dict[str, bool | None] = {"list_exact": got_list == ref_list,
                                     "list_end_right": bool(got_list) and names(true_phrase, got_list[end])}
    steps["claim_follows_list"] = names(claimed, got_list[end]) if claimed and got_list else None
    steps["claim_right"] = claimed == true_phrase
    letter = ({text.lower(): k for k, text in OPTION_LINE.findall(question)}.get(f"{form.article}{claimed}")
              if claimed else None)
    steps["letter_follows_claim"] = (choice_letter(extract_answer(generated)) == letter) if letter else None
    steps["letter_right"] = choice_letter(extract_answer(generated)) == meta["ground_truth"]
    return steps


VIEW_LIST = re.compile(r"Image (\d), from (?:left to right|nearest to farthest): (.*?)\.")
VIEW_ASKED = re.compile(r"Asked: (.+?) (first|second) in image 1, (first|second) in image 2\.")
VIEW_CLAIM = re.compile(r"So only image (\d) shows ")


def score_views(reference: str, generated: str, meta: dict, question: str) -> dict[str, bool | None]:
    """multiview_object_relation's steps, per question form (``form0``: which camera is closer, stated as
    distances; ``form1`` / ``form2``: left-of / nearer-than, each image's marked list, the subject's mark in each,
    then the image where it comes first), and the letter."""
    form = meta["query"]["form"]
    letter_right = choice_letter(extract_answer(generated)) == meta["ground_truth"]
    steps: dict[str, bool | None] = {f"form{f}_letter_right": (letter_right if f == form else None) for f in range(3)}
    steps["letter_right"] = letter_right
    if form == 0:
        return steps
    ref_lists, got_lists = dict(VIEW_LIST.findall(reference)), dict(VIEW_LIST.findall(generated))
    subject = VIEW_ASKED.search(reference).group(1)
    ref_marks = VIEW_ASKED.search(reference).groups()[1:]
    steps["lists_exact"] = got_lists == ref_lists
    own_marks = []
    for image in ("1", "2"):
        items = got_lists.get(image, "").split(", ")
        own = next((i.rsplit(" ", 1)[1] for i in items if i.startswith(f"{subject} ")
                    and i.endswith((" first", " second"))), None)
        own_marks.append(own)
        steps[f"image{image}_mark_right"] = own == ref_marks[int(image) - 1]
    got_asked, got_claim = VIEW_ASKED.search(generated), VIEW_CLAIM.search(generated)
    asked_marks = got_asked.groups()[1:] if got_asked else None
    steps["asked_follows_lists"] = (asked_marks == tuple(own_marks)) if asked_marks and all(own_marks) else None
    # The image the claim names must be the one whose restated mark is "first"; option A is image 1 (fixed order).
    first_image = str(asked_marks.index("first") + 1) if asked_marks and "first" in asked_marks else None
    steps["claim_follows_asked"] = (got_claim.group(1) == first_image) if got_claim and first_image else None
    claim_letter = "AB"[int(got_claim.group(1)) - 1] if got_claim and got_claim.group(1) in "12" else None
    steps["letter_follows_claim"] = (choice_letter(extract_answer(generated)) == claim_letter) if claim_letter \
        else None
    return steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", help="a Hugging Face Qwen2.5-VL directory")
    parser.add_argument("data", help="a QA file whose left_right answers reason (canonical_options.py --reason)")
    parser.add_argument("--max-new-tokens", type=int, default=128, help="multiview answers run to ~115 tokens")
    parser.add_argument("--skill", choices=sorted([*FORMS, *ENDS_FORMS, "multiview_object_relation"]),
                        default="left_right", help="which skill's answers to score")
    parser.add_argument("--limit", type=int, default=None, help="score only the first N questions of that skill")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    model, processor = build_backbone(BackboneConfig(pretrained_path=args.model))
    model.eval()
    samples = [s for s in read_samples(args.data) if s.meta_info["skill"] == args.skill][: args.limit]
    ctx = autocast_context("cpu", resolve_precision("auto", "cpu").autocast_dtype)
    with ctx, torch.no_grad():
        answers = generate_answers(model, processor, samples, DEFAULT_SYSTEM_PROMPT, max_new_tokens=args.max_new_tokens)
    scorer = (score_ends if args.skill in ENDS_FORMS else score_views if args.skill == "multiview_object_relation"
              else score)
    rows = [scorer(s.answer, a, dict(s.meta_info), s.question) for s, a in zip(samples, answers, strict=True)]
    summary = {}
    for key in dict.fromkeys(k for r in rows for k in r):  # every step any answer has, in first-seen order
        judged = [r[key] for r in rows if r.get(key) is not None]
        summary[key] = {"rate": sum(judged) / len(judged) if judged else None, "n": len(judged)}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"model": args.model, "data": args.data, "skill": args.skill, "n": len(rows),
                                    "steps": summary,
                                    "examples": [{"reference": s.answer, "generated": a}
                                                 for s, a in list(zip(samples, answers))[:12]]}, indent=2))
    for key, value in summary.items():
        rate = "-" if value["rate"] is None else f"{value['rate']:.3f}"
        print(f"{key:22s} {rate:>6s}  (n = {value['n']})")


if __name__ == "__main__":
    main()

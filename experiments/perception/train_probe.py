"""Train a stock Qwen2.5-VL (tiny or mini, random init) on one perception probe and record its learning curve.

    python experiments/perception/train_probe.py --probe left_right --steps 1500 --out outputs/perception/lr

A deliberately plain loop (the library's trainer serves the stages; this isolates the model): fresh synthetic
samples every step, the loss on the answer letter only, AdamW with three learning rates (language model, vision
tower, and the vision-language merger), fp32 unless ``--precision`` says otherwise. Every ``--eval-every``
steps it scores a fixed held-out set by the answer-letter logits (argmax over the options' letters), with the
image as drawn and with a blank image, so the curve shows whether the image is what the model uses. With
``--reason`` the answer is ``<think>step</think> letter``, trained on all its tokens and scored on greedy
generations (the letter read after the model's own step, and how often the step is exact).
Writes ``args.json``, ``curve.jsonl`` (one row per evaluation) and, at the end, ``result.json``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import re
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from vst_vla.precision import PRECISIONS, autocast_context, resolve_precision
from vst_vla.rl.rewards import choice_letter, extract_answer
from vst_vla.sft.cot import think_answer
from vst_vla.spatial.engine.base import choice_text, conclusion
from vst_vla.spatial.engine.depth import CloserObject, DepthOrderPoints, nearer_steps, point_order_steps
from vst_vla.spatial.engine.relation import LeftRight, left_right_steps
from vst_vla.spatial.probes import PROBES, ProbeSample, sample_batch
from vst_vla.vlm.backbone import BackboneConfig, build_backbone

PRESETS = {
    "tiny": BackboneConfig(),
    "mini": BackboneConfig(hidden_size=256, num_layers=4, num_heads=8, num_kv_heads=4, intermediate_size=768,
                           vision_depth=4, vision_hidden_size=128, vision_num_heads=4),
}


FILLER = ("please", "look", "at", "this", "picture", "carefully", "and", "then", "answer", "the", "question", "below")


def jitter(question: str, rng: np.random.Generator, max_words: int) -> str:
    """``question`` after a preface of 0..``max_words`` filler words, so the text between the image and the answer
    varies in length as the engine's questions do (object phrases and templates differ in length)."""
    n = int(rng.integers(max_words + 1))
    return (" ".join(rng.choice(FILLER, n)) + "\n" if n else "") + question


def shuffle_options(sample: ProbeSample, rng: np.random.Generator) -> ProbeSample:
    """``sample`` with its two options in random order (the letter follows its option), as the engine's questions
    shuffle theirs: the model must then read which letter names the answer, not only the answer."""
    if sample.n_options != 2 or rng.integers(2) == 0:
        return sample
    lines = sample.question.splitlines()
    first, second = lines[1].split(". ", 1)[1], lines[2].split(". ", 1)[1]
    lines[1], lines[2] = f"A. {second}", f"B. {first}"
    return dataclasses.replace(sample, question="\n".join(lines), letter="B" if sample.letter == "A" else "A")


def encode(processor, samples: list[ProbeSample], blank: bool = False, image_last: bool = False) -> dict:
    """Chat-formatted prompts ending with the assistant header; the answer letter is the next token.

    ``image_last`` puts the image after the question, so a fixed number of tokens separates it from the answer."""
    def content(s: ProbeSample) -> list[dict]:
        parts = [{"type": "image"}, {"type": "text", "text": s.question}]
        return parts[::-1] if image_last else parts

    texts = [processor.apply_chat_template([{"role": "user", "content": content(s)}],
                                           add_generation_prompt=True, tokenize=False) for s in samples]
    images = [Image.new("RGB", s.image.size, (170, 170, 170)) if blank else s.image for s in samples]
    processor.tokenizer.padding_side = "left"  # the answer position is the last one in every row
    batch = processor(images=images, text=texts, padding=True, return_tensors="pt")
    letters = processor.tokenizer.convert_tokens_to_ids([s.letter for s in samples])
    batch["targets"] = torch.tensor(letters)
    return batch


DESCRIBE = {
    "full": "Describe every square: how many, then each one's colour, size, column and row, left to right.",
    "colours": "Name the colours of the squares, in alphabetical order.",
    "left_to_right": "Name the colours of the squares, from left to right.",
}


def colour_caption(sample: ProbeSample, order: str = "colours") -> str:
    """The colours in ``sample``'s dense caption, sorted by name (``colours``: a caption that needs no position,
    only the colour words bound to what the image shows) or from left to right (``left_to_right``: the dense
    caption's own order)."""
    names = [part.split()[0] for part in sample.description.split(": ", 1)[1].split(", ")]
    return ", ".join(sorted(names) if order == "colours" else names)


def encode_answered(processor, samples: list[ProbeSample], questions: list[str], answers: list[str],
                    image_last: bool = False) -> dict:
    """Prompt + answer + <|im_end|>, left padded; ``labels`` cover the answer and the end token."""
    def content(question: str) -> list[dict]:
        parts = [{"type": "image"}, {"type": "text", "text": question}]
        return parts[::-1] if image_last else parts

    prompts = [processor.apply_chat_template([{"role": "user", "content": content(q)}], add_generation_prompt=True,
                                             tokenize=False) + a + "<|im_end|>" for q, a in zip(questions, answers)]
    processor.tokenizer.padding_side = "left"
    batch = processor(images=[s.image for s in samples], text=prompts, padding=True, return_tensors="pt")
    labels = torch.full_like(batch["input_ids"], -100)
    for row, answer in enumerate(answers):
        n = len(processor.tokenizer(answer + "<|im_end|>")["input_ids"])
        labels[row, -n:] = batch["input_ids"][row, -n:]
    batch["labels"] = labels
    return batch


def encode_described(processor, samples: list[ProbeSample], caption: str = "full") -> dict:
    """Dense captions of ``samples``' images (the image first, as the captions were run).

    ``caption``: ``full`` (count, then every square's colour, size, column and row), ``colours`` (the colours
    only, alphabetically) or ``left_to_right`` (the colours from left to right)."""
    texts = [s.description if caption == "full" else colour_caption(s, caption) for s in samples]
    return encode_answered(processor, samples, [DESCRIBE[caption]] * len(samples), texts)


REASONING_STYLES = ("order", "numbered", "marked", "marked_pair", "restated", "engine")
SQUARE_PHRASE = re.compile(r"the (\w+) square")
OPTION_LINE = re.compile(r"^([A-Z])\. (.*)$", re.MULTILINE)


def engine_form(sample: ProbeSample, rng: np.random.Generator) -> ProbeSample:
    """A relation question rewritten in the engine's form, so the probe's text is what the engine's questions say
    about squares on a grey canvas instead of rendered objects (the curriculum lever: the engine's reasoning format
    learned on cheap fresh images, then carried to the rendered scenes).

    ``relation_crowd`` becomes ``left_right``: one of its three stems (two ask left or right, one asks yes or no),
    its closing instructions, and its options in the fixed order of ``canonical_options.py`` (sorted by text).
    ``depth_crowd`` becomes ``closer_object``: one of its stems (two ask for the closer square, one for the
    farther), the two squares as options in the order the stem names them, as the engine writes them.
    ``points_crowd`` becomes ``depth_order_points``: one of its stems, options "point 1" and "point 2" (lower case,
    as the engine writes them)."""
    if sample.kind == "points_crowd":
        template = int(rng.integers(len(DepthOrderPoints.STEMS)))
        wanted = sample.near_to_far[-1 if template == 2 else 0]  # template 2 asks for the farther point
        return dataclasses.replace(sample, letter="A" if wanted == "1" else "B", question=choice_text(
            DepthOrderPoints.STEMS[template], ["point 1", "point 2"], template))
    subject, reference = named_colours(sample)
    if sample.near_to_far:
        template = int(rng.integers(len(CloserObject.STEMS)))
        stem = CloserObject.STEMS[template].format(f"the {subject} square", f"the {reference} square")
        subject_near = sample.letter == "A"
        subject_right = subject_near == (template != 2)  # template 2 asks for the farther one
        return dataclasses.replace(sample, letter="A" if subject_right else "B", question=choice_text(
            stem, [f"The {subject} square", f"The {reference} square"], template))
    template = int(rng.integers(len(LeftRight.STEMS)))
    stem = LeftRight.STEMS[template].format(f"the {subject} square", f"the {reference} square")
    subject_left = sample.letter == "A"
    options = ["No", "Yes"] if template == 2 else ["Left", "Right"]
    wanted = ("Yes" if subject_left else "No") if template == 2 else ("Left" if subject_left else "Right")
    return dataclasses.replace(sample, question=choice_text(stem, options, template),
                               letter=chr(65 + options.index(wanted)))


def named_colours(sample: ProbeSample) -> tuple[str, str]:
    """The two colours a relation question names, in question order (the probe's own or the engine's form)."""
    first, second = SQUARE_PHRASE.findall(sample.question)[:2]
    return first, second


def reasoning_step(sample: ProbeSample, style: str) -> str:
    """The reasoning step before the letter, a caption of the image alone plus (``numbered``, ``marked``) what the
    question's words pick out of it.

    ``order``: the squares' colours from left to right ("green, red, blue"). ``numbered``: the same list with each
    colour's place, then the places of the two colours the question names ("green 1, red 2, blue 3. red 2, blue
    3"): each place is copied from the list next to its colour (an induction-head lookup), and the letter follows
    from two numbers instead of from where two words sit in a longer list. ``marked``: the list with the two named
    colours marked in the order met ("green, red first, blue second"): each mark needs only whether a "first" was
    already written (content, not position), and the letter only the mark after the question's first colour.
    ``marked_pair``: that, then the two named colours in the order met ("... red first, blue second. red, blue"),
    each copied from next to its mark, so the letter follows from a two-item list as in ``relation_named``.
    ``restated``: the question's first colour, then the marked list, then that colour again with its mark ("red:
    green, red first, blue second. red first"): the first word sits at a fixed distance from the question, every
    later word needs one lookup by content, and the letter reads the word just before it. ``engine``: the engine's
    ``left_right`` reasoning (``left_right_steps``) on a question in the engine's form (:func:`engine_form`), or
    its ``closer_object`` reasoning (``nearer_steps``) on a ``depth_crowd`` question, or its
    ``depth_order_points`` reasoning (``point_order_steps``) on a ``points_crowd`` one."""
    if style == "engine" and sample.kind == "points_crowd":
        options = dict(OPTION_LINE.findall(sample.question))
        relation = "farther" if "farther" in sample.question.splitlines()[0] else "closer"
        asked = options[sample.letter].split()[-1]
        steps = point_order_steps(list(sample.near_to_far), relation, asked)
        return " ".join([*steps, conclusion(sample.letter, options[sample.letter].lower())])
    names = colour_caption(sample, "left_to_right").split(", ")
    if style == "engine":  # the engine's own reasoning, marks and restated mark, then its conclusion
        subject, reference = named_colours(sample)
        options = dict(OPTION_LINE.findall(sample.question))
        steps_of = nearer_steps if sample.near_to_far else left_right_steps
        steps = steps_of(list(sample.near_to_far) or names, subject, reference, f"the {subject} square",
                         f"the {reference} square")
        return " ".join([*steps, conclusion(sample.letter, options[sample.letter].lower())])
    if style == "order":
        return ", ".join(names)
    if style in ("marked", "marked_pair", "restated"):
        named = set(named_colours(sample))
        marks = iter(("first", "second"))
        mark = {n: next(marks) for n in names if n in named}
        marked = ", ".join(f"{n} {mark[n]}" if n in named else n for n in names)
        if style == "marked":
            return marked
        if style == "marked_pair":
            return f"{marked}. {', '.join(n for n in names if n in named)}"
        first = named_colours(sample)[0]
        return f"{first}: {marked}. {first} {mark[first]}"
    if style != "numbered":
        raise ValueError(f"unknown reasoning style {style!r}; expected one of {REASONING_STYLES}")
    place = {name: i + 1 for i, name in enumerate(names)}
    first, second = named_colours(sample)
    return f"{', '.join(f'{n} {place[n]}' for n in names)}. {first} {place[first]}, {second} {place[second]}"


def reasoned(sample: ProbeSample, style: str = "order") -> str:
    """The answer with a reasoning step first (:func:`reasoning_step`), then the letter, which the step and the
    question's words decide without the image."""
    return think_answer(reasoning_step(sample, style), sample.letter)


def caption_loss(model, batch: dict) -> torch.Tensor:
    logits = model(**{k: v for k, v in batch.items() if k != "labels"}, use_cache=False).logits[:, :-1].float()
    return torch.nn.functional.cross_entropy(logits.flatten(0, 1), batch["labels"][:, 1:].flatten(), ignore_index=-100)


def letter_logits(model, batch: dict) -> torch.Tensor:
    inputs = {k: v for k, v in batch.items() if k != "targets"}
    return model(**inputs, use_cache=False, logits_to_keep=1).logits[:, -1]


def param_groups(model, lr: float, vision_lr: float, merger_lr: float) -> list[dict]:
    groups = {"lm": [], "vision": [], "merger": []}
    for name, p in model.named_parameters():
        key = "merger" if ".merger." in name else "vision" if ".visual." in f".{name}" else "lm"
        groups[key].append(p)
    rates = {"lm": lr, "vision": vision_lr, "merger": merger_lr}
    return [{"params": ps, "lr": rates[k], "base_lr": rates[k]} for k, ps in groups.items() if ps]


@torch.no_grad()
def accuracy(model, processor, samples: list[ProbeSample], option_ids: list[int], blank: bool, ctx,
             image_last: bool = False) -> float:
    model.eval()
    correct = 0
    for i in range(0, len(samples), 64):
        chunk = samples[i:i + 64]
        batch = encode(processor, chunk, blank, image_last)
        with ctx:
            logits = letter_logits(model, batch)[:, option_ids[: chunk[0].n_options]]
        correct += int((torch.tensor(option_ids)[logits.argmax(-1)] == batch["targets"]).sum())
    model.train()
    return correct / len(samples)


@torch.no_grad()
def reasoned_accuracy(model, processor, samples: list[ProbeSample], blank: bool, ctx,
                      image_last: bool = False, style: str = "order") -> tuple[float, float]:
    """Greedy answers that reason first: (accuracy of the final letter, exact match of the reasoning step)."""
    model.eval()
    correct = steps = 0
    for i in range(0, len(samples), 64):
        chunk = samples[i:i + 64]
        batch = encode(processor, chunk, blank, image_last)
        batch.pop("targets")
        with ctx:
            out = model.generate(**batch, max_new_tokens=96 if style == "engine" else 48, do_sample=False)
        texts = processor.tokenizer.batch_decode(out[:, batch["input_ids"].shape[1]:], skip_special_tokens=False)
        for s, text in zip(chunk, texts):
            text = text.split("<|im_end|>")[0]
            correct += choice_letter(extract_answer(text)) == s.letter
            steps += text.split("</think>")[0].removeprefix("<think>").strip() == reasoning_step(s, style)
    model.train()
    return correct / len(samples), steps / len(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--probe", nargs="+", choices=PROBES, required=True,
                        help="one probe, or several mixed evenly in every batch (scored per probe)")
    parser.add_argument("--model", choices=sorted(PRESETS), default="tiny")
    parser.add_argument("--rope-theta", type=float, default=1e6)
    parser.add_argument("--image-size", type=int, default=128)
    parser.add_argument("--square", type=int, default=14)
    parser.add_argument("--max-tokens", type=int, default=64, help="image tokens per image (processor max)")
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--vision-lr", type=float, default=1e-3)
    parser.add_argument("--merger-lr", type=float, default=1e-3)
    parser.add_argument("--warmup", type=int, default=50)
    parser.add_argument("--eval-every", type=int, default=100)
    parser.add_argument("--eval-n", type=int, default=256)
    parser.add_argument("--precision", choices=PRECISIONS, default="auto")
    parser.add_argument("--dense-frac", type=float, default=0.0,
                        help="fraction of each batch that are dense captions of the image (the alignment lever)")
    parser.add_argument("--dense-probes", nargs="+", default=None, choices=PROBES,
                        help="draw the captioned images from these probes (default: the trained probe)")
    parser.add_argument("--caption", choices=sorted(DESCRIBE), default="full",
                        help="what the dense captions say: every square's properties, or only the colours")
    parser.add_argument("--question-jitter", type=int, default=0,
                        help="prefix each question with 0..N random filler words (varies the text length)")
    parser.add_argument("--shuffle-options", action="store_true", help="random option order (letter follows)")
    parser.add_argument("--image-last", action="store_true", help="put the image after the question text")
    parser.add_argument("--reason", nargs="?", const="order", default=None, choices=REASONING_STYLES,
                        help="answer with a reasoning step first (reasoning_step says what each style writes): "
                             "<think>colours from left to right</think> letter (order), or that list numbered, "
                             "marked, marked then paired, or marked and restated")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--init", default=None, help="start from this saved model directory (a base to probe)")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    torch.manual_seed(args.seed)
    cfg = PRESETS[args.model]
    cfg = BackboneConfig(**{**cfg.__dict__, "rope_theta": args.rope_theta, "image_max_tokens": args.max_tokens,
                            "pretrained_path": args.init})
    model, processor = build_backbone(cfg)
    precision = resolve_precision(args.precision, "cpu")
    ctx = autocast_context("cpu", precision.autocast_dtype)
    option_ids = processor.tokenizer.convert_tokens_to_ids(["A", "B", "C"])
    rng = np.random.default_rng([args.seed, 0])

    def draw(kind: str, n: int, draw_rng: np.random.Generator) -> list[ProbeSample]:
        samples = sample_batch(kind, draw_rng, n, args.image_size, args.square)
        if args.reason == "engine":
            samples = [engine_form(s, draw_rng) for s in samples]
        if args.shuffle_options:
            samples = [shuffle_options(s, draw_rng) for s in samples]
        if not args.question_jitter:
            return samples
        return [dataclasses.replace(s, question=jitter(s.question, draw_rng, args.question_jitter)) for s in samples]

    held_rng = np.random.default_rng([args.seed, 999_999])
    held_out = {kind: draw(kind, args.eval_n // len(args.probe), held_rng) for kind in args.probe}
    optimizer = torch.optim.AdamW(param_groups(model, args.lr, args.vision_lr, args.merger_lr), betas=(0.9, 0.95),
                                  weight_decay=0.01)
    args.out.mkdir(parents=True, exist_ok=True)
    # The tokenizer's size too: the offline vocabulary has changed (spatial words made single tokens).
    (args.out / "args.json").write_text(json.dumps({**vars(args), "vocab": len(processor.tokenizer)}, indent=2,
                                                   default=str))
    curve_path = args.out / "curve.jsonl"
    curve_path.write_text("")
    started, losses = time.perf_counter(), []
    for step in range(1, args.steps + 1):
        scale = min(1.0, step / args.warmup) * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * step / args.steps)))
        for group in optimizer.param_groups:
            group["lr"] = group["base_lr"] * scale
        n_dense = int(round(args.dense_frac * args.batch))
        n_questions = args.batch - n_dense
        questions = [q for i, kind in enumerate(args.probe)
                     for q in draw(kind, n_questions // len(args.probe) + (i < n_questions % len(args.probe)), rng)]
        if args.reason:
            with ctx:
                loss = caption_loss(model, encode_answered(processor, questions, [q.question for q in questions],
                                                           [reasoned(q, args.reason) for q in questions],
                                                           args.image_last))
        else:
            batch = encode(processor, questions, image_last=args.image_last)
            with ctx:
                logits = letter_logits(model, batch).float()
            loss = torch.nn.functional.cross_entropy(logits, batch["targets"])
        if n_dense:
            kinds = args.dense_probes or args.probe
            described = [s for k in kinds for s in sample_batch(k, rng, -(-n_dense // len(kinds)), args.image_size,
                                                                   args.square)][:n_dense]
            with ctx:
                dense = caption_loss(model, encode_described(processor, described, args.caption))
            loss = (loss * (args.batch - n_dense) + dense * n_dense) / args.batch
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        losses.append(float(loss.detach()))
        if step % args.eval_every == 0 or step == args.steps:
            row = {"step": step, "seconds": round(time.perf_counter() - started, 1),
                   "train_loss": float(np.mean(losses[-args.eval_every:]))}
            for kind, samples in held_out.items():
                suffix = "" if len(held_out) == 1 else f"_{kind}"
                if args.reason:  # scored on generated answers: the reasoning step is the model's own
                    row["acc" + suffix], row["step_exact" + suffix] = reasoned_accuracy(
                        model, processor, samples, False, ctx, args.image_last, args.reason)
                    row["acc_blank" + suffix], _ = reasoned_accuracy(model, processor, samples, True, ctx,
                                                                     args.image_last, args.reason)
                else:
                    row["acc" + suffix] = accuracy(model, processor, samples, option_ids, False, ctx,
                                                   args.image_last)
                    row["acc_blank" + suffix] = accuracy(model, processor, samples, option_ids, True, ctx,
                                                         args.image_last)
            with curve_path.open("a") as f:
                f.write(json.dumps(row) + "\n")
            print(json.dumps(row), flush=True)
    result = {**vars(args), "out": str(args.out), "precision": precision.name, "final": row}
    (args.out / "result.json").write_text(json.dumps(result, indent=2, default=str))
    model.save_pretrained(args.out / "model")
    processor.save_pretrained(args.out / "model")


if __name__ == "__main__":
    main()
